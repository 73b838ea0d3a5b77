// One WebLLM run for the tests, shared by both rigs: the Chromium test page
// (webllm_page.js, SwiftShader) and Node on Dawn (webllm_node.mjs, lavapipe with shader-f16).
// Everything ends up in the returned result (never thrown), so a failing model yields an
// error string and the logs instead of a hung test.

const errorText = (e) =>
  e instanceof Error ? `${e.name}: ${e.message}` : typeof e === "string" ? e : JSON.stringify(e);

/** WebGPU adapter facts: what the compiled kernels may rely on. */
export async function adapterFacts(gpu) {
  const out = { has_gpu: !!gpu };
  if (!gpu) return out;
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return { ...out, adapter: null };
  const info = adapter.info || {};
  const limits = {};
  for (const key in adapter.limits) limits[key] = adapter.limits[key];
  return {
    ...out,
    info: {
      vendor: info.vendor, architecture: info.architecture,
      device: info.device, description: info.description,
    },
    features: [...adapter.features].sort(),
    limits,
  };
}

/** Count compute dispatches (direct and indirect) from now on; take() returns and resets. */
function countDispatches() {
  const proto = globalThis.GPUComputePassEncoder && GPUComputePassEncoder.prototype;
  if (!proto) return { take: () => null, stop: () => {} };
  let n = 0;
  const saved = {};
  for (const name of ["dispatchWorkgroups", "dispatchWorkgroupsIndirect"]) {
    saved[name] = proto[name];
    proto[name] = function (...args) { n += 1; return saved[name].apply(this, args); };
  }
  return {
    take: () => { const got = n; n = 0; return got; },
    stop: () => Object.assign(proto, saved),
  };
}

/**
 * Load cfg.model_id in the unmodified engine (`webllm`, the imported module) and run what cfg
 * asks: chat requests (cfg.messages, cfg.repeat times), a plain completion
 * (cfg.completion_prompt), greedy ids after a token prompt (cfg.token_ids_prompt), WebLLM's own
 * tokenization (cfg.encode_texts).
 * `status(text)` reports the stage; `progress` collects the load progress lines.
 */
export async function runWebLLM(cfg, { webllm, gpu, status = () => {}, progress = [] }) {
  const result = { progress, stage_times: {} };
  const t0 = performance.now();
  const mark = (name) => (result.stage_times[name] = (performance.now() - t0) / 1000);
  let stage = "adapter";
  const enter = (name) => { stage = name; status(name); };
  try {
    enter("adapter");
    result.adapter_info = await adapterFacts(gpu);
    const record = { model: cfg.model_url, model_id: cfg.model_id, model_lib: cfg.lib_url };
    if (cfg.required_features) record.required_features = cfg.required_features;
    if (cfg.overrides) record.overrides = cfg.overrides;
    enter("load");
    const engine = await webllm.CreateMLCEngine(
      cfg.model_id,
      {
        appConfig: { model_list: [record] },
        initProgressCallback: (r) => progress.push(r.text),
        logLevel: cfg.log_level || "INFO",
      },
      cfg.chat_opts || undefined,
    );
    mark("loaded");
    const pipeline = engine.loadedModelIdToPipeline && engine.loadedModelIdToPipeline.get(cfg.model_id);
    if (cfg.messages) {
      enter("chat");
      result.usages = [];  // cfg.repeat requests: the first compiles the shader pipelines
      for (let i = 0; i < (cfg.repeat || 1); i++) {
        const reply = await engine.chat.completions.create({
          messages: cfg.messages, max_tokens: cfg.max_tokens, ...cfg.sampling, ...cfg.request_extra,
        });
        result.text = reply.choices[0].message.content;
        result.finish_reason = reply.choices[0].finish_reason;
        result.usage = reply.usage;
        result.usages.push(reply.usage);
        mark(i ? `chat${i}` : "chat");
      }
      if (pipeline) result.chat_token_ids = Array.from(pipeline.outputIds || []);
    }
    if (cfg.completion_prompt) {
      enter("completion");
      const reply = await engine.completions.create({
        prompt: cfg.completion_prompt, max_tokens: cfg.max_tokens, ...cfg.sampling,
      });
      result.completion_text = reply.choices[0].text;
      if (pipeline) result.completion_token_ids = Array.from(pipeline.outputIds || []);
      mark("completion");
    }
    if (cfg.token_ids_prompt) {
      enter("tokens");
      await engine.resetChat();
      const ids = [];
      const dispatches = countDispatches();
      let next = await engine.forwardTokensAndSample(cfg.token_ids_prompt, true);
      ids.push(next);
      result.step_dispatches = [dispatches.take()];  // the prefill, then one per decoded token
      while (ids.length < cfg.n_tokens) {
        next = await engine.forwardTokensAndSample([next], false);
        ids.push(next);
        result.step_dispatches.push(dispatches.take());
      }
      dispatches.stop();
      result.token_ids = ids;
      mark("tokens");
    }
    if (cfg.encode_texts && pipeline) {
      result.encoded = cfg.encode_texts.map((t) => Array.from(pipeline.tokenizer.encode(t)));
    }
    await engine.unload();
    enter("done");
  } catch (e) {
    result.error = errorText(e);
    result.error_stack = e && e.stack ? String(e.stack) : undefined;
    result.failed_stage = stage;
    status("failed");
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
