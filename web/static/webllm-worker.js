// The Web Worker that owns the WebLLM engine, so model loading, shader compilation and
// decoding never block the page's main thread. The page talks to it with WebLLM's own
// WebWorkerMLCEngine client (see webllm-client.js), as tjs-worker.js serves tjs-client.js.
// In the engine host (engine-host.js) the same module serves MessageChannel ports in the
// host's thread instead (serveWebLLM, start-worker.js).
import { importWebLLM } from "./engine-modules.js";
import { inEngineHost } from "./start-worker.js";
import { downloadVerified, fileTable, isUnder, prepareCaches, unlistedError, verifiedResponse } from "./integrity.js";
import { WEBLLM_CACHES } from "./build-cache.js";

// Every port served (one in a worker of its own): GPU and integrity reports go to all.
const ports = new Set();
const report = (message) => { for (const port of ports) port.postMessage(message); };

// WebLLM notices a lost device only while loading and then just logs it; out-of-memory
// errors reach no one. Watch every device the engine creates and tell the page at once, so
// the user reads "device lost" instead of a later, puzzling "model not loaded".
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    device.lost.then((info) => {
      // "destroyed" is WebLLM's own unload(): not a failure.
      if (info.reason !== "destroyed") report({ kind: "webslm-gpu", event: "device-lost", message: info.message });
    });
    device.addEventListener("uncapturederror", (e) => {
      const name = e.error && e.error.constructor ? e.error.constructor.name : "GPUError";
      if (name !== "GPUValidationError") report({ kind: "webslm-gpu", event: name, message: e.error.message });
    });
    return device;
  };
}

// Integrity (integrity.js): WebLLM downloads each file of a build with Cache.add, only when
// it is not cached, and the model library (wasm) with a plain fetch when its URL contains
// "localhost" or is relative (WebLLM 0.2.86, MLCEngine.reloadInternal). The page first
// sends the build's file table ({kind: "webslm-files"}); unverified entries are dropped, and
// both ways in go through the table: a listed file becomes a verified, resumable download
// (fetch answers from the verified cache entry), and a URL under the build's folder that
// the table does not list is refused, never fetched. A failure is also posted as
// {kind: "webslm-integrity"}, so the page can throw the structured error WebLLM's own
// message passing would flatten to text.
// The engine host can hold several builds: one table per build folder.
const builds = new Map(); // folder URL -> {table, needed (bytes not yet verified in the cache)}
const WASM_CACHE = WEBLLM_CACHES[1]; // where WebLLM would keep the model library

/** The table's entry for `url` (with the bytes its build still needs), null for a URL outside
 * every build, or a refusal (thrown). */
function listed(url) {
  for (const [folder, { table, needed }] of builds) {
    const file = table.get(url);
    if (file) return { file, needed };
    if (isUnder(url, folder)) {
      const err = unlistedError(url);
      reportProblem(err);
      throw err;
    }
  }
  return null;
}

const add = Cache.prototype.add;
Cache.prototype.add = async function (request) {
  const url = typeof request === "string" ? new URL(request, self.location.href).href : request.url;
  const entry = listed(url);
  if (!entry) return add.call(this, request);
  return downloadVerified(this, entry.file, { signal: request.signal, needed: entry.needed }).catch((err) => {
    reportProblem(err);
    throw err;
  });
};

// WebLLM reads a shard with add-if-missing, then match (ArtifactCache.fetchWithCache); the
// browser may evict the entry between the two, and WebLLM then fails with "Cannot fetch".
// A listed file missing at that match is downloaded again, verified, instead.
const match = Cache.prototype.match;
Cache.prototype.match = async function (request, options) {
  const found = await match.call(this, request, options);
  if (found) return found;
  const url = typeof request === "string" ? new URL(request, self.location.href).href : request.url;
  const entry = listed(url);
  if (!entry) return found;
  await downloadVerified(this, entry.file, { needed: entry.needed }).catch((err) => {
    reportProblem(err);
    throw err;
  });
  return match.call(this, request, options);
};

const plainFetch = self.fetch;
self.fetch = async function (input, init) {
  const url = new URL(input instanceof Request ? input.url : String(input), self.location.href).href;
  const entry = listed(url);
  if (!entry) return plainFetch.call(self, input, init);
  try {
    return await verifiedResponse(await caches.open(WASM_CACHE), entry.file, { signal: init?.signal, needed: entry.needed });
  } catch (err) {
    reportProblem(err);
    throw err;
  }
};

function reportProblem(err) {
  const { name, message, file, expected: hash, actual, needed } = err;
  report({ kind: "webslm-integrity", error: { name, message, file, expected: hash, actual, needed } });
}

async function expectFiles({ folder: buildFolder, files }) {
  const folder = new URL(buildFolder, self.location.href).href;
  builds.set(folder, { table: new Map(), needed: 0 }); // nothing under it passes until its table does
  const table = fileTable(folder, files); // throws for a build without a complete table
  builds.set(folder, { table, needed: await prepareCaches(WEBLLM_CACHES, table) });
}

// WebLLM is imported dynamically (engine-modules.js says why); messages that arrive
// meanwhile wait for it, in order. If it cannot be imported, the error is thrown outside the
// promise so that it reaches the page as the worker's "error" event.
const webllm = importWebLLM();
webllm.catch((err) => setTimeout(() => { throw err; }));

/** Answer WebLLM's messages from `port` (this worker's scope, or a MessageChannel port in the
 * engine host): each port gets its own engine. */
export function serveWebLLM(port) {
  ports.add(port);
  const handler = webllm.then(({ WebWorkerMLCEngineHandler }) => new (class extends WebWorkerMLCEngineHandler {
    postMessage(message) { port.postMessage(message); } // WebLLM's own posts to the global scope
  })());
  let ready = Promise.resolve(); // WebLLM's messages wait for the file table's check
  port.onmessage = (event) => {
    if (event.data && event.data.kind === "webslm-files") {
      ready = expectFiles(event.data).catch(reportProblem);
      return;
    }
    ready.then(() => handler).then((h) => h.onmessage(event), () => {});
  };
}

if (!inEngineHost()) serveWebLLM(self); // started as a Worker of its own
