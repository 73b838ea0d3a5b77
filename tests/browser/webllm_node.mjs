// The f16 rig: the unmodified WebLLM engine in Node, on Dawn's WebGPU (npm `webgpu`) over
// Mesa's lavapipe, an adapter WITH shader-f16 on a machine without a GPU (SwiftShader in
// Chromium has none). Same run as the Chromium test page (webllm_run.js).
//
//   node webllm_node.mjs <web/node_modules> <cfg.json> <result.json>
//
// WebLLM is a browser library; before it is imported, Node gets what it reads from a page:
// navigator.gpu and the WebGPU classes, a Cache API (in memory), location (a file: URL, which
// its tokenizer's wasm glue turns into a path), __dirname and createRequire.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

import { runWebLLM } from "./webllm_run.js";

class MemoryCache {
  constructor() { this.entries = new Map(); }
  async match(request) {
    const hit = this.entries.get(String(request.url || request));
    return hit && new Response(hit.body, { status: hit.status, headers: hit.headers });
  }
  async put(request, response) {
    const body = await response.arrayBuffer();
    this.entries.set(String(request.url || request),
      { body, status: response.status, headers: [...response.headers] });
  }
  async add(request) {
    const response = await fetch(request);
    if (!response.ok) throw new TypeError(`Cache.add: HTTP ${response.status} for ${request}`);
    await this.put(request, response);
  }
  async delete(request) { return this.entries.delete(String(request.url || request)); }
  async keys() { return [...this.entries.keys()].map((url) => new Request(url)); }
}

// Every WebGPU validation error of every device WebLLM makes: WebLLM shows them only as
// uncaptured errors and carries on with garbage (a binding above the adapter's limit, say).
function recordUncapturedErrors(globals, sink) {
  const requestDevice = globals.GPUAdapter.prototype.requestDevice;
  globals.GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    device.addEventListener("uncapturederror", (ev) => sink.push(String(ev.error && ev.error.message)));
    return device;
  };
}

function installBrowserGlobals({ create, globals }, webllmIndex, uncaptured) {
  Object.assign(globalThis, globals);
  recordUncapturedErrors(globals, uncaptured);
  const gpu = create([]);
  Object.defineProperty(globalThis, "navigator", { value: { gpu, userAgent: "node" }, configurable: true });
  const stores = new Map();
  globalThis.caches = {
    async open(name) {
      if (!stores.has(name)) stores.set(name, new MemoryCache());
      return stores.get(name);
    },
    async has(name) { return stores.has(name); },
    async delete(name) { return stores.delete(name); },
    async keys() { return [...stores.keys()]; },
  };
  globalThis.location = new URL(pathToFileURL(webllmIndex).href);
  globalThis.__dirname = dirname(webllmIndex);
  globalThis.createRequire = () => createRequire(pathToFileURL(webllmIndex).href);
  return gpu;
}

async function main() {
  const [modules, cfgPath, outPath] = process.argv.slice(2);
  const webllmIndex = join(modules, "@mlc-ai/web-llm/lib/index.js");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  const uncaptured = [];
  const dawn = await import(pathToFileURL(join(modules, "webgpu/index.js")).href);
  const gpu = installBrowserGlobals(dawn, webllmIndex, uncaptured);
  const log = [];
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    console[level] = (...args) => log.push(`console.${level}: ${args.map(String).join(" ")}`);
  }
  let result;
  try {
    const webllm = await import(pathToFileURL(webllmIndex).href);
    result = await runWebLLM(cfg, { webllm, gpu });
  } catch (e) {
    result = { error: `${e.name}: ${e.message}`, failed_stage: "import", error_stack: String(e.stack) };
  }
  result.log = log;
  result.uncaptured_errors = uncaptured;
  writeFileSync(outPath, JSON.stringify(result));
  process.exit(0);  // WebLLM and Dawn keep handles open after unload
}

main();
