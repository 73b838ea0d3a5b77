// The measurement loop `webslm bench` drives: for one engine, cold load (the profile is new,
// so nothing is cached), warm load (unload, load again from the browser cache), then for each
// context length one greedy generation of the same prompt token ids. Several runs are
// separate browser launches, driven from Python.
import { ENGINES } from "./engines.js";
import { trackGpuBuffers, gpuBufferBytes, resetGpuPeak, jsHeapBytes } from "./memory.js";
import { gpuCopyBandwidth, cpuCopyBandwidth } from "./bandwidth.js";

export async function runBench(cfg, log) {
  trackGpuBuffers();
  const make = ENGINES[cfg.engine];
  if (!make) throw new Error(`unknown engine ${cfg.engine}; known: ${Object.keys(ENGINES).join(", ")}`);
  const result = { engine: cfg.engine, contexts: [], adapter: null, bandwidth: {} };
  if (navigator.gpu) {
    const adapter = await navigator.gpu.requestAdapter();
    if (adapter) result.adapter = { ...adapter.info && { vendor: adapter.info.vendor, architecture: adapter.info.architecture, description: adapter.info.description }, shader_f16: adapter.features.has("shader-f16") };
  }
  if (cfg.measure_bandwidth) {
    log("measuring memory bandwidth");
    result.bandwidth.gpu = await gpuCopyBandwidth();
    result.bandwidth.cpu = cpuCopyBandwidth();
  }
  let engine = make(cfg);
  result.backend = engine.backend;
  log(`${cfg.engine}: cold load`);
  result.cold_load_s = await engine.load();
  await engine.unload();
  engine = make(cfg);
  log(`${cfg.engine}: warm load`);
  resetGpuPeak();
  result.warm_load_s = await engine.load();
  for (const [i, ctx] of cfg.contexts.entries()) {
    const ids = cfg.prompt_ids.slice(0, ctx);
    log(`${cfg.engine}: ${ids.length} prompt tokens + ${cfg.new_tokens} new`);
    const r = await engine.generate({ ids, text: cfg.prompt_texts[i] }, cfg.new_tokens);
    result.contexts.push({
      context: ids.length, ...r,
      prefill_tok_s: ids.length / r.prefill_s,
      decode_tok_s: r.decoded > 0 ? r.decoded / r.decode_s : null,
    });
  }
  result.gpu_buffer_bytes = gpuBufferBytes().peak;
  result.js_heap_bytes = jsHeapBytes();
  await engine.unload();
  return result;
}
