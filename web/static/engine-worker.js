// The Web Worker that owns the WebLLM engine, so model loading, shader compilation and
// decoding never block the page's main thread. The page talks to it with WebLLM's own
// WebWorkerMLCEngine client (see chat-client.js).
import { importWebLLM } from "./engine-modules.js";

// WebLLM notices a lost device only while loading and then just logs it; out-of-memory
// errors reach no one. Watch every device the engine creates and tell the page at once, so
// the user reads "device lost" instead of a later, puzzling "model not loaded".
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    device.lost.then((info) => {
      // "destroyed" is WebLLM's own unload(): not a failure.
      if (info.reason !== "destroyed") self.postMessage({ kind: "webslm-gpu", event: "device-lost", message: info.message });
    });
    device.addEventListener("uncapturederror", (e) => {
      const name = e.error && e.error.constructor ? e.error.constructor.name : "GPUError";
      if (name !== "GPUValidationError") self.postMessage({ kind: "webslm-gpu", event: name, message: e.error.message });
    });
    return device;
  };
}

// WebLLM is imported dynamically (engine-modules.js says why); messages that arrive
// meanwhile wait for it, in order. If it cannot be imported, the error is thrown outside the
// promise so that it reaches the page as the worker's "error" event.
const handler = importWebLLM().then(({ WebWorkerMLCEngineHandler }) => new WebWorkerMLCEngineHandler());
handler.catch((err) => setTimeout(() => { throw err; }));
self.onmessage = (event) => { handler.then((h) => h.onmessage(event), () => {}); };
