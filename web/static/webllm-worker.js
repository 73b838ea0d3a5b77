// The Web Worker that owns the WebLLM engine, so model loading, shader compilation and
// decoding never block the page's main thread. The page talks to it with WebLLM's own
// WebWorkerMLCEngine client (see webllm-client.js), as tjs-worker.js serves tjs-client.js.
import { importWebLLM } from "./engine-modules.js";
import { downloadVerified, fileTable, prepareCaches } from "./integrity.js";
import { WEBLLM_CACHES } from "./build-cache.js";

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

// Integrity (integrity.js): WebLLM downloads each file of a build with Cache.add, only when
// it is not cached. The page first sends the build's file table ({kind: "webslm-files"});
// unverified entries are dropped, and every add of one of those files becomes a verified,
// resumable download. A failure is also posted as {kind: "webslm-integrity"}, so the page
// can throw the structured error WebLLM's own message passing would flatten to text.
let expected = new Map();
let needed = 0; // bytes of the build not yet verified in the cache
const add = Cache.prototype.add;
Cache.prototype.add = function (request) {
  const url = typeof request === "string" ? new URL(request, self.location.href).href : request.url;
  const file = expected.get(url);
  if (!file) return add.call(this, request);
  return downloadVerified(this, file, { signal: request.signal, needed }).catch((err) => {
    reportProblem(err);
    throw err;
  });
};

function reportProblem(err) {
  const { name, message, file, expected: hash, actual, needed } = err;
  self.postMessage({ kind: "webslm-integrity", error: { name, message, file, expected: hash, actual, needed } });
}

async function expectFiles({ folder, files }) {
  expected = fileTable(folder, files);
  needed = await prepareCaches(WEBLLM_CACHES, expected);
}

// WebLLM is imported dynamically (engine-modules.js says why); messages that arrive
// meanwhile wait for it, in order. If it cannot be imported, the error is thrown outside the
// promise so that it reaches the page as the worker's "error" event.
const handler = importWebLLM().then(({ WebWorkerMLCEngineHandler }) => new WebWorkerMLCEngineHandler());
handler.catch((err) => setTimeout(() => { throw err; }));
let ready = Promise.resolve(); // WebLLM's messages wait for the file table's check
self.onmessage = (event) => {
  if (event.data && event.data.kind === "webslm-files") {
    ready = expectFiles(event.data).catch(reportProblem);
    return;
  }
  ready.then(() => handler).then((h) => h.onmessage(event), () => {});
};
