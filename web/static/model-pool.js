// The models under Prompt API sessions: createChat()'s chat, loaded once per page for each
// set of createChat options and shared by every session on it, unloaded when its last
// session goes. One engine answers one request at a time, so requests queue in call order.

import { createChat } from "./chat-client.js";

/** Which loaded model createChat `options` name. */
export const keyOf = (options) => JSON.stringify([options.model ?? "", options.baseUrl ?? "", options.engine ?? "", options.dtype ?? ""]);

/** key -> {chat (a promise), sessions, listeners (load progress), tail (the request queue)} */
export const models = new Map();

/** The model for createChat `options`, loading it unless it is loaded or loading; the
 * caller holds it until release(). `onProgress` hears this load's progress. */
export function acquire(options, onProgress) {
  const key = keyOf(options);
  let model = models.get(key);
  if (!model) {
    model = { key, sessions: 0, listeners: new Set(), tail: Promise.resolve(), loaded: false };
    models.set(key, model);
  }
  model.sessions += 1;
  if (onProgress) model.listeners.add(onProgress);
  if (!model.chat) { // after the listener is in: createChat may report at once
    model.chat = createChat({ ...options, onProgress: (p) => { for (const listen of model.listeners) listen(p); options.onProgress?.(p); } });
    model.chat.then(() => { model.loaded = true; }, () => { if (models.get(key) === model) models.delete(key); });
  }
  return model;
}

/** A session let go of its model: the last one unloads it, once its queue has drained
 * (destroy() has interrupted the answer under way). */
export async function release(model) {
  model.sessions -= 1;
  if (model.sessions > 0) return;
  if (models.get(model.key) === model) models.delete(model.key);
  const chat = await model.chat.catch(() => null);
  await model.tail;
  await chat?.unload().catch(() => {});
}

/** Run `job` when the model is free, in call order; a signal aborted while queued drops it. */
export function enqueue(model, signal, job) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return; }
    let started = false;
    const dropped = () => { if (!started) reject(signal.reason); };
    signal.addEventListener("abort", dropped, { once: true });
    model.tail = model.tail.then(async () => {
      signal.removeEventListener("abort", dropped);
      if (signal.aborted) return;
      started = true;
      try { resolve(await job()); } catch (err) { reject(err); }
    });
  });
}

/** `work(chat)` with the engine interrupted when `signal` aborts; rejects with its reason. */
export async function interruptible(chat, signal, work) {
  const stop = () => chat.interrupt();
  signal.addEventListener("abort", stop, { once: true });
  try {
    const result = await work();
    signal.throwIfAborted();
    return result;
  } catch (err) {
    signal.throwIfAborted(); // what an interrupted engine throws is the abort's doing
    throw err;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

// What the engines say when a prompt does not fit their context (llama.cpp, WebLLM).
const CONTEXT_FULL = /does not fit in the context|exceeds? (the )?(available )?context|ContextWindowSizeExceeded/i;

/** How many tokens the engine reads for `messages`, template tokens included; Infinity when
 * the engine refuses them as longer than its context. WebLLM counts only what it has not
 * cached, so its conversation is reset first. */
export async function countTokens(chat, messages) {
  if (chat.countTokens) return chat.countTokens(messages); // the engine host: reset and count in one turn
  if (chat.engine === "webllm") await chat.resetChat();
  try {
    const reply = await chat.chat.completions.create({ messages, max_tokens: 1, temperature: 0, stream: false });
    return reply.usage?.prompt_tokens ?? 0;
  } catch (err) {
    if (CONTEXT_FULL.test(String(err?.message ?? err))) return Infinity;
    throw err;
  }
}

