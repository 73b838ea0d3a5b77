// A stand-in for `new Worker(url, {type: "module"})` in the engine host when it is a
// SharedWorker: Chromium has no Worker constructor there, and wllama starts llama.cpp in a
// worker of its own (a blob module that talks through the global postMessage and onmessage).
// The module runs in this thread instead, with those two globals wired to the stand-in, so
// only one can run at a time (the host holds one wllama model; a second is refused).
// Messages go by reference, not cloned: what the worker side is handed it only reads.

let running = null;

class InThreadWorker extends EventTarget {
  #ready;

  constructor(url) {
    super();
    if (running) throw new Error("The engine host runs one wllama model at a time.");
    running = this;
    this.onmessage = null;
    this.onerror = null;
    globalThis.postMessage = (data) => setTimeout(() => this.#emit(new MessageEvent("message", { data })));
    globalThis.onmessage = null; // declared: the module (strict) assigns it as a worker's global
    this.#ready = import(/* @vite-ignore */ /* webpackIgnore: true */ String(url)).catch((err) => {
      this.#emit(Object.assign(new Event("error"), { message: err?.message || String(err) }));
      throw err;
    });
    this.#ready.catch(() => {});
  }

  #emit(event) {
    if (running !== this) return;
    this[`on${event.type}`]?.(event);
    this.dispatchEvent(event);
  }

  postMessage(data) {
    this.#ready.then(() => setTimeout(() => {
      if (running === this) globalThis.onmessage?.(new MessageEvent("message", { data }));
    }), () => {});
  }

  terminate() {
    if (running !== this) return;
    running = null;
    delete globalThis.onmessage;
    delete globalThis.postMessage;
  }
}

/** Give this realm a Worker constructor for module workers where it has none. */
export function installInThreadWorker() {
  if (typeof globalThis.Worker !== "function") globalThis.Worker = InThreadWorker;
}
