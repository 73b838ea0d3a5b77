// One small adapter per engine (WebLLM, wllama, transformers.js), all with the same shape, so
// every engine does the same work:
//   load() -> seconds; generate({ids, text}, newTokens) -> timings; unload().
// `text` is the same ids decoded, for engines that take no token ids (wllama); they report
// how many prompt tokens they saw, so a re-tokenization that differs shows in the results.
// Decoding is greedy everywhere and runs for exactly newTokens tokens (end-of-text ignored).

const GREEDY = { temperature: 0, top_p: 1, repetition_penalty: 1, presence_penalty: 0, frequency_penalty: 0 };
const now = () => performance.now() / 1000;

function webllmEngine(cfg) {
  let engine = null;
  return {
    name: "webllm",
    backend: "webgpu",
    async load() {
      const webllm = await import(cfg.webllm_url);
      const record = { model: cfg.model_url, model_id: cfg.model_id, model_lib: cfg.lib_url };
      if (cfg.required_features) record.required_features = cfg.required_features;
      const t0 = now();
      engine = await webllm.CreateMLCEngine(cfg.model_id, { appConfig: { model_list: [record] }, logLevel: "WARN" }, GREEDY);
      return now() - t0;
    },
    async generate({ ids: promptIds }, newTokens) {
      await engine.resetChat();
      const t0 = now();
      let token = await engine.forwardTokensAndSample(promptIds, true);
      const t1 = now();
      const ids = [token];
      while (ids.length < newTokens) {
        token = await engine.forwardTokensAndSample([token], false);
        ids.push(token);
      }
      const t2 = now();
      return { ttft_s: t1 - t0, prefill_s: t1 - t0, decode_s: t2 - t1, decoded: ids.length - 1, token_ids: ids };
    },
    async unload() {
      if (engine) await engine.unload();
      engine = null;
    },
  };
}

function wllamaEngine(cfg) {
  let wllama = null;
  return {
    name: "wllama",
    backend: "wasm",
    async load() {
      const { Wllama } = await import(cfg.wllama_url);
      wllama = new Wllama({ default: cfg.wllama_wasm_url }, { suppressNativeLog: true });
      const t0 = now();
      await wllama.loadModelFromUrl(cfg.gguf_url, {
        n_ctx: cfg.n_ctx, n_batch: 512, n_gpu_layers: 0, // the CPU (WASM) engine
        n_threads: cfg.threads || undefined, warmup: false,
      });
      return now() - t0;
    },
    async generate({ text }, newTokens) {
      let first = null;
      const t0 = now();
      let timings = null;
      const request = {
        max_tokens: newTokens, temp: 0, top_k: 1, ignore_eos: true, cache_prompt: false, stream: true,
        onData: (chunk) => {
          if (first === null && chunk.choices && chunk.choices[0] && chunk.choices[0].text) first = now();
          if (chunk.timings) timings = chunk.timings;
        },
      };
      await wllama.createCompletion({ ...request, prompt: text });
      const t2 = now();
      const prefill_s = timings ? timings.prompt_ms / 1000 : (first ?? t2) - t0;
      const decode_s = timings ? timings.predicted_ms / 1000 : t2 - (first ?? t0);
      return {
        ttft_s: (first ?? t2) - t0, prefill_s, decode_s,
        decoded: timings ? timings.predicted_n - 1 : newTokens - 1,
        prompt_tokens_seen: timings ? timings.prompt_n : null,
        threads: wllama.getNumThreads(),
      };
    },
    async unload() {
      if (wllama) await wllama.exit();
      wllama = null;
    },
  };
}

// transformers.js on our ONNX build, through webslm.js's own worker (tjs-client.js): the
// engine the chat page falls back to. cfg.onnx: {url, dtype, device}.
function transformersEngine(cfg) {
  let chat = null;
  return {
    name: "transformersjs",
    backend: cfg.onnx.device === "webgpu" ? "webgpu" : "wasm",
    async load() {
      const { createTransformersChat } = await import(cfg.tjs_client_url);
      const plan = { engine: `transformers-${cfg.onnx.device}`, build: { id: cfg.onnx.id, url: cfg.onnx.url, files: cfg.onnx.files },
        device: cfg.onnx.device, dtype: cfg.onnx.dtype, threads: cfg.threads || undefined, plainWasm: cfg.onnx.plain };
      const t0 = now();
      chat = await createTransformersChat(plan, { base: cfg.onnx.url });
      return now() - t0;
    },
    async generate({ ids: promptIds }, newTokens) {
      const t0 = now();
      const done = await chat.greedyIds(promptIds, newTokens, { ignoreEos: true });
      const t2 = now();
      const ttft = done.usage.extra.time_to_first_token_s;
      return { ttft_s: ttft, prefill_s: ttft, decode_s: t2 - t0 - ttft, decoded: done.ids.length - 1,
        token_ids: done.ids, threads: chat.info.threads };
    },
    async unload() {
      if (chat) await chat.unload();
      chat = null;
    },
  };
}

export const ENGINES = { webllm: webllmEngine, wllama: wllamaEngine, transformersjs: transformersEngine };
