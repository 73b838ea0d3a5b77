// LanguageModel: the Prompt API's shape (webmachinelearning/prompt-api, Chrome's built-in
// model) over a model a webslm site serves, so code written for the built-in API runs
// unchanged on webslm's engines:
//
//   import { installLanguageModel } from "https://example.com/webslm/webslm.js";
//   installLanguageModel();            // globalThis.LanguageModel, unless the browser has one
//   const session = await LanguageModel.create({ monitor: (m) => m.addEventListener("downloadprogress", ...) });
//   const json = await session.prompt(text, { responseConstraint: schema });
//
// A session is a conversation on a model shared with the page's other sessions
// (model-pool.js): create() and clone() of a loaded model cost no download. Token counts
// (contextUsage, measureContextUsage) are the engine's own, template tokens included.
// prompt() counts before it answers, to keep within the context window: llama.cpp (wllama)
// reuses the counted prefix, the other engines read it again.

import { loadModels } from "./models.js";
import { probeGPU } from "./gpu.js";
import { chooseEngine, contextOf, engineFromUrl, dtypeFromUrl, isOnnx } from "./engines.js";
import { cachedState } from "./build-cache.js";
import { CreateMonitor } from "./create-monitor.js";
import { acquire, countTokens, enqueue, interruptible, keyOf, models, release } from "./model-pool.js";
import { PARAMS, abortError, asksBeyondText, canonicalPrompt, constraintOf, domError, loadError, quotaExceeded,
  estimateTokens, requestMessages, samplingOf } from "./prompt-input.js";

/** createChat's options for every create(): installLanguageModel's. */
let defaults = {};
const chatOptions = () => ({ ...defaults });
const CREATING = Symbol("webslm LanguageModel");

/** A conversation with a model a webslm site serves, shaped as the Prompt API's LanguageModel. */
export class LanguageModel extends EventTarget {
  #model; #chat; #sampling;
  #initial; #history = [];
  #usage; #initialUsage;
  #destroyed = new AbortController();
  oncontextoverflow = null; onquotaoverflow = null;

  constructor(token, { model, chat, initial, usage, sampling }) {
    super();
    if (token !== CREATING) throw new TypeError("Use LanguageModel.create().");
    this.#model = model;
    this.#chat = chat;
    this.#initial = initial;
    this.#usage = usage;
    this.#initialUsage = usage;
    this.#sampling = sampling;
  }

  /** "unavailable", "downloadable", "downloading" or "available" for these options. */
  static async availability(options = {}) {
    if (asksBeyondText(options)) return "unavailable";
    const settings = chatOptions();
    const loading = models.get(keyOf(settings));
    if (loading) return loading.loaded ? "available" : "downloading";
    try {
      const listing = settings.listing || await loadModels(settings.baseUrl);
      const gpu = settings.gpu || await probeGPU();
      const choice = chooseEngine(listing.models, gpu, { wanted: settings.model ?? "",
        engine: settings.engine ?? engineFromUrl(), dtype: settings.dtype ?? dtypeFromUrl(), task: settings.task });
      if (!choice.engine) return "unavailable";
      if (typeof caches === "undefined") return "downloadable";
      const held = await cachedState(choice.build, listing.base);
      return (isOnnx(choice.build) ? held.dtypes.includes(choice.dtype) : held.complete) ? "available" : "downloadable";
    } catch {
      return "unavailable"; // no model list here, or no way to run it
    }
  }

  /** The sampling parameters' defaults and limits. */
  static async params() {
    return { ...PARAMS };
  }

  /** Load the model (or join the one loaded) and open a session. */
  static async create(options = {}) {
    const signal = options.signal ?? new AbortController().signal;
    signal.throwIfAborted();
    const sampling = samplingOf(options);
    const initial = options.initialPrompts?.length ? canonicalPrompt(options.initialPrompts) : [];
    if (await LanguageModel.availability(options) === "unavailable") {
      throw domError("NotSupportedError", "No model of this site runs in this browser with these options (text in and out, no tools).");
    }
    signal.throwIfAborted();
    const monitor = new CreateMonitor();
    if (typeof options.monitor === "function") options.monitor(monitor);
    monitor.report(0);
    // The spec's `loaded` is the download: the engine's download stage, then 1 once loaded.
    const onProgress = (p) => { if (!signal.aborted && p.stage === "download" && p.fraction < 1) monitor.report(p.fraction); };
    const model = acquire(chatOptions(), onProgress);
    let chat;
    try {
      chat = await Promise.race([model.chat.catch((err) => { throw loadError(err); }), new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      })]);
      model.listeners.delete(onProgress);
      monitor.report(1);
      let usage = 0;
      if (initial.length) {
        usage = await enqueue(model, signal, () => interruptible(chat, signal, () => countTokens(chat, initial)));
        const window = contextOf(chat.choice) ?? Infinity;
        if (usage > window) throw quotaExceeded(Number.isFinite(usage) ? usage : estimateTokens(initial, [], 0, window), window);
      }
      const session = new LanguageModel(CREATING, { model, chat, initial, usage, sampling });
      signal.addEventListener("abort", () => session.destroy(), { once: true });
      return session;
    } catch (err) {
      model.listeners.delete(onProgress);
      release(model);
      throw err;
    }
  }

  get contextUsage() { return this.#usage; }
  get contextWindow() { return contextOf(this.#chat.choice) ?? Infinity; }
  /** The names before the spec's rename (what Chrome extensions still use). */
  get inputUsage() { return this.contextUsage; }
  get inputQuota() { return this.contextWindow; }
  get temperature() { return this.#sampling.temperature; }
  get topK() { return this.#sampling.topK; }
  get samplingMode() { return this.#sampling.samplingMode; }

  /** The model's answer to `input`, as a string. */
  async prompt(input, options = {}) {
    let answer = "";
    for await (const piece of this.#answer(input, options)) answer += piece;
    return answer;
  }

  /** The model's answer to `input`, as a ReadableStream of text pieces. */
  promptStreaming(input, options = {}) {
    this.#live();
    const pieces = this.#answer(input, options);
    return new ReadableStream({
      async pull(controller) {
        try {
          const { value, done } = await pieces.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (err) {
          controller.error(err);
        }
      },
      async cancel() { await pieces.return(); },
    });
  }

  /** Add `input` to the conversation without an answer (it is read, and counted, now). */
  async append(input, options = {}) {
    this.#live();
    const messages = canonicalPrompt(input, { hasHistory: this.#hasHistory() });
    const signal = this.#signal(options.signal);
    await this.#run(signal, async () => {
      const total = await this.#countWithRoom(() => [...this.#conversation(), ...messages], messages);
      signal.throwIfAborted();
      this.#history.push(...messages);
      this.#usage = total;
    });
  }

  /** How many tokens `input` would add to the conversation (its template tokens included). */
  async measureContextUsage(input, options = {}) {
    this.#live();
    const messages = canonicalPrompt(input, { hasHistory: this.#hasHistory() });
    const schema = constraintOf(options);
    const signal = this.#signal(options.signal);
    const total = await this.#run(signal, () => countTokens(this.#chat,
      requestMessages(this.#conversation(), messages, schema, options.omitResponseConstraintInput)));
    return Math.max(0, total - this.#usage);
  }

  measureInputUsage(input, options) { return this.measureContextUsage(input, options); }

  /** A new session with this one's conversation and settings, on the same loaded model. */
  async clone(options = {}) {
    this.#live();
    this.#signal(options.signal).throwIfAborted();
    this.#model.sessions += 1;
    const session = new LanguageModel(CREATING, { model: this.#model, chat: this.#chat, initial: this.#initial,
      usage: this.#usage, sampling: this.#sampling });
    session.#history = [...this.#history];
    session.#initialUsage = this.#initialUsage;
    options.signal?.addEventListener("abort", () => session.destroy(), { once: true });
    return session;
  }

  /** End the session: its pending calls reject with an AbortError, later ones with an
   * InvalidStateError, and the model unloads once no session uses it. */
  destroy() {
    if (this.#destroyed.signal.aborted) return;
    this.#destroyed.abort(abortError("The session was destroyed."));
    release(this.#model);
  }

  // ---- internals ----

  #live() {
    if (this.#destroyed.signal.aborted) throw domError("InvalidStateError", "The session has been destroyed.");
  }

  #hasHistory() { return this.#initial.length + this.#history.length > 0; }
  #conversation() { return [...this.#initial, ...this.#history]; }

  /** The call's signals joined with the session's own (destroy() aborts it). */
  #signal(...signals) {
    return AbortSignal.any([this.#destroyed.signal, ...signals.filter(Boolean)]);
  }

  /** `work` in the model's queue, interrupted when `signal` aborts. */
  #run(signal, work) {
    signal.throwIfAborted();
    return enqueue(this.#model, signal, () => interruptible(this.#chat, signal, work));
  }

  /** The tokens of the conversation `build()` returns, after making room for `added` (the
   * new messages): the oldest exchanges after the initial prompts go (contextoverflow fires);
   * when even that is not enough, QuotaExceededError and nothing goes. */
  async #countWithRoom(build, added) {
    const window = this.contextWindow;
    let total = await countTokens(this.#chat, build());
    if (total <= window) return total;
    const requested = Number.isFinite(total) ? total - this.#usage : estimateTokens(added, this.#conversation(), this.#usage, window - this.#usage);
    if (requested > window - this.#initialUsage || !this.#history.length) throw quotaExceeded(requested, window - this.#usage);
    const kept = [...this.#history];
    while (total > window && this.#history.length) {
      this.#history.splice(0, this.#history[0].role === "user" && this.#history[1]?.role === "assistant" ? 2 : 1);
      total = await countTokens(this.#chat, build());
    }
    if (total > window) {
      this.#history = kept;
      throw quotaExceeded(requested, window - this.#usage);
    }
    for (const name of ["contextoverflow", "quotaoverflow"]) {
      const event = new Event(name);
      this[`on${name}`]?.call(this, event);
      this.dispatchEvent(event);
    }
    return total;
  }

  /** The answer's pieces as the engine writes them; the exchange joins the conversation only
   * when the answer is complete (an aborted one leaves no trace). */
  async *#answer(input, options) {
    this.#live();
    const messages = canonicalPrompt(input, { hasHistory: this.#hasHistory() });
    const schema = constraintOf(options, this.#chat.engine);
    const cancelled = new AbortController();
    const signal = this.#signal(options.signal, cancelled.signal);
    signal.throwIfAborted();
    const queue = [];
    let wake = null;
    const push = (item) => { queue.push(item); wake?.(); };
    const build = () => requestMessages(this.#conversation(), messages, schema, options.omitResponseConstraintInput);
    this.#run(signal, async () => {
      const total = await this.#countWithRoom(build, messages);
      const room = Number.isFinite(this.contextWindow) ? this.contextWindow - total : 4096;
      const request = {
        messages: build(), stream: true, stream_options: { include_usage: true }, top_p: 1,
        temperature: this.#sampling.topK === 1 ? 0 : this.#sampling.temperature,
        max_tokens: Math.max(1, Math.min(room, options.webslm?.maxTokens ?? room)),
        ...(schema ? { response_format: { type: "json_object", schema: JSON.stringify(schema) } } : {}),
        ...(options.webslm?.copy ? { webslm: { copy: options.webslm.copy } } : {}),
      };
      let text = "";
      let completion = 0;
      for await (const chunk of await this.#chat.chat.completions.create(request)) {
        if (chunk.usage) completion = chunk.usage.completion_tokens ?? completion;
        const piece = chunk.choices?.[0]?.delta?.content;
        if (piece && !signal.aborted) { text += piece; push({ piece }); }
      }
      signal.throwIfAborted();
      this.#history.push(...messages, { role: "assistant", content: text });
      this.#usage = total + completion;
    }).then(() => push({ end: true }), (error) => push({ error }));
    let ended = false;
    try {
      for (;;) {
        while (!queue.length) await new Promise((resolve) => { wake = resolve; });
        const item = queue.shift();
        if (item.end) { ended = true; return; }
        if ("error" in item) { ended = true; throw item.error; }
        yield item.piece;
      }
    } finally {
      if (!ended) cancelled.abort(abortError("The answer's stream was cancelled."));
    }
  }
}

/**
 * Set globalThis.LanguageModel to webslm's where the browser has none (or, with
 * `replaceBuiltIn`, in place of the browser's own: Chromium builds expose one whose model
 * service may not run), and make the other `options` (createChat's: model, baseUrl, engine,
 * ...) what every create() loads. Returns globalThis.LanguageModel.
 */
export function installLanguageModel({ replaceBuiltIn = false, ...options } = {}) {
  defaults = options;
  if (replaceBuiltIn || !("LanguageModel" in globalThis)) globalThis.LanguageModel = LanguageModel;
  return globalThis.LanguageModel;
}
