// Which engine runs a model in this browser, decided before anything is downloaded:
//   1. WebLLM on WebGPU          (f16 build when the GPU has shader-f16, else the f32 build)
//   2. transformers.js on WebGPU (the ONNX build: q4f16 with shader-f16, else q4)
//   3./4. the CPU engines, in the order measured for the task (cpu-engine-order.js, written
//      by bench/task_engines.py --write-order: per task, the fastest first among those with
//      the most form fields right). A page says its task: "form" for fillForm and answers
//      under a responseConstraint, "chat" (the default) for chat.
//      - wllama on WASM           (llama.cpp on the CPU: the GGUF a CPU build carries under
//                                  gguf/, Q8_0 where it fits; passed over where its memory
//                                  need exceeds wllama's 4 GiB or what the device reports,
//                                  or where the browser lacks JSPI or Memory64)
//      - transformers.js on WASM  (the ONNX q8 build on the CPU, else q4)
// WASM engines use threads when the page is cross-origin isolated. A software WebGPU
// adapter (SwiftShader and the like) is passed over for the CPU engines when the CPU build
// has a CPU model (a GGUF, or a dtype without f16): WebGPU emulated on the CPU decodes about
// 100x slower. ?engine=webllm|transformers-webgpu|wllama|transformers-wasm in the page URL
// forces one, and ?dtype=q8|q4|q4f16|fp32 the ONNX model transformers.js loads (a forced
// ONNX dtype passes wllama over; ?dtype=Q8_0 names the GGUF).

import { chooseBuild } from "./gpu.js";
import { CPU_ENGINE_ORDER } from "./cpu-engine-order.js";

export const ENGINES = {
  webllm: "WebLLM on WebGPU",
  "transformers-webgpu": "transformers.js on WebGPU",
  wllama: "llama.cpp (wllama) on WASM (CPU)",
  "transformers-wasm": "transformers.js on WASM (CPU)",
};
/** The engines that compute on the CPU (WASM) whatever the GPU. */
const CPU_ENGINES = new Set(["wllama", "transformers-wasm"]);
/** The tasks a page may name, each with its own measured CPU engine order. */
export const TASKS = Object.keys(CPU_ENGINE_ORDER.order);

/** The engines in the order chooseEngine tries them for `task`: WebGPU first, then the CPU
 * engines as measured for the task (an engine the measurement left out goes last). */
export function engineOrder(task = "chat") {
  const measured = (CPU_ENGINE_ORDER.order[task] || []).filter((e) => CPU_ENGINES.has(e));
  const cpu = [...measured, ...[...CPU_ENGINES].filter((e) => !measured.includes(e))];
  return [...Object.keys(ENGINES).filter((e) => !CPU_ENGINES.has(e)), ...cpu];
}
/** The order for chat, the default task. */
export const ENGINE_ORDER = engineOrder("chat");

// WebGPU on a software adapter (SwiftShader) computes on the CPU.
const onSoftwareGpu = (choice, gpu) => choice.device === "webgpu" && !!gpu?.software;

/** Whether the chosen engine computes on the CPU: WASM, or WebGPU on a software adapter,
 * which the pages must not call "your GPU". */
export function runsOnCpu(choice, gpu) {
  return choice.device === "wasm" || onSoftwareGpu(choice, gpu);
}

/** The engine badge's text: the engine, its dtype, and where a software WebGPU really runs. */
export function engineLabel(choice, gpu) {
  if (!choice.engine) return "";
  const software = onSoftwareGpu(choice, gpu) ? " (software, on the CPU)" : "";
  return `Engine: ${ENGINES[choice.engine]}${software}${choice.dtype ? ` (${choice.dtype})` : ""}`;
}

export const isOnnx = (m) => m.engine === "transformers.js";

/** The GGUF files a CPU build carries for wllama, by ggml type: {Q8_0: {file, bytes, context}}. */
export const ggufOf = (m) => (m && m.gguf) || {};

/** The GGUF type wllama loads from `build` (Q8_0 first), or "". */
export function ggufType(build, forced = "") {
  const types = Object.keys(ggufOf(build));
  if (forced) return types.includes(forced) ? forced : "";
  return types.includes("Q8_0") ? "Q8_0" : types[0] || "";
}

/** The tokens a choice holds: wllama's GGUF its own context (the n_ctx it loads with); a
 * CPU (WASM) ONNX model's own context where its WASM memory holds less than the build's
 * (the build's wasm_context), else the build's. */
export function contextOf(choice) {
  const build = choice.build;
  if (!build) return null;
  if (choice.engine === "wllama") return ggufOf(build)[choice.dtype]?.context || build.context_window;
  return (choice.device === "wasm" && build.wasm_context?.[choice.dtype]) || build.context_window;
}

/** The engine the page URL asks for (?engine=...), or "". */
export function engineFromUrl(href = globalThis.location?.href) {
  return href ? new URL(href).searchParams.get("engine") || "" : "";
}

/** The ONNX dtype the page URL asks for (?dtype=q4|q8|q4f16|fp32), or "". */
export function dtypeFromUrl(href = globalThis.location?.href) {
  return href ? new URL(href).searchParams.get("dtype") || "" : "";
}

/** Whether wllama's WASM build runs here: it needs WebAssembly JSPI and Memory64 (Chrome and
 * Edge 137+); elsewhere wllama would fetch a slower compatibility build from a CDN, which
 * a webslm site never uses. */
export function wllamaRuns(wasm = globalThis.WebAssembly) {
  if (!wasm || typeof wasm.Suspending !== "function") return false;
  try {
    new wasm.Memory({ address: "i64", initial: 1n });
    return true;
  } catch {
    return false;
  }
}

/** The most memory wllama's module grows to: wllama 3.13 declares 65536 pages of 64 KiB even
 * in its Memory64 build (webslm/artifacts/wllama_memory.py estimates the need against it). */
export const WLLAMA_MEMORY_BYTES = 4 * 2 ** 30;

/** Why the GGUF `type` of `build` cannot run in wllama here, or "": its recorded need
 * (wasm_bytes: weights, KV cache and buffers at its context) over wllama's memory, or over
 * the memory this device reports (navigator.deviceMemory, in GB, where the browser gives it). */
export function wllamaFitProblem(build, type, deviceMemory = globalThis.navigator?.deviceMemory) {
  const entry = ggufOf(build)[type];
  const need = entry?.wasm_bytes;
  if (!need) return "";
  const what = `${build.id}'s ${type} GGUF needs about ${(need / 2 ** 30).toFixed(1)} GiB of memory at ${entry.context} tokens`;
  if (need > WLLAMA_MEMORY_BYTES) return `${what}, over the ${WLLAMA_MEMORY_BYTES / 2 ** 30} GiB wllama's WASM memory can grow to`;
  if (deviceMemory && need > deviceMemory * 2 ** 30) return `${what}, and this device reports ${deviceMemory} GB`;
  return "";
}

/** WASM threads: one per core up to 4, and only where SharedArrayBuffer is allowed. */
export function wasmThreads(isolated = globalThis.crossOriginIsolated, cores = globalThis.navigator?.hardwareConcurrency) {
  return isolated ? Math.max(1, Math.min(4, cores || 1)) : 1;
}

/**
 * Pick {engine, build, device, dtype, threads, reason, tried} (and `gguf`, the GGUF entry
 * {file, bytes, context}, for wllama); engine is null when nothing can run, and reason then
 * says why. `wanted`: a build id, a family, or "" (first family). `engine`: force one of
 * ENGINE_ORDER; `dtype`: force an ONNX dtype (q4, q8, q4f16, fp32) or a GGUF type (Q8_0);
 * `wllama`: whether wllama runs in this browser (default: wllamaRuns()); `deviceMemory`: the
 * GB this device reports (default: navigator.deviceMemory); `task`: "chat" or "form" (fillForm,
 * answers under a responseConstraint), which orders the CPU engines (engineOrder).
 */
export function chooseEngine(models, gpu, { wanted = "", engine = "", dtype: forcedDtype = "", isolated, cores, wllama = wllamaRuns(), deviceMemory, task = "chat" } = {}) {
  if (engine && !ENGINES[engine]) {
    return { engine: null, build: null, tried: [], reason: `Unknown engine "${engine}": use one of ${Object.keys(ENGINES).join(", ")}.` };
  }
  if (!TASKS.includes(task)) {
    return { engine: null, build: null, tried: [], reason: `Unknown task "${task}": use one of ${TASKS.join(", ")}.` };
  }
  if (!models.length) return { engine: null, build: null, tried: [], reason: "This site lists no models: build one with `webslm build`." };
  const exact = models.find((m) => m.id === wanted);
  const family = exact ? exact.family : wanted || models[0].family;
  const onnx = exact && isOnnx(exact) ? exact : models.find((m) => isOnnx(m) && m.family === family);
  const tried = [];
  const cpuModel = onnx && (ggufType(onnx) !== "" || onnx.dtypes.some((d) => !(onnx.f16_dtypes || []).includes(d)));
  for (const name of engine ? [engine] : engineOrder(task)) {
    if (!CPU_ENGINES.has(name) && gpu.software && cpuModel && !engine) {
      const renderer = gpu.info?.architecture || gpu.info?.description || "a fallback adapter";
      tried.push(`${ENGINES[name]}: this WebGPU runs on the CPU (${renderer}), far slower than WASM`);
      continue;
    }
    if (name === "webllm") {
      if (exact && isOnnx(exact)) { tried.push(`${exact.id} is a CPU build, not a WebLLM one`); continue; }
      const webllmBuilds = models.filter((m) => !isOnnx(m));
      if (!webllmBuilds.some((m) => m.family === family)) { tried.push(`WebLLM: ${family} has no WebLLM build here`); continue; }
      const choice = chooseBuild(webllmBuilds, gpu, exact ? exact.id : family);
      if (choice.build) return { engine: name, build: choice.build, device: "webgpu", dtype: null, tried, reason: choice.reason };
      tried.push(`WebLLM: ${choice.reason.replace(/\.$/, "")}`);
      continue;
    }
    if (!onnx) { tried.push(`${ENGINES[name]}: ${family} has no CPU build (webslm build --backend cpu)`); continue; }
    if (name === "transformers-webgpu") {
      if (!gpu.adapter) { tried.push(`${ENGINES[name]}: ${(gpu.reason || "no WebGPU adapter").replace(/\.$/, "")}`); continue; }
      const dtype = forcedDtype || (gpu.shaderF16 && onnx.dtypes.includes("q4f16") ? "q4f16" : "q4");
      if (!onnx.dtypes.includes(dtype)) { tried.push(`${ENGINES[name]}: ${onnx.id} has no ${dtype} model`); continue; }
      return { engine: name, build: onnx, device: "webgpu", dtype, tried, reason: because(tried, `${onnx.id} (${dtype}) with transformers.js on WebGPU.`) };
    }
    if (name === "wllama") {
      const type = ggufType(onnx, forcedDtype);
      if (!type) {
        tried.push(`${ENGINES[name]}: ${forcedDtype && ggufType(onnx) ? `?dtype=${forcedDtype} is not one of ${onnx.id}'s GGUF files`
          : `${onnx.id} has no GGUF (build it again with a webslm that adds gguf/)`}`);
        continue;
      }
      if (!wllama) { tried.push(`${ENGINES[name]}: this browser lacks WebAssembly JSPI or Memory64`); continue; }
      const tooBig = wllamaFitProblem(onnx, type, deviceMemory);
      if (tooBig) { tried.push(`${ENGINES[name]}: ${tooBig}`); continue; }
      const threads = wasmThreads(isolated, cores);
      return { engine: name, build: onnx, device: "wasm", dtype: type, threads, gguf: ggufOf(onnx)[type], tried,
        reason: because(tried, `${onnx.id} (${type} GGUF) with llama.cpp (wllama) on the CPU (WASM, ${threads} thread${threads > 1 ? "s" : ""}).`) };
    }
    // q8 (int8 matmuls) is the fast CPU build; any other fp32-activation dtype will do.
    const cpu = onnx.dtypes.filter((d) => !(onnx.f16_dtypes || []).includes(d));
    const dtype = forcedDtype && cpu.includes(forcedDtype) ? forcedDtype : cpu.includes("q8") ? "q8" : cpu[0];
    if (!dtype) {
      const refused = Object.values(onnx.wasm_refused || {});  // too large for WASM memory
      tried.push(`${ENGINES[name]}: ${onnx.id} has ${refused.length ? `no CPU model (${refused.join("; ")})` : "only f16 models, which the CPU does not run"}`);
      continue;
    }
    const threads = wasmThreads(isolated, cores);
    return { engine: name, build: onnx, device: "wasm", dtype, threads, tried,
      reason: because(tried, `${onnx.id} (${dtype}) with transformers.js on the CPU (WASM, ${threads} thread${threads > 1 ? "s" : ""}).`) };
  }
  return { engine: null, build: null, tried, reason: `Nothing can run ${family} here: ${tried.join("; ")}.` };
}

function because(tried, using) {
  return tried.length ? `Using ${using} Passed over: ${tried.join("; ")}.` : `Using ${using}`;
}
