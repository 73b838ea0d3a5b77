// The page side of `webslm bench --profile`: WebLLM loads the build with the profiler
// installed, then each phase's dispatches are recorded through WebLLM's own API calls:
// the prefill call (all chunks, then sampling the first token), and decode calls one token
// at a time, greedily and again at temperature 0.7 / top-p 0.9 (a reload with that config).
import { installProfiler, recordDispatches, whileLoading, weightBufferIds } from "./profile.js";

const GREEDY = { temperature: 0, top_p: 1, repetition_penalty: 1, presence_penalty: 0, frequency_penalty: 0 };
const SAMPLED = { ...GREEDY, temperature: 0.7, top_p: 0.9 };
const now = () => performance.now() / 1000;

export async function runProfile(cfg, log) {
  installProfiler();
  const webllm = await import(cfg.webllm_url);
  const record = { model: cfg.model_url, model_id: cfg.model_id, model_lib: cfg.lib_url };
  if (cfg.required_features) record.required_features = cfg.required_features;
  const result = { adapter: null, phases: [] };
  const adapter = await navigator.gpu.requestAdapter();
  if (adapter && adapter.info) result.adapter = { vendor: adapter.info.vendor, architecture: adapter.info.architecture };
  log("webllm: load");
  let t0 = now();
  const engine = await whileLoading(() => webllm.CreateMLCEngine(cfg.model_id, { appConfig: { model_list: [record] }, logLevel: "WARN" }, GREEDY));
  result.load_s = now() - t0;
  for (const [sampling, chatOpts] of [["greedy", GREEDY], ["t0.7_p0.9", SAMPLED]]) {
    if (sampling !== "greedy") await whileLoading(() => engine.reload(cfg.model_id, chatOpts));
    await engine.resetChat();
    log(`webllm: ${sampling}: prefill ${cfg.prompt_ids.length} tokens, ${cfg.new_tokens} decoded`);
    t0 = now();
    let { value: token, dispatches } = await recordDispatches(() => engine.forwardTokensAndSample(cfg.prompt_ids, true));
    result.phases.push({ phase: "prefill", sampling, tokens: cfg.prompt_ids.length, seconds: now() - t0, dispatches, token });
    for (let i = 0; i < cfg.new_tokens; i++) {
      t0 = now();
      ({ value: token, dispatches } = await recordDispatches(() => engine.forwardTokensAndSample([token], false)));
      result.phases.push({ phase: "decode", sampling, tokens: 1, seconds: now() - t0, dispatches, token });
    }
  }
  result.weight_buffers = weightBufferIds();
  await engine.unload();
  return result;
}
