// Test page driver: loads the unmodified WebLLM engine and runs one model, for Playwright.
// Everything ends up in window.__webslmResult (never thrown), so a failing model yields an
// error string and the logs instead of a hung test.

const status = (text) => {
  window.__webslmStage = text;
  const el = document.getElementById("status");
  if (el) el.textContent = text;
};

const errorText = (e) =>
  e instanceof Error ? `${e.name}: ${e.message}` : typeof e === "string" ? e : JSON.stringify(e);

// WebGPU adapter facts: what the compiled kernels may rely on.
window.webslmAdapter = async () => {
  const out = { secure_context: window.isSecureContext, has_gpu: !!navigator.gpu };
  if (!navigator.gpu) return out;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
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
};

// Import the engine module; report its exports or the import error.
window.webslmImport = async (webllmUrl) => {
  try {
    const mod = await import(webllmUrl);
    return { exports: Object.keys(mod).sort() };
  } catch (e) {
    return { error: errorText(e) };
  }
};

async function run(cfg) {
  const result = { progress: [], stage_times: {} };
  window.__webslmProgress = result.progress;
  const t0 = performance.now();
  const mark = (name) => (result.stage_times[name] = (performance.now() - t0) / 1000);
  try {
    status("adapter");
    result.adapter_info = await window.webslmAdapter();
    status("import");
    const webllm = await import(cfg.webllm_url);
    const record = { model: cfg.model_url, model_id: cfg.model_id, model_lib: cfg.lib_url };
    if (cfg.required_features) record.required_features = cfg.required_features;
    if (cfg.overrides) record.overrides = cfg.overrides;
    status("load");
    const engine = await webllm.CreateMLCEngine(
      cfg.model_id,
      {
        appConfig: { model_list: [record] },
        initProgressCallback: (r) => result.progress.push(r.text),
        logLevel: cfg.log_level || "INFO",
      },
      cfg.chat_opts || undefined,
    );
    mark("loaded");
    const pipeline = engine.loadedModelIdToPipeline && engine.loadedModelIdToPipeline.get(cfg.model_id);
    if (cfg.messages) {
      status("chat");
      const reply = await engine.chat.completions.create({
        messages: cfg.messages, max_tokens: cfg.max_tokens, ...cfg.sampling, ...cfg.request_extra,
      });
      result.text = reply.choices[0].message.content;
      result.finish_reason = reply.choices[0].finish_reason;
      result.usage = reply.usage;
      if (pipeline) result.chat_token_ids = Array.from(pipeline.outputIds || []);
      mark("chat");
    }
    if (cfg.token_ids_prompt) {
      status("tokens");
      await engine.resetChat();
      const ids = [];
      let next = await engine.forwardTokensAndSample(cfg.token_ids_prompt, true);
      ids.push(next);
      while (ids.length < cfg.n_tokens) {
        next = await engine.forwardTokensAndSample([next], false);
        ids.push(next);
      }
      result.token_ids = ids;
      mark("tokens");
    }
    if (cfg.encode_texts && pipeline) {
      result.encoded = cfg.encode_texts.map((t) => Array.from(pipeline.tokenizer.encode(t)));
    }
    await engine.unload();
    status("done");
  } catch (e) {
    result.error = errorText(e);
    result.error_stack = e && e.stack ? String(e.stack) : undefined;
    result.failed_stage = window.__webslmStage;
    status("failed");
  }
  result.seconds = (performance.now() - t0) / 1000;
  window.__webslmResult = result;
}

// Start a run without awaiting it; Python polls window.__webslmResult with its own timeout.
window.webslmStart = (cfg) => {
  window.__webslmResult = undefined;
  run(cfg);
  return true;
};

status("ready");
window.__webslmReady = true;
