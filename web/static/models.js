// The model listing of a webslm site (api/models.json), with every URL made absolute.
// The server and the static export both write URLs relative to the site root, so the same
// listing works wherever the site is mounted; they only become absolute here, against the
// base the caller names, because WebLLM resolves relative URLs against the *worker's* URL.

import { formatBytes } from "./progress.js";

// The site root is where webslm.js lives: one folder above this file. (Not a literal
// `new URL("../", import.meta.url)`: bundlers would turn that into an asset of their own.)
const UP = "../";
export const SITE_ROOT = new URL(UP, import.meta.url).href;

function pageBase() {
  return globalThis.document ? document.baseURI : globalThis.location.href;
}

/** Resolve `baseUrl` (absolute, or relative to the page) to an absolute URL ending in "/". */
export function siteBase(baseUrl) {
  if (!baseUrl) return SITE_ROOT;
  const url = new URL(baseUrl, pageBase());
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

/** The family of a build: the model it builds, as the server names it; else its id without the
 * quantization suffix (smollm2-135m-q4f32_1 -> smollm2-135m). */
export function familyOf(model) {
  if (model.family) return model.family;
  const suffix = `-${model.quantization}`;
  return model.quantization && model.id.endsWith(suffix) ? model.id.slice(0, -suffix.length) : model.id;
}

/** Whether a build needs half-precision shaders (its record says so, or its name does). */
export function needsF16(model) {
  return (model.required_features || []).includes("shader-f16") || /f16/.test(model.quantization || "");
}

/** The builds that are fine-tunes of `build`: adapter builds that read its weight shards. */
export function fineTunesOf(build, models) {
  return models.filter((m) => m.base === build.id);
}

/**
 * What loading `build` downloads, in words: its own files (or one ONNX dtype's) and, for a
 * fine-tune, the base's shards it shares, which are fetched once for the base and all its
 * fine-tunes (so nothing more when the base is already cached).
 */
export function describeDownload(build, dtype) {
  const gguf = build.gguf?.[dtype]; // wllama's GGUF: that one file
  const own = formatBytes(gguf ? gguf.bytes ?? build.files?.[gguf.file]?.bytes : build.dtype_bytes?.[dtype] ?? build.size_bytes);
  if (!build.base) return own;
  return `${own}, plus ${formatBytes(build.shared_bytes)} of ${build.base}'s weights unless they are already cached`;
}

/**
 * Fetch and normalise `<base>api/models.json`.
 * Returns {base, records (WebLLM ModelRecords, absolute URLs), models (the server's dicts,
 * each with `family` and `record` added)}.
 */
export async function loadModels(baseUrl) {
  const base = siteBase(baseUrl);
  const url = new URL("api/models.json", base);
  let response;
  try {
    response = await fetch(url, { cache: "no-cache" });
  } catch (err) {
    throw new Error(`Cannot reach the model list at ${url} (${err.message}). Is the site online?`);
  }
  if (!response.ok) throw new Error(`Cannot read the model list at ${url}: HTTP ${response.status}`);
  const listing = await response.json();
  const records = (listing.model_list || []).map((record) => ({
    ...record,
    model: new URL(record.model, base).href,
    model_lib: new URL(record.model_lib, base).href,
  }));
  const byId = new Map(records.map((r) => [r.model_id, r]));
  const models = (listing.models || []).map((m) => ({ ...m, family: familyOf(m), record: byId.get(m.id) }));
  return { base, records, models };
}
