// The Web Worker that owns the WebLLM engine, so model loading, shader compilation and
// decoding never block the page's main thread. The page talks to it with WebLLM's own
// WebWorkerMLCEngine client (see chat-client.js).
import { WebWorkerMLCEngineHandler } from "../vendor/web-llm/index.js";

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

const handler = new WebWorkerMLCEngineHandler();
self.onmessage = (event) => handler.onmessage(event);
