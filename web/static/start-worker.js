// Start a module worker in a way both bundlers and plain browsers follow.
//
// Bundlers only recognise the literal `new Worker(new URL("./x.js", import.meta.url), {type:
// "module"})`, so each caller writes that line itself and hands it over as `create`. Browsers
// only start workers from same-origin scripts: when webslm's modules are served from another
// origin (an export on another host), a same-origin blob worker imports the real one instead (that
// origin must allow CORS).

/** `create()` when `moduleUrl` is same-origin, else a blob worker importing `file` next to it. */
export function startWorker(create, file, moduleUrl) {
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
