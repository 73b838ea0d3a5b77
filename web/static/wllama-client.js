// The wllama engine (llama.cpp compiled to WASM) behind the same chat object WebLLM gets in
// webllm-client.js and transformers.js gets in tjs-client.js: chat.completions.create (streamed
// or not), interrupt, resetChat, unload, greedyIds (text prompts only). It runs the Q8_0 GGUF an ONNX build
// carries under gguf/ on the CPU; wllama runs llama.cpp in its own Web Worker.
//
// The GGUF is downloaded here, not by wllama: verified against the build's SHA-256 while it
// streams into the same Cache Storage as the ONNX files (integrity.js, build-cache.js), then
// handed to wllama as a Blob, so it is downloaded once and checked like every other file.
//
// response_format {type: "json_object", schema} becomes a GBNF grammar (json-grammar.js) for
// the flat objects forms produce, with the webslm.copy = {text, fields} extension: those
// fields can only be spans of whole words of the text. Other schemas go to llama.cpp as
// response_format {type: "json_schema"}, where webslm.copy is not honoured.

import { importWllama, wllamaWasmUrl } from "./engine-modules.js";
import { SITE_ROOT } from "./models.js";
import { ONNX_CACHE } from "./build-cache.js";
import { contextOf } from "./engines.js";
import { fileTable, prepareCaches, verifiedBlob, verifiedResponse } from "./integrity.js";
import { canConstrain } from "./json-constraint.js";
import { schemaGrammar } from "./json-grammar.js";

const now = () => performance.now() / 1000;

/** The GGUF files of `plan` (a choice from engines.js), first shard first: [{name, url, sha256, bytes}]. */
function ggufFiles(plan, base) {
  const entry = plan.build.gguf?.[plan.dtype];
  if (!entry) throw new Error(`${plan.build.id} has no ${plan.dtype} GGUF for wllama`);
  const names = entry.files?.length ? entry.files : [entry.file];
  const listed = Object.fromEntries(names.map((name) => [name, plan.build.files?.[name]]));
  const unlisted = names.filter((name) => !listed[name]?.sha256);
  if (unlisted.length) throw new Error(`${plan.build.id}'s manifest does not list ${unlisted.join(", ")} with a SHA-256`);
  const folder = new URL(plan.build.url, base).href;
  return [...fileTable(folder.endsWith("/") ? folder : `${folder}/`, listed).values()];
}

/** The GGUF files as Blobs: from the cache when verified there, else downloaded and verified. */
async function fetchGguf(files, onProgress, signal) {
  const total = files.reduce((n, f) => n + f.bytes, 0);
  const done = new Map();
  const report = (file, loaded) => {
    done.set(file.url, loaded);
    const sum = [...done.values()].reduce((n, b) => n + b, 0);
    onProgress?.({ stage: "download", label: "Downloading the GGUF model", fraction: total ? sum / total : 0,
      loadedBytes: sum, totalBytes: total, text: `progress ${file.name}` });
  };
  if (typeof caches === "undefined") { // an insecure origin: hashed in memory, not kept
    return Promise.all(files.map((f) => verifiedBlob(f, { onProgress: (loaded) => report(f, loaded), signal })));
  }
  const cache = await caches.open(ONNX_CACHE);
  await prepareCaches([ONNX_CACHE], new Map(files.map((f) => [f.url, f])));
  const blobs = [];
  for (const file of files) { // one at a time: each is hashed as it streams into the cache
    const response = await verifiedResponse(cache, file, { onProgress: (loaded) => report(file, loaded), signal });
    report(file, file.bytes);
    blobs.push(await response.blob());
  }
  return blobs;
}

/** A JSON schema from an OpenAI-style response_format, or null. */
function schemaOf(format) {
  if (!format || format.type !== "json_object" || !format.schema) return null;
  return typeof format.schema === "string" ? JSON.parse(format.schema) : format.schema;
}

/** wllama's finish reasons are OpenAI's; an interrupted answer ends with "abort" (as WebLLM's). */
const usageOf = (usage, extra) => ({ prompt_tokens: usage?.prompt_tokens ?? 0,
  completion_tokens: usage?.completion_tokens ?? 0, total_tokens: usage?.total_tokens ?? 0, extra });

/**
 * Load the GGUF of `plan` (engines.js's choice for "wllama": {build, dtype, threads}) with
 * wllama. `base` resolves the build's URL; `wasmUrl` is wllama's WASM file (default: this
 * site's vendor/wllama/wasm/wllama.wasm). Resolves to the chat object.
 */
export async function createWllamaChat(plan, { base = SITE_ROOT, onProgress, wasmUrl = wllamaWasmUrl(SITE_ROOT) } = {}) {
  const t0 = now();
  const files = ggufFiles(plan, base);
  const [{ Wllama }, blobs] = await Promise.all([importWllama(), fetchGguf(files, onProgress)]);
  onProgress?.({ stage: "load", label: "Loading the model into llama.cpp (WASM)", fraction: 1, text: "loading" });
  const wllama = new Wllama({ default: wasmUrl }, { suppressNativeLog: true });
  wllama.setCompat?.(null); // never the compatibility build from a CDN (engines.js checks the browser)
  const context = contextOf(plan);
  try {
    await wllama.loadModel(blobs, { n_ctx: context, n_threads: plan.threads || 1, n_gpu_layers: 0,
      n_batch: 512, n_parallel: 1, warmup: false });
  } catch (err) {
    await wllama.exit().catch(() => {});
    throw err;
  }
  const info = { engine: "wllama", device: "wasm", dtype: plan.dtype, threads: wllama.getNumThreads(),
    multithread: wllama.isMultithread(), context, loadSeconds: now() - t0 };
  onProgress?.({ stage: "ready", label: "Ready", fraction: 1, text: "ready" });

  let controller = null;
  const model = plan.build.id;

  function params(request) {
    const schema = schemaOf(request.response_format);
    const sampling = (request.temperature ?? 0) <= 0
      ? { temperature: 0, temp: 0, top_k: 1 } // greedy
      : { temperature: request.temperature, temp: request.temperature, top_p: request.top_p ?? 1 };
    const out = { messages: request.messages, max_tokens: request.max_tokens ?? 512, ...sampling,
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      ...(request.stop ? { stop: request.stop } : {}), cache_prompt: true };
    if (schema && canConstrain(schema)) out.grammar = schemaGrammar(schema, { copy: request.webslm?.copy });
    else if (schema) out.response_format = { type: "json_schema", json_schema: { name: "answer", schema } };
    else if (request.response_format?.type === "json_object") out.response_format = { type: "json_object" };
    return out;
  }

  async function create(request) {
    controller = new AbortController();
    const signal = controller.signal;
    const created = Math.floor(Date.now() / 1000);
    const started = now();
    if (!request.stream) {
      let reply;
      try {
        reply = await wllama.createChatCompletion({ ...params(request), stream: false, abortSignal: signal });
      } catch (err) {
        if (err?.name !== "WllamaAbortError") throw err;
        return { object: "chat.completion", created, model, usage: usageOf(null, {}),
          choices: [{ index: 0, finish_reason: "abort", message: { role: "assistant", content: "" } }] };
      }
      const choice = reply.choices[0];
      return { object: "chat.completion", created, model,
        usage: usageOf(reply.usage, { e2e_latency_s: now() - started }),
        choices: [{ index: 0, finish_reason: choice.finish_reason, message: { role: "assistant", content: choice.message.content ?? "" } }] };
    }
    // Streamed: chunks as llama.cpp decodes, then the finish reason, then usage.
    const stream = await wllama.createChatCompletion({ ...params(request), stream: true, abortSignal: signal,
      stream_options: { include_usage: true } });
    return relay(stream, request, { object: "chat.completion.chunk", created, started },
      (c) => c.delta?.content, (text) => (text == null ? {} : { content: text }), "delta");
  }

  /** llama.cpp's stream as OpenAI chunks: each decoded piece (`pieceOf` a choice), then the
   * finish reason ("abort" when interrupted), then usage if asked for. `as(text)` is the
   * choice's `field` (a chat delta, a completion's text; null text: the closing chunk). */
  function relay(stream, request, { object, created, started }, pieceOf, as, field) {
    const chunk = (text, finish_reason = null) => ({ object, created, model,
      choices: [{ index: 0, [field]: as(text), finish_reason }] });
    return (async function* pieces() {
      let finish = null;
      let usage = null;
      let first = null;
      try {
        for await (const part of stream) {
          if (part.usage) usage = part.usage;
          const c = part.choices?.[0];
          if (!c) continue;
          const piece = pieceOf(c);
          if (piece) {
            first ??= now();
            yield chunk(piece);
          }
          if (c.finish_reason) finish = c.finish_reason;
        }
      } catch (err) {
        if (err?.name !== "WllamaAbortError") throw err;
        finish = "abort";
      }
      yield chunk(null, finish || "stop");
      if (request.stream_options?.include_usage) {
        yield { object, created, model, choices: [],
          usage: usageOf(usage, { time_to_first_token_s: (first ?? now()) - started, e2e_latency_s: now() - started }) };
      }
    })();
  }

  async function createCompletion(request) {
    controller = new AbortController();
    const signal = controller.signal;
    const created = Math.floor(Date.now() / 1000);
    const started = now();
    const { messages: _none, ...sampling } = params({ ...request, messages: undefined });
    const stream = await wllama.createCompletion({ ...sampling, prompt: request.prompt, stream: true,
      abortSignal: signal, stream_options: { include_usage: true } });
    return relay(stream, request, { object: "text_completion", created, started },
      (c) => c.text, (text) => text ?? "", "text");
  }

  return {
    model,
    engine: "wllama",
    info,
    wllama,
    chat: { completions: { create } },
    // Plain text continuation, for a base model ({prompt, stream, max_tokens, temperature, top_p}):
    // llama.cpp tokenizes the prompt with the GGUF's own BOS, so the record's prefix is empty.
    completions: { create: createCompletion },
    /** Stop the current answer; a stream then ends with finish_reason "abort". */
    interrupt: () => controller?.abort(),
    resetChat: async () => {}, // every request carries its whole conversation (llama.cpp reuses its cached prefix)
    /** Greedy continuation of `prompt` (text; no chat template): for parity checks and
     * benchmarks. wllama 3.13 takes no token-id prompts (an id array crashes its worker) and
     * returns no ids, so this takes text and resolves to {text, ids: null, usage}. */
    async greedyIds(prompt, maxTokens, { ignoreEos = false } = {}) {
      if (typeof prompt !== "string") throw new TypeError("wllama takes a text prompt, not token ids (greedyIds)");
      const started = now();
      const reply = await wllama.createCompletion({ prompt, max_tokens: maxTokens, temperature: 0, temp: 0, top_k: 1,
        ignore_eos: ignoreEos, cache_prompt: false, stream: false });
      const timings = reply.timings || null;
      return { text: reply.choices[0].text, ids: null, usage: { prompt_tokens: reply.usage?.prompt_tokens ?? timings?.prompt_n ?? null,
        completion_tokens: reply.usage?.completion_tokens ?? timings?.predicted_n ?? null,
        extra: { time_to_first_token_s: timings ? timings.prompt_ms / 1000 : null, e2e_latency_s: now() - started, timings } } };
    },
    /** Free the WASM memory and stop wllama's worker. The chat object is unusable afterwards. */
    async unload() {
      controller?.abort();
      await wllama.exit();
    },
  };
}
