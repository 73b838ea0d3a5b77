// The Web Worker that owns a transformers.js model (an ONNX build from `webslm build`), so
// loading and CPU-heavy WASM decoding never block the page. tjs-client.js is its only caller.
//
// Messages in:  {type: "load", modelUrl, files, preload, device, dtype, contextWindow, threads, wasmFolder, plainWasm, interrupt}
//               {type: "generate", id, messages, maxTokens, temperature, topP, schema, copy}
//               {type: "ids", id, inputIds, maxTokens, ignoreEos}   (greedy ids: tests, bench)
//               {type: "interrupt"}
// Messages out: {type: "progress", report} {type: "loaded", info} {type: "token", id, text}
//               {type: "done", id, text, ids, finishReason, usage} {type: "error", id, message}

import { JsonSchemaConstraint, maskScores } from "./json-constraint.js";
import { importTransformers, ortWasmPaths } from "./engine-modules.js";
import { fileTable, isUnder, prepareCaches, unlistedError, verifiedResponse } from "./integrity.js";
import { ONNX_CACHE } from "./build-cache.js";
import { inEngineHost } from "./start-worker.js";

let tjs = null;        // the transformers.js module
let tokenizer = null;
let model = null;
let pieces = null;     // token id -> decoded text, for constrained decoding (built once)
let interruptFlag = null; // Int32Array on a SharedArrayBuffer, or a plain flag object
let info = {};

// onnxruntime-web's heap is a WebAssembly.Memory made in this worker, which only grows: its
// size after a call is the most that call needed (webslm/onnx/wasm_memory.py models it).
const memories = [];
const WasmMemory = WebAssembly.Memory;
WebAssembly.Memory = function Memory(descriptor) {
  const memory = new WasmMemory(descriptor);
  memories.push(memory);
  return memory;
};
WebAssembly.Memory.prototype = WasmMemory.prototype;
const wasmBytes = () => memories.reduce((total, m) => total + m.buffer.byteLength, 0);

const interrupted = () => (interruptFlag instanceof Int32Array ? Atomics.load(interruptFlag, 0) === 1 : interruptFlag?.value === 1);

/**
 * Verify (download when needed) `preload`'s files before transformers.js starts: it loads
 * external data in a promise that never settles when the fetch fails, so a bad file found
 * there would hang the load instead of failing it. Returns env.fetch for the build: a listed
 * file comes verified (a Range request, transformers.js's size probe, gets its bytes cut
 * from the verified copy); an unlisted URL under the build's folder is never fetched: it
 * answers 404, which transformers.js reads as "this optional file does not exist".
 */
async function verifiedFetch(modelUrl, files, preload, progress_callback) {
  const table = fileTable(modelUrl, files);
  const cache = await caches.open(ONNX_CACHE);
  const needed = await prepareCaches([ONNX_CACHE], table);
  const opts = (file) => ({ needed, onProgress: (loaded, total) => progress_callback({
    status: "progress", file: file.name, loaded, total, progress: (100 * loaded) / total }) });
  for (const name of preload) {
    const file = table.get(new URL(name, modelUrl).href);
    await verifiedResponse(cache, file, opts(file));
  }
  return async (url, init) => {
    const file = table.get(url.href);
    if (!file) {
      if (!isUnder(url.href, modelUrl)) return fetch(url, init);
      return new Response(unlistedError(url.href).message, { status: 404, statusText: "Not in the build's file table" });
    }
    const verified = await verifiedResponse(cache, file, opts(file));
    const range = init?.headers ? new Headers(init.headers).get("range") : null;
    return range ? rangeOf(verified, range, file.bytes) : verified;
  };
}

/** A 206 answer to `range` ("bytes=a-b" or "bytes=a-") cut from a verified whole-file response. */
async function rangeOf(response, range, size) {
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(range.trim());
  const start = m ? Number(m[1]) : 0;
  const end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  if (!m || start > end) return new Response(null, { status: 416, headers: { "content-range": `bytes */${size}` } });
  const part = (await response.blob()).slice(start, end + 1);
  return new Response(part, { status: 206, headers: { "content-length": String(part.size), "content-range": `bytes ${start}-${end}/${size}`,
    "content-type": response.headers.get("content-type") || "application/octet-stream" } });
}

let contextWindow = null; // tokens of prompt + answer the model holds (its WASM memory on the CPU)

async function load({ modelUrl, files, preload = [], device, dtype, contextWindow: window, threads, wasmFolder, plainWasm, interrupt }) {
  contextWindow = window || null;
  tjs = await importTransformers();
  const { env, AutoTokenizer, AutoModelForCausalLM } = tjs;
  env.allowRemoteModels = false; // never the hub: the files come from this site
  // transformers.js fetches <localModelPath>/<id>/<file>, but treats a localModelPath with a
  // scheme as remote (refused with remote models off): so it gets the folder's path, and
  // env.fetch puts the model's origin back. Our files are at .../models/<build>/resolve/main/,
  // so the id is "resolve/main" under the build's folder. Every file of the build comes
  // verified from ONNX_CACHE (keyed by full URL), so transformers.js's own cache stays off.
  const t0 = performance.now();
  const folder = new URL(modelUrl);
  env.allowLocalModels = true;
  env.localModelPath = folder.pathname.replace(/resolve\/main\/?$/, "");
  env.useBrowserCache = false;
  const progress_callback = (report) => post({ type: "progress", report });
  const fetchFile = await verifiedFetch(modelUrl, files, preload, progress_callback);
  env.fetch = (url, init) => fetchFile(new URL(url, folder.origin), init);
  // Always set: left unset, transformers.js fetches them from the internet. plainWasm === false
  // keeps the asyncify build transformers.js itself would pick, even on the CPU.
  env.backends.onnx.wasm.wasmPaths = ortWasmPaths(wasmFolder, { plain: device === "wasm" && plainWasm !== false });
  if (threads) env.backends.onnx.wasm.numThreads = threads;
  interruptFlag = interrupt ? new Int32Array(interrupt) : { value: 0 };
  const id = "resolve/main";
  tokenizer = await AutoTokenizer.from_pretrained(id, { progress_callback });
  model = await AutoModelForCausalLM.from_pretrained(id, { device, dtype, progress_callback });
  info = { device, dtype, threads: env.backends.onnx.wasm.numThreads ?? null,
    crossOriginIsolated: self.crossOriginIsolated, loadSeconds: (performance.now() - t0) / 1000,
    wasmBytes: wasmBytes() };
  return info;
}

/** Token texts for the constraint; special tokens and partial UTF-8 become "" (never allowed). */
function tokenPieces(vocabSize) {
  if (pieces && pieces.length === vocabSize) return pieces;
  pieces = new Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) {
    let text = "";
    try { text = tokenizer.decode([i], { skip_special_tokens: true }); } catch { text = ""; }
    pieces[i] = text.includes("\uFFFD") ? "" : text;
  }
  return pieces;
}

function eosIds() {
  const eos = model.generation_config?.eos_token_id ?? model.config.eos_token_id;
  return new Set([eos].flat().filter((x) => x !== undefined && x !== null).map(Number));
}

function makeConstraintProcessor(schema, copy) {
  const constraint = new JsonSchemaConstraint(schema, { copy });
  const eos = eosIds();
  let seen = -1; // how many ids the processor has already fed to the constraint
  class SchemaProcessor extends tjs.LogitsProcessor {
    _call(inputIds, logits) {
      const ids = inputIds[0];
      if (seen < 0) seen = ids.length; // the prompt
      for (; seen < ids.length; seen++) {
        const piece = pieces[Number(ids[seen])];
        if (!eos.has(Number(ids[seen]))) constraint.accept(piece);
      }
      maskScores(constraint, logits.data, tokenPieces(logits.dims.at(-1)), eos);
      return logits;
    }
  }
  return new SchemaProcessor();
}

async function generate({ id, inputIds, messages, maxTokens = 256, temperature = 0, topP = 1, schema, copy, ignoreEos }) {
  if (interruptFlag instanceof Int32Array) Atomics.store(interruptFlag, 0, 0); else interruptFlag.value = 0;
  const input_ids = inputIds
    ? new tjs.Tensor("int64", BigInt64Array.from(inputIds.map(BigInt)), [1, inputIds.length])
    : tokenizer.apply_chat_template(messages, { add_generation_prompt: true, return_tensor: true, return_dict: false });
  const attention_mask = new tjs.Tensor("int64", new BigInt64Array(input_ids.dims[1]).fill(1n), input_ids.dims);
  const promptTokens = input_ids.dims[1];
  if (contextWindow && promptTokens >= contextWindow) {
    throw new Error(`The conversation is ${promptTokens} tokens, and this model holds ${contextWindow} here: start a new chat or shorten the text.`);
  }
  if (contextWindow) maxTokens = Math.min(maxTokens, contextWindow - promptTokens);
  if (schema) tokenPieces(model.config.vocab_size);
  const generated = [];
  let sent = "";
  let tFirst = 0;
  let puts = 0;
  const t0 = performance.now();
  const streamer = {
    put(values) {
      if (puts++ === 0) return; // the first put is the prompt
      if (!tFirst) tFirst = performance.now();
      generated.push(Number(values[0][0]));
      if (inputIds) return;
      const text = tokenizer.decode(generated, { skip_special_tokens: true });
      if (text.endsWith("\uFFFD")) return; // wait for the rest of a multi-byte character
      if (text.length > sent.length) post({ type: "token", id, text: text.slice(sent.length) });
      sent = text;
    },
    end() {},
  };
  const stop = new (class extends tjs.StoppingCriteria {
    _call(ids) { return ids.map(() => interrupted()); }
  })();
  const logits_processor = schema ? [makeConstraintProcessor(schema, copy)] : null;
  await model.generate({
    input_ids, attention_mask, max_new_tokens: maxTokens, streamer, stopping_criteria: [stop],
    logits_processor,
    ...(ignoreEos ? { min_new_tokens: maxTokens } : {}),
    ...(temperature > 0 ? { do_sample: true, temperature, top_p: topP } : { do_sample: false }),
  });
  const tEnd = performance.now();
  const eos = eosIds();
  const hitEos = generated.length > 0 && eos.has(generated.at(-1));
  const text = tokenizer.decode(generated, { skip_special_tokens: true });
  const decoded = Math.max(generated.length - 1, 0);
  const finishReason = interrupted() ? "abort" : hitEos ? "stop" : "length";
  return {
    text, ids: generated, finishReason,
    usage: {
      prompt_tokens: promptTokens, completion_tokens: generated.length,
      total_tokens: promptTokens + generated.length,
      extra: {
        time_to_first_token_s: tFirst > 0 ? (tFirst - t0) / 1000 : null,
        prefill_tokens_per_s: tFirst > 0 ? promptTokens / ((tFirst - t0) / 1000) : null,
        decode_tokens_per_s: decoded && tFirst > 0 ? decoded / ((tEnd - tFirst) / 1000) : null,
        e2e_latency_s: (tEnd - t0) / 1000,
        wasm_bytes: wasmBytes(),
      },
    },
  };
}

// Where messages go: the worker's own scope, or the port the engine host serves (serve below).
let post = (message) => self.postMessage(message);

/** Answer the messages of `port` (this worker's scope, or a MessageChannel port in the engine
 * host, start-worker.js): one model per module instance. */
export function serveTransformers(port) {
  post = (message) => port.postMessage(message);
  port.onmessage = onMessage;
}

// One request at a time, in arrival order; "interrupt" is handled at once.
let queue = Promise.resolve();
function onMessage(event) {
  const msg = event.data;
  if (msg.type === "interrupt") {
    if (interruptFlag instanceof Int32Array) Atomics.store(interruptFlag, 0, 1); else if (interruptFlag) interruptFlag.value = 1;
    return;
  }
  queue = queue.then(async () => {
    try {
      if (msg.type === "load") post({ type: "loaded", info: await load(msg) });
      else if (msg.type === "generate" || msg.type === "ids") post({ type: "done", id: msg.id, ...(await generate(msg)) });
      else if (msg.type === "unload") { await model?.dispose?.(); model = null; post({ type: "done", id: msg.id }); }
    } catch (err) {
      const { name, file, expected, actual, needed } = err || {};
      post({ type: "error", id: msg.id, message: err?.message || String(err), detail: { name, file, expected, actual, needed } });
    }
  });
}

if (!inEngineHost()) serveTransformers(self); // started as a Worker of its own
