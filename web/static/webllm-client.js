// The WebLLM engine (WebGPU) behind the same chat object tjs-client.js and wllama-client.js
// return: chat.completions.create (streamed or not), interrupt, resetChat, unload. It runs an
// MLC build from `webslm build` in a Web Worker (webllm-worker.js), talked to with WebLLM's
// own WebWorkerMLCEngine client; our worker adds two message kinds of its own: a lost device
// or out-of-memory as it happens, and integrity failures (integrity.js) as structured errors.

import { importWebLLM } from "./engine-modules.js";
import { parseProgress } from "./progress.js";
import { startWorker, workerFailure } from "./start-worker.js";

const WORKER_FILE = "./webllm-worker.js";
const startWebLLMWorker = () => startWorker(
  () => new Worker(new URL("./webllm-worker.js", import.meta.url), { type: "module" }), WORKER_FILE, import.meta.url);

/**
 * Load `plan.build` (an MLC build summary from api/models.json) with WebLLM.
 * `modelList` is the listing's WebLLM ModelRecords (its appConfig); `onGpuEvent` hears a lost
 * device or out-of-memory as they happen; `logLevel` and `chatOptions` go to WebLLM.
 * Resolves to the chat object.
 */
export async function createWebLLMChat(plan, { modelList, onProgress, onGpuEvent, logLevel = "WARN", chatOptions } = {}) {
  const build = plan.build;
  const appConfig = { model_list: modelList };
  const { WebWorkerMLCEngine } = await importWebLLM();

  const worker = startWebLLMWorker();
  let gpuTrouble = null;
  const engine = new WebWorkerMLCEngine(worker, {
    appConfig, logLevel,
    initProgressCallback: (report) => onProgress?.(parseProgress(report)),
  });
  // WebLLM's client throws on message kinds it does not know, so ours are taken out before
  // its handler sees them.
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
  return {
    model: build.id,
    engine: "webllm",
    webllm: engine,
    appConfig,
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
    // Plain text continuation, for a base model (OpenAI-style: {prompt, stream, max_tokens, ...}).
    // WebLLM prefills the prompt's own tokens: a model that needs <bos> gets it in the prompt.
    completions: {
      async create(request) {
        try {
          return await engine.completions.create(request);
        } catch (err) {
          throw explainTrouble(err);
        }
      },
    },
    /** Stop the current answer; a stream then ends with finish_reason "abort". */
    interrupt: () => engine.interruptGenerate(),
    resetChat: () => engine.resetChat(),
    /** Free the GPU memory and stop the worker. The chat object is unusable afterwards. */
    async unload() {
      try {
        await engine.unload();
      } finally {
        worker.terminate();
      }
    },
  };
}
