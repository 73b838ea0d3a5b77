// A chat object whose engine lives in the engine host (engine-host.js), shared by every tab of
// the origin: the first tab's createChat loads the model there, a later tab's attaches to it
// (no second download or instantiation). It has the shape the engine clients return
// (chat.completions.create, streamed or not, completions, interrupt, resetChat, unload).
// The host is a SharedWorker; without one (Chrome on Android) a dedicated worker per page.

import { siteBase } from "./models.js";

let host = null; // this page's connection: {port, kind, pending, clients, failed}
let nextId = 1;

/** Whether this page can reach the engine host: a module worker from this origin. */
export function hostReachable() {
  return typeof Worker === "function" && new URL(import.meta.url).origin === globalThis.location?.origin;
}

/** Whether `choice` (engines.js) goes to the host unless createChat's `shared` says otherwise.
 * The host's WASM runs on one thread (Chromium does not make a SharedWorker cross-origin
 * isolated), so a page that would run a WASM engine on several threads keeps it. */
export function sharesByDefault(choice) {
  if (choice.device === "webgpu") return true;
  return !(globalThis.crossOriginIsolated && (choice.threads || 1) > 1);
}

function connect() {
  if (host) return host;
  const kind = typeof SharedWorker === "function" ? "shared" : "dedicated";
  // Written out in full: the form bundlers rewrite (start-worker.js).
  const worker = kind === "shared"
    ? new SharedWorker(new URL("./engine-host.js", import.meta.url), { type: "module" })
    : new Worker(new URL("./engine-host.js", import.meta.url), { type: "module" });
  const port = kind === "shared" ? worker.port : worker;
  const current = { port, kind, pending: new Map(), clients: new Map() };
  worker.addEventListener("error", (e) => {
    const err = new Error(`The engine host failed to start: ${e.message || "script error"}`);
    for (const request of current.pending.values()) request.reject(err);
    current.pending.clear();
    if (host === current) host = null;
  });
  port.onmessage = ({ data }) => {
    if (data.type === "progress" || data.type === "gpu") {
      const client = current.clients.get(data.client);
      if (data.type === "progress") client?.onProgress?.(data.progress); else client?.onGpuEvent?.(data.event);
      return;
    }
    const request = current.pending.get(data.id);
    if (!request) return;
    if (data.type === "chunk") { request.onChunk(data.chunk); return; }
    current.pending.delete(data.id);
    if (data.type === "error") request.reject(Object.assign(new Error(data.error.message), data.error));
    else request.resolve(data.type === "attached" ? data : data.value);
  };
  host = current;
  announceLifetime(port);
  return host;
}

/** Let the host know when this page is gone: the page holds a Web Lock for its lifetime and
 * the host asks for the same lock, which it gets once the page has closed (or crashed); it
 * then lets go of the page's models. (A MessagePort's "close" event does not reach a
 * SharedWorker from a closed page in Chromium 156.) */
function announceLifetime(port) {
  if (!globalThis.navigator?.locks) return;
  const lock = `webslm-page-${crypto.randomUUID()}`;
  navigator.locks.request(lock, () => {
    port.postMessage({ type: "page", lock }); // once held: the host's request queues behind it
    return new Promise(() => {}); // held until the page goes
  });
}

/** Send `message` to the host; resolves with its result (`onChunk` hears a stream's chunks). */
function ask(message, onChunk) {
  const { port, pending } = connect();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onChunk });
    port.postMessage({ ...message, id });
  });
}

/** The host's counters: {instantiations, attaches, joins, requests, connections, clients,
 * downloads, downloadedBytes, loaded, shared}. */
export const hostStats = () => ask({ type: "stats" });

/** A stream of the chunks `message` makes, as the engines' async iterables. */
function streamOf(message) {
  const queue = [];
  let wake = null;
  const push = (item) => { queue.push(item); wake?.(); };
  ask(message, (chunk) => push({ chunk })).then(() => push({ done: true }), (error) => push({ error }));
  return (async function* stream() {
    for (;;) {
      while (!queue.length) await new Promise((resolve) => { wake = resolve; });
      const item = queue.shift();
      if (item.error) throw item.error;
      if (item.done) return;
      yield item.chunk;
    }
  })();
}

/**
 * Load `choice` (engines.js) in the engine host, or attach to it there. `listing` is
 * loadModels()'s; `options` are createChat's (those the engine clients take). Rejects with
 * name "UnshareableError" when the host cannot run it (its own GPU lacks what the page's has).
 */
export async function createSharedChat(choice, { listing, onProgress, onGpuEvent, logLevel, chatOptions, wasmPaths, wllamaWasm } = {}) {
  const current = connect();
  const client = String(nextId++);
  // URLs absolute here: in the host, a relative one would resolve against the worker's script.
  const options = { logLevel, chatOptions, wasmPaths: wasmPaths && siteBase(wasmPaths),
    wllamaWasm: wllamaWasm && new URL(wllamaWasm, globalThis.location.href).href };
  const key = JSON.stringify([choice.engine, choice.build.id, choice.dtype ?? "", choice.device ?? "", listing.base, options]);
  current.clients.set(client, { onProgress, onGpuEvent });
  let attached;
  try {
    attached = await ask({ type: "attach", client, key, choice: JSON.parse(JSON.stringify(choice)),
      listing: { base: listing.base, records: listing.records, models: listing.models }, options });
  } catch (err) {
    current.clients.delete(client);
    throw err;
  }
  const described = attached.chat;
  const call = (method, ...args) => ask({ type: "call", client, method, args });
  const create = (method) => (request) => {
    const plain = JSON.parse(JSON.stringify(request)); // what the engines would get over postMessage
    return plain.stream ? Promise.resolve(streamOf({ type: "call", client, method, args: [plain] })) : call(method, plain);
  };
  onProgress?.({ stage: "ready", label: "Ready", fraction: 1, text: attached.joined ? "attached to the loaded model" : "ready" });
  return {
    model: described.model,
    engine: described.engine,
    info: described.info,
    specialTokens: described.specialTokens,
    ...(described.appConfig ? { appConfig: described.appConfig } : {}),
    /** How this chat reached its engine: the host's kind, whether it joined a model already
     * loaded, and the host's counters then. */
    shared: { host: current.kind, joined: attached.joined, stats: attached.stats },
    chat: { completions: { create: create("chat") } },
    ...(described.completions ? { completions: { create: create("completion") } } : {}),
    ...(described.greedyIds ? { greedyIds: (...args) => call("ids", ...args) } : {}),
    /** Token count of `messages` (model-pool.js): reset and count in one turn of the queue. */
    countTokens: (messages) => call("count", messages),
    interrupt: () => current.port.postMessage({ type: "interrupt", client }),
    resetChat: () => call("reset"),
    /** Let go of the model: the last chat of the origin to do so unloads it. */
    async unload() {
      current.clients.delete(client);
      current.port.postMessage({ type: "detach", client });
    },
  };
}
