// createChat(): one model, loaded in a Web Worker, behind an OpenAI-style API.
// This is the single code path: the chat page, the form demo, <webslm-chat> and embedders
// all come through here, so model-list loading, engine choice (engines.js: WebLLM on
// WebGPU, else transformers.js on WebGPU, else wllama (llama.cpp) on WASM when the ONNX
// build carries a GGUF, else transformers.js on WASM) and build choice happen in one place.

import { loadModels, siteBase } from "./models.js";
import { probeGPU } from "./gpu.js";
import { chooseEngine, engineFromUrl, dtypeFromUrl } from "./engines.js";
import { createTransformersChat } from "./tjs-client.js";
import { createWllamaChat } from "./wllama-client.js";
import { parseProgress } from "./progress.js";
import { fillForm } from "./form-fill.js";
import { importWebLLM, ortWasmFolder, wllamaWasmUrl } from "./engine-modules.js";
import { startWorker, workerFailure } from "./start-worker.js";

export { importWebLLM };

const WORKER_FILE = "./engine-worker.js";
const startEngineWorker = () => startWorker(
  () => new Worker(new URL("./engine-worker.js", import.meta.url), { type: "module" }), WORKER_FILE, import.meta.url);

/**
 * Load a model and return a chat object.
 * @param {object} opts
 * @param {string} [opts.model] a build id (smollm2-135m-q4f32_1), a family (smollm2-135m: the
 *   best build for this GPU), or nothing (the first family listed)
 * @param {string} [opts.baseUrl] the webslm site root (a `webslm export-site` output: where
 *   api/models.json, models/ and vendor/ort/ are); defaults to the folder webslm.js was loaded
 *   from, which only a served site has: apps built with a bundler must name it
 * @param {string} [opts.wasmPaths] the folder of onnxruntime-web's WASM files for the
 *   transformers.js engine, absolute or relative to the page (default: <baseUrl>vendor/ort/)
 * @param {(p: object) => void} [opts.onProgress] {stage, label, fraction, loadedBytes, totalBytes, text}
 * @param {(e: {event, message}) => void} [opts.onGpuEvent] device lost / out-of-memory, as they happen
 * @param {string} [opts.wllamaWasm] the URL of wllama's WASM file (default:
 *   <baseUrl>vendor/wllama/wasm/wllama.wasm)
 * @param {string} [opts.engine] force "webllm", "transformers-webgpu", "wllama" or
 *   "transformers-wasm" (default: the page URL's ?engine=, else the best this browser supports)
 * @param {string} [opts.dtype] force the ONNX dtype transformers.js loads (q8, q4, q4f16, fp32;
 *   default: the page URL's ?dtype=, else q8 on the CPU and q4/q4f16 on WebGPU), or the GGUF
 *   type wllama loads (Q8_0)
 * Throws (before any download) when no build fits this browser; err.choice tells why.
 * The chat's `engine` and `choice.reason` say which engine runs and why.
 */
export async function createChat({ model = "", baseUrl, onProgress, onGpuEvent, listing, gpu, logLevel = "WARN", chatOptions, engine: forced, dtype, wasmPaths, wllamaWasm } = {}) {
  listing ||= await loadModels(baseUrl);
  gpu ||= await probeGPU();
  const choice = chooseEngine(listing.models, gpu, { wanted: model, engine: forced ?? engineFromUrl(), dtype: dtype ?? dtypeFromUrl() });
  if (!choice.engine) {
    throw Object.assign(new Error(choice.reason), { name: "NoUsableBuildError", choice, gpu });
  }
  if (choice.engine === "wllama") {
    const chat = await createWllamaChat(choice, { base: listing.base, onProgress,
      wasmUrl: wllamaWasm ? new URL(wllamaWasm, globalThis.location?.href).href : wllamaWasmUrl(listing.base) });
    const fill = (form, text, opts) => fillForm(chat, form, text, opts);
    return Object.assign(chat, { build: choice.build, choice, gpu, listing, fillForm: fill });
  }
  if (choice.engine !== "webllm") {
    const chat = await createTransformersChat(choice, { base: listing.base, onProgress,
      wasmFolder: wasmPaths ? siteBase(wasmPaths) : ortWasmFolder(listing.base) });
    const fill = (form, text, opts) => fillForm(chat, form, text, opts);
    return Object.assign(chat, { build: choice.build, choice, gpu, listing, fillForm: fill });
  }
  const build = choice.build;
  const appConfig = { model_list: listing.records };
  const { WebWorkerMLCEngine } = await importWebLLM();

  const worker = startEngineWorker();
  let gpuTrouble = null;
  const engine = new WebWorkerMLCEngine(worker, {
    appConfig, logLevel,
    initProgressCallback: (report) => onProgress?.(parseProgress(report)),
  });
  // Our worker adds one message kind; WebLLM's client throws on kinds it does not know,
  // so ours are taken out before its handler sees them.
  const webllmOnMessage = worker.onmessage;
  let integrityFailed;
  const integrityFailure = new Promise((_, reject) => { integrityFailed = reject; });
  integrityFailure.catch(() => {});
  worker.onmessage = (event) => {
    if (event.data && event.data.kind === "webslm-integrity") {
      integrityFailed(Object.assign(new Error(event.data.error.message), event.data.error));
      return;
    }
    if (event.data && event.data.kind === "webslm-gpu") {
      gpuTrouble = event.data;
      onGpuEvent?.(event.data);
      return;
    }
    webllmOnMessage(event);
  };
  const workerFailed = workerFailure(worker, new URL(WORKER_FILE, import.meta.url).href);
  // Before WebLLM's first message: what every file of the build must hash to (integrity.js).
  worker.postMessage({ kind: "webslm-files", folder: build.record.model, files: build.files });
  try {
    await Promise.race([engine.reload(build.id, chatOptions), workerFailed, integrityFailure]);
  } catch (err) {
    worker.terminate();
    throw err;
  }

  // After a lost device WebLLM answers "model not loaded": say what really happened.
  const explainTrouble = (err) => {
    if (gpuTrouble && gpuTrouble.event === "device-lost") return new Error(`DeviceLostError: ${gpuTrouble.message || "the GPU device was lost"}`);
    if (gpuTrouble && /OutOfMemory/.test(gpuTrouble.event)) return new Error(`GPUOutOfMemoryError: ${gpuTrouble.message}`);
    return err;
  };
  const chat = {
    model: build.id,
    engine: "webllm",
    webllm: engine,
    build, choice, gpu, listing, appConfig,
    chat: {
      completions: {
        /** OpenAI-style: {messages, stream, response_format, temperature, top_p, max_tokens, ...}. */
        async create(request) {
          try {
            const { webslm: _ours, ...openai } = request; // our extension fields: not WebLLM's
            return await engine.chat.completions.create(openai);
          } catch (err) {
            throw explainTrouble(err);
          }
        },
      },
    },
    /** Stop the current answer; a stream then ends with finish_reason "abort". */
    interrupt: () => engine.interruptGenerate(),
    resetChat: () => engine.resetChat(),
    /** Fill `form` from free `text` (see form-fill.js); resolves to what was filled. */
    fillForm: (form, text, opts) => fillForm(chat, form, text, opts),
    /** Free the GPU memory and stop the worker. The chat object is unusable afterwards. */
    async unload() {
      try {
        await engine.unload();
      } finally {
        worker.terminate();
      }
    },
  };
  return chat;
}
