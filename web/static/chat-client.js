// createChat(): one model, loaded in a Web Worker, behind an OpenAI-style API.
// This is the single code path: the chat page, the form demo, <webslm-chat> and embedders
// all come through here, so model-list loading, engine choice (engines.js: WebLLM on
// WebGPU, else transformers.js on WebGPU, else wllama (llama.cpp) on WASM when the CPU
// build carries a GGUF, else transformers.js on WASM) and build choice happen in one place.
// Loading and talking to the engine is its client's (webllm-client.js, tjs-client.js,
// wllama-client.js); here each chat gets what all of them share.

import { loadModels, siteBase } from "./models.js";
import { probeGPU } from "./gpu.js";
import { chooseEngine, engineFromUrl, dtypeFromUrl } from "./engines.js";
import { createWebLLMChat } from "./webllm-client.js";
import { createTransformersChat } from "./tjs-client.js";
import { createWllamaChat } from "./wllama-client.js";
import { createSharedChat, hostReachable, sharesByDefault } from "./shared-client.js";
import { fillForm } from "./form-fill.js";
import { importWebLLM, ortWasmFolder, wllamaWasmUrl } from "./engine-modules.js";

export { importWebLLM };

// Each engine's client (one module and worker per engine), with what it takes from
// createChat's options: the choice says which build and how, the listing where it lives.
const transformers = (choice, { listing, onProgress, wasmPaths }) => createTransformersChat(choice, {
  base: listing.base, onProgress, wasmFolder: wasmPaths ? siteBase(wasmPaths) : ortWasmFolder(listing.base) });
const CLIENTS = {
  webllm: (choice, { listing, onProgress, onGpuEvent, logLevel, chatOptions }) => createWebLLMChat(choice, {
    modelList: listing.records, onProgress, onGpuEvent, logLevel, chatOptions }),
  "transformers-webgpu": transformers,
  wllama: (choice, { listing, onProgress, wllamaWasm }) => createWllamaChat(choice, { base: listing.base, onProgress,
    wasmUrl: wllamaWasm ? new URL(wllamaWasm, globalThis.location?.href).href : wllamaWasmUrl(listing.base) }),
  "transformers-wasm": transformers,
};

/** Load `choice` with its engine's client, in this realm (the page, or the engine host). */
export const startEngine = (choice, options) => CLIENTS[choice.engine](choice, options);

/** Whether createChat `options` send `choice` to the engine host (shared-client.js). */
function goesToHost(choice, { shared }) {
  if (globalThis.webslmEngineHost || !hostReachable() || shared === false) return false;
  return shared === true || sharesByDefault(choice);
}

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
 *   "transformers-wasm" (default: the best this browser supports)
 * @param {string} [opts.task] what the chat is for: "chat" (the default) or "form" (fillForm,
 *   answers under a JSON schema); on the CPU it picks the engine measured fastest for it
 *   (cpu-engine-order.js). A chat does any task; this only decides which engine loads
 * @param {string} [opts.dtype] force the ONNX dtype transformers.js loads (q8, q4, q4f16, fp32;
 *   default: q8 on the CPU and q4/q4f16 on WebGPU), or the GGUF type wllama loads (Q8_0)
 * @param {boolean} [opts.shared] load the model in the engine host that every tab of this
 *   origin shares (a SharedWorker), so another tab attaches to it instead of loading it again.
 *   Default: for WebLLM and transformers.js on WebGPU, and transformers.js on WASM where it
 *   would run on one thread anyway; false keeps the engine in a worker of this page
 * @param {boolean} [opts.urlOverrides] let the page URL's ?engine= and ?dtype= decide what the
 *   options leave open (default false: a link to an embedder's page must not choose for its
 *   visitors; webslm's own demo pages read them themselves)
 * Throws (before any download) when no build fits this browser; err.choice tells why.
 * The chat's `engine` and `choice.reason` say which engine runs and why.
 */
export async function createChat(options = {}) {
  const { model = "", baseUrl, engine: forced, dtype, task, urlOverrides = false } = options;
  const listing = options.listing || await loadModels(baseUrl);
  const gpu = options.gpu || await probeGPU();
  const fromUrl = (read) => (urlOverrides ? read() : "");
  const choice = chooseEngine(listing.models, gpu, { wanted: model, engine: forced ?? fromUrl(engineFromUrl), dtype: dtype ?? fromUrl(dtypeFromUrl), task });
  if (!choice.engine) {
    throw Object.assign(new Error(choice.reason), { name: "NoUsableBuildError", choice, gpu });
  }
  let chat = null;
  if (goesToHost(choice, options)) {
    // A host whose own GPU cannot run the choice says so before loading: the page loads it.
    chat = await createSharedChat(choice, { ...options, listing }).catch((err) => {
      if (err.name === "UnshareableError") return null;
      throw err;
    });
  }
  chat ??= await startEngine(choice, { ...options, listing });
  // What every engine's chat carries besides its own: the build, why it was chosen, and forms.
  return Object.assign(chat, { build: choice.build, choice, gpu, listing,
    fillForm: (form, text, opts) => fillForm(chat, form, text, opts) });
}
