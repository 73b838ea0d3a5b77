// What this browser's WebGPU adapter can run, checked BEFORE anything is downloaded.
// WebLLM checks the same limits itself, but only after fetching the model: a user on a
// weak GPU should hear "no" before 100 MB of weights, not after.

import { needsF16 } from "./models.js";

const MiB = 1 << 20;
// The limits WebLLM 0.2.86 requests in detectGPUDevice (the smallest values it accepts).
export const REQUIRED_LIMITS = {
  maxStorageBuffersPerShaderStage: 10,
  maxComputeWorkgroupStorageSize: 32 * 1024,
  maxStorageBufferBindingSize: 128 * MiB,
  maxBufferSize: 256 * MiB,
};

/**
 * Probe navigator.gpu. Returns {ok, adapter, reason, features, limits, shaderF16, info}; never
 * throws. `ok` false means no WebLLM build can run here, and `reason` says why in plain words;
 * `adapter` says whether WebGPU works at all (transformers.js needs less than WebLLM).
 */
export async function probeGPU(gpu = globalThis.navigator && navigator.gpu) {
  if (!gpu) {
    return { ok: false, features: [], limits: {}, shaderF16: false,
      reason: "This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Safari, over https or on localhost." };
  }
  let adapter = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (err) {
    return { ok: false, features: [], limits: {}, shaderF16: false, reason: `WebGPU refused an adapter: ${err.message}` };
  }
  if (!adapter) {
    return { ok: false, features: [], limits: {}, shaderF16: false,
      reason: "WebGPU is present but offers no adapter: the GPU may be blocklisted or disabled." };
  }
  const limits = {};
  for (const key of Object.keys(REQUIRED_LIMITS)) limits[key] = adapter.limits[key];
  const features = [...adapter.features].sort();
  const info = adapter.info ? { vendor: adapter.info.vendor, architecture: adapter.info.architecture,
    description: adapter.info.description } : {};
  const short = Object.entries(REQUIRED_LIMITS)
    .filter(([key, need]) => !(limits[key] >= need))
    .map(([key, need]) => `${key} is ${limits[key]}, WebLLM needs ${need}`);
  return {
    adapter: true,
    ok: short.length === 0,
    reason: short.length ? `This GPU is too limited for WebLLM: ${short.join("; ")}.` : "",
    features, limits, info, shaderF16: features.includes("shader-f16"),
    software: isSoftwareAdapter(adapter),
  };
}

/**
 * Whether WebGPU runs on the CPU (SwiftShader, llvmpipe, lavapipe): the "fallback adapter".
 * Dawn names Mesa's CPU drivers by vendor only: vendor "mesa", architecture "software".
 * There, a model's GPU kernels run about 100x slower than the WASM engine (docs/BENCHMARKS.md),
 * so engines.js prefers the CPU engine.
 */
export function isSoftwareAdapter(adapter) {
  const info = adapter.info || {};
  if (info.isFallbackAdapter ?? adapter.isFallbackAdapter) return true;
  return /swiftshader|llvmpipe|lavapipe|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
}

/** Why `model` cannot run on `gpu` (empty list: it can). */
export function buildProblems(model, gpu) {
  if (model.engine === "transformers.js") return []; // the ONNX build also runs on the CPU
  if (!gpu.ok) return [gpu.reason];
  const missing = (model.required_features || []).filter((f) => !gpu.features.includes(f));
  if (needsF16(model) && !gpu.shaderF16 && !missing.includes("shader-f16")) missing.push("shader-f16");
  const problems = missing.map((f) => `${model.id} needs the WebGPU feature ${f}, which this GPU lacks`);
  // Each weight is one buffer, bound whole: above the limit every dispatch that reads it
  // fails validation and WebLLM answers garbage without an error (docs/RELIABILITY.md).
  const binding = gpu.limits.maxStorageBufferBindingSize;
  if (model.largest_tensor_bytes > binding) {
    problems.push(`${model.id} binds a ${mib(model.largest_tensor_bytes)} weight as one GPU buffer, `
      + `and this GPU allows at most ${mib(binding)} (maxStorageBufferBindingSize)`);
  }
  return problems;
}

const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * Pick the build to load. `wanted` is a build id, a family name, or empty (first family).
 * Within a family the f16 build wins when the GPU has shader-f16, else the f32 build.
 * Returns {build, reason, rejected: [{id, problems}]}; build is null when none fits and
 * `reason` then explains why.
 */
export function chooseBuild(models, gpu, wanted = "") {
  models = models.filter((m) => m.engine !== "transformers.js"); // engines.js picks those
  if (!models.length) return { build: null, reason: "This site lists no models: build one with `webslm build`.", rejected: [] };
  const exact = models.find((m) => m.id === wanted);
  const family = exact ? exact.family : wanted || models[0].family;
  const candidates = exact ? [exact] : models.filter((m) => m.family === family);
  if (!candidates.length) return { build: null, reason: `No model called "${wanted}" on this site.`, rejected: [] };
  const rejected = [];
  const runnable = [];
  for (const m of candidates) {
    const problems = buildProblems(m, gpu);
    (problems.length ? rejected : runnable).push(problems.length ? { id: m.id, problems } : m);
  }
  // f16 first (half the activation memory, faster where supported), then the smaller download.
  runnable.sort((a, b) => Number(needsF16(b)) - Number(needsF16(a)) || a.size_bytes - b.size_bytes);
  const build = runnable[0] || null;
  if (!build) {
    const why = rejected.flatMap((r) => r.problems);
    return { build: null, rejected, reason: `No build of ${family} runs here: ${[...new Set(why.map((w) => w.replace(/\.$/, "")))].join("; ")}.` };
  }
  const note = rejected.length
    ? `Using ${build.id}: ${rejected.map((r) => r.problems.join(", ")).join("; ")}.`
    : `Using ${build.id}.`;
  return { build, rejected, reason: note };
}
