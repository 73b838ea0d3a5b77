// The engine host: one engine per loaded model for every tab of the origin. It runs as a
// SharedWorker (shared-client.js starts it), so a second tab attaches to the model the first
// loaded; where SharedWorker is missing (Chrome on Android) each page starts it as a dedicated
// worker of its own, and the protocol is the same. The engine clients run in this thread
// (start-worker.js: no nested workers here; wllama's own worker runs in this thread too,
// in-thread-worker.js), so their integrity checks (integrity.js, the
// WebLLM worker's file table) apply here as they do in a worker of their own.
//
// Each port is one page. Pages keep their sessions' conversations and send them whole with
// each request, so the engine keeps no per-session state; what the host adds is the queue:
// an engine answers one request at a time, and the pages take turns (round-robin, FIFO within
// a page), so a page with many requests cannot starve another.
//
// Messages in (from a page; `client` is one chat object of that page, unique in it):
//   {type: "attach", id, client, key, choice, listing: {base, records, models}, options}
//   {type: "call", id, client, method: "chat"|"completion"|"count"|"ids"|"reset", args}
//   {type: "interrupt", client}   stops its answer under way and drops its queued ones
//   {type: "detach", client}      the last client to detach (or whose page is gone) unloads the model
//   {type: "stats", id}
//   {type: "page", lock}          a Web Lock the page holds while it lives (shared-client.js)
// Messages out: {type: "progress"|"gpu", client, ...} {type: "attached", id, chat, joined, stats}
//   {type: "chunk", id, chunk} {type: "result", id, value} {type: "error", id, error}

import { downloaded } from "./integrity.js";

globalThis.webslmEngineHost = true; // read by start-worker.js, before any engine module loads

const models = new Map(); // key -> {key, chat (a promise), clients: Map(client -> {port, name, jobs}), busy, turn}
const clients = new Map(); // "<page>/<client>" -> {port, name, model, jobs}
const counters = { instantiations: 0, attaches: 0, joins: 0, requests: 0, connections: 0 };
let engines = null; // what the host uses of the engine modules, imported on first attach

const statsOf = () => ({ ...counters, clients: clients.size, downloads: downloaded.files, downloadedBytes: downloaded.bytes,
  loaded: [...models.keys()], shared: typeof SharedWorkerGlobalScope !== "undefined" && self instanceof SharedWorkerGlobalScope });

/** An error as a page can rebuild it (name, message and integrity.js's fields). */
function plainError(err) {
  const { name = "Error", message = String(err), file, url, expected, actual, needed, fatal } = err || {};
  return { name, message, file, url, expected, actual, needed, fatal };
}

/** The host's own GPU must run the page's choice: a WebGPU engine where the worker has no
 * adapter, or lacks shader-f16 for an f16 build, is refused, and the page loads it itself. */
async function unshareable(choice) {
  if (choice.device !== "webgpu") return null;
  const gpu = await engines.probeGPU();
  if (!gpu.adapter || (choice.engine === "webllm" && !gpu.ok)) return `no usable WebGPU adapter in the shared worker (${gpu.reason})`;
  if ((engines.needsF16(choice.build) || /f16/.test(choice.dtype || "")) && !gpu.shaderF16) return "the shared worker's adapter lacks shader-f16";
  return null;
}

/** What the host uses of the engine modules, imported on the first attach (after the flag above). */
async function importEngines() {
  (await import("./in-thread-worker.js")).installInThreadWorker(); // for wllama's own worker
  const [{ startEngine }, { probeGPU }, { needsF16 }, { countTokens }] = await Promise.all([
    import("./chat-client.js"), import("./gpu.js"), import("./models.js"), import("./model-pool.js")]);
  return { startEngine, probeGPU, needsF16, countTokens };
}

async function load(model, { choice, listing, options }) {
  engines ??= await importEngines();
  const refused = await unshareable(choice);
  if (refused) throw Object.assign(new Error(refused), { name: "UnshareableError" });
  counters.instantiations += 1;
  // Without cross-origin isolation (a SharedWorker's, in Chromium) WASM runs on one thread.
  const plan = { ...choice, threads: self.crossOriginIsolated ? choice.threads : 1 };
  const chat = await engines.startEngine(plan, { ...options, listing,
    onProgress: (p) => broadcast(model, { type: "progress", key: model.key, progress: p }),
    onGpuEvent: (e) => broadcast(model, { type: "gpu", key: model.key, event: e }) });
  return chat;
}

function broadcast(model, message) {
  for (const client of model.clients.values()) client.port.postMessage({ ...message, client: client.name });
}

// What a page's chat object needs to know about the engine (plain data).
const describe = (chat) => ({ model: chat.model, engine: chat.engine, info: chat.info ?? null,
  specialTokens: chat.specialTokens ?? [], appConfig: chat.appConfig ?? null,
  greedyIds: typeof chat.greedyIds === "function", completions: Boolean(chat.completions) });

async function attach(port, page, { id, client: name, key, ...request }) {
  counters.attaches += 1;
  let model = models.get(key);
  const joined = Boolean(model);
  if (joined) counters.joins += 1;
  if (!model) {
    model = { key, clients: new Map(), busy: null, turn: 0 };
    models.set(key, model);
    model.chat = load(model, request);
    model.chat.catch(() => { if (models.get(key) === model) models.delete(key); });
  }
  const client = { port, name, model, jobs: [] };
  clients.set(`${page}/${name}`, client);
  model.clients.set(`${page}/${name}`, client);
  try {
    port.postMessage({ type: "attached", id, chat: describe(await model.chat), joined, stats: statsOf() });
  } catch (err) {
    clients.delete(`${page}/${name}`);
    model.clients.delete(`${page}/${name}`);
    port.postMessage({ type: "error", id, error: plainError(err) });
  }
}

/** The next job: the clients take turns, each client's jobs in order. */
function pump(model) {
  if (model.busy) return;
  const waiting = [...model.clients.values()];
  for (let i = 0; i < waiting.length; i++) {
    const client = waiting[(model.turn + i) % waiting.length];
    const job = client.jobs.shift();
    if (!job) continue;
    model.turn = (model.turn + i + 1) % waiting.length;
    model.busy = { client, job };
    run(model, client.port, job).finally(() => { model.busy = null; pump(model); });
    return;
  }
}

async function run(model, port, { id, method, args }) {
  counters.requests += 1;
  try {
    const chat = await model.chat;
    if (method === "chat" || method === "completion") {
      const [request] = args;
      const api = method === "chat" ? chat.chat.completions : chat.completions;
      const reply = await api.create(request);
      if (!request.stream) { port.postMessage({ type: "result", id, value: reply }); return; }
      for await (const chunk of reply) port.postMessage({ type: "chunk", id, chunk });
      port.postMessage({ type: "result", id, value: null });
    } else if (method === "count") {
      port.postMessage({ type: "result", id, value: await engines.countTokens(chat, args[0]) });
    } else if (method === "ids") {
      port.postMessage({ type: "result", id, value: await chat.greedyIds(...args) });
    } else if (method === "reset") {
      port.postMessage({ type: "result", id, value: await chat.resetChat() });
    }
  } catch (err) {
    port.postMessage({ type: "error", id, error: plainError(err) });
  }
}

function call(client, { id, method, args }) {
  if (!client) return;
  client.jobs.push({ id, method, args });
  pump(client.model);
}

async function interrupt(client) {
  if (!client) return;
  for (const job of client.jobs.splice(0)) {
    client.port.postMessage({ type: "error", id: job.id, error: { name: "AbortError", message: "Interrupted before it started." } });
  }
  if (client.model.busy?.client === client) (await client.model.chat).interrupt();
}

/** The client lets go of its model; the last one unloads it once the answer under way is done. */
async function detach(page, name) {
  const client = clients.get(`${page}/${name}`);
  if (!client) return;
  clients.delete(`${page}/${name}`);
  const { model } = client;
  await interrupt(client);
  model.clients.delete(`${page}/${name}`);
  if (model.clients.size || models.get(model.key) !== model) return;
  models.delete(model.key);
  const chat = await model.chat.catch(() => null);
  while (model.busy) await new Promise((resolve) => setTimeout(resolve, 50));
  await chat?.unload().catch(() => {});
}

function serve(port) {
  const page = ++counters.connections;
  const clientOf = (data) => {
    const client = clients.get(`${page}/${data.client}`);
    if (!client && data.id) port.postMessage({ type: "error", id: data.id, error: { name: "InvalidStateError", message: "The model was unloaded." } });
    return client;
  };
  const leave = () => {
    for (const key of [...clients.keys()]) if (key.startsWith(`${page}/`)) detach(page, key.slice(`${page}/`.length));
  };
  port.onmessage = ({ data }) => {
    if (data.type === "page") navigator.locks.request(data.lock, leave); // granted when the page is gone
    else if (data.type === "attach") attach(port, page, data);
    else if (data.type === "call") call(clientOf(data), data);
    else if (data.type === "interrupt") interrupt(clientOf(data));
    else if (data.type === "detach") detach(page, data.client);
    else if (data.type === "stats") port.postMessage({ type: "result", id: data.id, value: statsOf() });
  };
}

if (typeof SharedWorkerGlobalScope !== "undefined" && self instanceof SharedWorkerGlobalScope) {
  self.onconnect = (event) => serve(event.ports[0]);
} else {
  serve(self); // a dedicated worker: its one page
}
