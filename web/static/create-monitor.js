// The monitor LanguageModel.create() hands its `monitor` callback (the Prompt API's
// CreateMonitor): "downloadprogress" ProgressEvents whose `loaded` goes from 0 to 1.

/** A ProgressEvent (an Event with its fields where ProgressEvent is missing, as in Node). */
function progressEvent(loaded) {
  const init = { lengthComputable: true, loaded, total: 1 };
  if (typeof ProgressEvent === "function") return new ProgressEvent("downloadprogress", init);
  return Object.assign(new Event("downloadprogress"), init);
}

/** The monitor create() hands its `monitor` callback: downloadprogress events, loaded 0..1. */
export class CreateMonitor extends EventTarget {
  ondownloadprogress = null;
  #last = -1;

  /** Fire `loaded` (never going back, never twice the same value). */
  report(loaded) {
    if (!(loaded > this.#last)) return;
    this.#last = loaded;
    const event = progressEvent(loaded);
    this.ondownloadprogress?.call(this, event);
    this.dispatchEvent(event);
  }
}
