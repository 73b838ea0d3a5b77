// Start a module worker in a way both bundlers and plain browsers follow.
//
// Bundlers only recognise the literal `new Worker(new URL("./x.js", import.meta.url), {type:
// "module"})`, so each caller writes that line itself and hands it over as `create`. Browsers
// only start workers from same-origin scripts: when webslm's modules are served from another
// origin (an export on another host), a same-origin blob worker imports the real one instead (that
// origin must allow CORS).

//
// Inside the engine host (engine-host.js) there are no nested workers: Chromium has no Worker
// constructor in a SharedWorker, and the host keeps every engine in its own thread so one
// realm holds one copy of each model. There `serve` (the worker module's serve(port)) runs in
// this thread behind a MessageChannel, and its other end stands in for the Worker.

/** True in the engine host (it sets the flag before importing any engine): worker modules run
 * in its thread (see above). */
export const inEngineHost = () => globalThis.webslmEngineHost === true;

/** A worker module's serve(port), run in this thread; returns the port that stands in for a
 * Worker (postMessage, onmessage, an "error" event when the module cannot load, terminate). */
export function inThreadWorker(loadServe) {
  const { port1, port2 } = new MessageChannel();
  loadServe().then((serve) => serve(port1), (err) => {
    port2.dispatchEvent(Object.assign(new Event("error"), { message: err?.message || String(err) }));
  });
  port2.terminate = () => { port1.close(); port2.close(); };
  return port2;
}

/** `create()` when `moduleUrl` is same-origin, else a blob worker importing `file` next to it;
 * in the engine host, `loadServe()`'s serve(port) in this thread. */
export function startWorker(create, file, moduleUrl, loadServe) {
  if (loadServe && inEngineHost()) return inThreadWorker(loadServe);
  if (new URL(moduleUrl).origin === globalThis.location.origin) return create();
  const source = `import ${JSON.stringify(new URL(file, moduleUrl).href)};`;
  return new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })), { type: "module" });
}

/** Reject when `worker` fails to start (a worker that never starts would leave callers waiting). */
export function workerFailure(worker, file) {
  const failed = new Promise((_, reject) => worker.addEventListener("error", (e) => {
    reject(new Error(`The model worker failed to start (${file}): ${e.message || "script error"}`));
  }));
  failed.catch(() => {}); // an error after a good start is not a load failure
  return failed;
}
