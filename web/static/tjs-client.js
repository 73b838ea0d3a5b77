// The transformers.js engine behind the same chat object WebLLM gets in webllm-client.js:
// chat.completions.create (streamed or not), interrupt, resetChat, unload. It runs an ONNX
// build from `webslm build` in a Web Worker (tjs-worker.js), on WebGPU or on WASM.
//
// response_format {type: "json_object", schema} is honoured with our own schema-constrained
// decoding (json-constraint.js), since transformers.js has no grammar engine; the extra
// request field webslm.copy = {text, fields} limits those fields to pieces of the text.

import { canConstrain } from "./json-constraint.js";
import { ortWasmFolder } from "./engine-modules.js";
import { SITE_ROOT } from "./models.js";
import { dtypeFiles } from "./build-cache.js";
import { contextOf } from "./engines.js";
import { startWorker, workerFailure } from "./start-worker.js";

const WORKER_FILE = "./tjs-worker.js";
const startTjsWorker = () => startWorker(
  () => new Worker(new URL("./tjs-worker.js", import.meta.url), { type: "module" }), WORKER_FILE, import.meta.url,
  () => import("./tjs-worker.js").then((m) => m.serveTransformers));

/** transformers.js file reports -> the {stage, label, fraction, loadedBytes, totalBytes} of progress.js. */
function progressTracker(onProgress) {
  const files = new Map();
  return (report) => {
    if (report.status === "ready") { onProgress?.({ stage: "ready", label: "Ready", fraction: 1, text: "ready" }); return; }
    if (!report.file) return;
    const f = files.get(report.file) || { loaded: 0, total: 0 };
    if (report.status === "progress") Object.assign(f, { loaded: report.loaded || 0, total: report.total || f.total });
    if (report.status === "done") f.loaded = f.total;
    files.set(report.file, f);
    let loaded = 0;
    let total = 0;
    for (const v of files.values()) { loaded += v.loaded; total += v.total; }
    onProgress?.({ stage: "download", label: "Downloading the ONNX model", fraction: total ? loaded / total : 0,
      loadedBytes: loaded, totalBytes: total, text: `${report.status} ${report.file}` });
  };
}

/** A JSON schema from an OpenAI-style response_format, or null. */
function schemaOf(format) {
  if (!format || format.type !== "json_object" || !format.schema) return null;
  const schema = typeof format.schema === "string" ? JSON.parse(format.schema) : format.schema;
  if (!canConstrain(schema)) throw new Error("The CPU engine constrains flat JSON objects only (strings, choices, booleans, numbers).");
  return schema;
}

/**
 * Load `plan.build` (an ONNX build summary from api/models.json) with transformers.js.
 * plan: {build, device: "webgpu"|"wasm", dtype, threads, plainWasm}. `base` resolves the
 * build's URL; `wasmFolder` holds onnxruntime-web's WASM files (default: this site's
 * vendor/ort/). Resolves to the chat object.
 */
export async function createTransformersChat(plan, { base, onProgress, wasmFolder = ortWasmFolder(SITE_ROOT) } = {}) {
  const worker = startTjsWorker();
  const modelUrl = new URL(plan.build.url, base).href;
  const interrupt = globalThis.crossOriginIsolated ? new SharedArrayBuffer(4) : null;
  const pending = new Map();
  let nextId = 1;
  let loaded = null;
  const track = progressTracker(onProgress);
  const failed = workerFailure(worker, new URL(WORKER_FILE, import.meta.url).href);

  worker.onmessage = ({ data }) => {
    if (data.type === "progress") return track(data.report);
    if (data.type === "loaded") return loaded?.resolve(data.info);
    const request = pending.get(data.id ?? 0);
    if (!request) {
      if (data.type === "error") loaded?.reject(Object.assign(new Error(data.message), data.detail));
      return;
    }
    if (data.type === "token") request.onToken?.(data.text);
    if (data.type === "done") { pending.delete(data.id); request.resolve(data); }
    if (data.type === "error") { pending.delete(data.id); request.reject(new Error(data.message)); }
  };
  const call = (message, onToken) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject, onToken });
    worker.postMessage({ ...message, id });
  });

  const info = await Promise.race([new Promise((resolve, reject) => {
    loaded = { resolve, reject };
    worker.postMessage({ type: "load", modelUrl, files: plan.build.files, preload: dtypeFiles(plan.build, plan.dtype),
      device: plan.device, dtype: plan.dtype, contextWindow: contextOf(plan),
      threads: plan.threads, wasmFolder, plainWasm: plan.plainWasm, interrupt });
  }), failed]).catch((err) => { worker.terminate(); throw err; });

  const interruptNow = () => {
    if (interrupt) Atomics.store(new Int32Array(interrupt), 0, 1);
    worker.postMessage({ type: "interrupt" });
  };

  async function create(request) {
    const schema = schemaOf(request.response_format);
    // request.webslm.copy = {text, fields}: those string fields may only copy from text.
    const message = { type: "generate", messages: request.messages, schema, copy: schema ? request.webslm?.copy : null,
      maxTokens: request.max_tokens ?? 512, temperature: request.temperature ?? 0, topP: request.top_p ?? 1 };
    const created = Math.floor(Date.now() / 1000);
    const model = plan.build.id;
    if (!request.stream) {
      const done = await call(message);
      return { object: "chat.completion", created, model, usage: done.usage,
        choices: [{ index: 0, finish_reason: done.finishReason, message: { role: "assistant", content: done.text } }] };
    }
    // Streamed: chunks as the worker decodes, then the finish reason, then usage.
    const queue = [];
    let wake = null;
    const push = (item) => { queue.push(item); wake?.(); };
    const chunk = (delta, finish_reason = null) => ({ object: "chat.completion.chunk", created, model,
      choices: [{ index: 0, delta, finish_reason }] });
    call(message, (text) => push(chunk({ content: text }))).then(
      (done) => {
        push(chunk({}, done.finishReason));
        if (request.stream_options?.include_usage) push({ object: "chat.completion.chunk", created, model, choices: [], usage: done.usage });
        push(null);
      },
      (err) => push(err));
    return (async function* stream() {
      for (;;) {
        while (!queue.length) await new Promise((resolve) => { wake = resolve; });
        const item = queue.shift();
        if (item === null) return;
        if (item instanceof Error) throw item;
        yield item;
      }
    })();
  }

  return {
    model: plan.build.id,
    engine: plan.engine,
    info,
    chat: { completions: { create } },
    interrupt: interruptNow,
    resetChat: async () => {}, // every request carries its whole conversation
    /** Greedy token ids after `inputIds` (no chat template): for parity checks and benchmarks.
     * ignoreEos: decode exactly maxTokens (benchmarks). Resolves to {ids, usage}. */
    greedyIds: (inputIds, maxTokens, { ignoreEos = false } = {}) => call({ type: "ids", inputIds, maxTokens, ignoreEos }),
    async unload() {
      try { await call({ type: "unload" }); } finally { worker.terminate(); }
    },
  };
}
