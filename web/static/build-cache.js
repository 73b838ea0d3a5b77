// Where a build's files live in the browser, in one place: the engine workers store them
// there (verified, see integrity.js) and the cache panel reads and deletes them there.

import { fileTable, isVerified } from "./integrity.js";

/** The Cache Storage caches WebLLM 0.2.86 keeps a build's files in (config, wasm, the rest). */
export const WEBLLM_CACHES = ["webllm/config", "webllm/wasm", "webllm/model"];
/** Verified copies of ONNX builds' files (transformers.js's own cache is off). */
export const ONNX_CACHE = "webslm/onnx";
/** Files of a WebLLM build that WebLLM never downloads (it takes the template from
 * mlc-chat-config.json), so a build is cached whole without them. */
const WEBLLM_UNREAD = new Set(["tokenizer_config.json"]);

const isOnnx = (build) => build.engine === "transformers.js";

/** The caches that hold `build`'s files (a summary from api/models.json). */
export function cachesOf(build) {
  return isOnnx(build) ? [ONNX_CACHE] : WEBLLM_CACHES;
}

/** The files one dtype of an ONNX build loads: the shared ones and its own graph and data
 * (every file, for a WebLLM build). */
export function dtypeFiles(build, dtype) {
  const others = new Set(Object.entries(build.dtype_files || {}).filter(([d]) => d !== dtype).flatMap(([, names]) => names));
  return Object.keys(build.files || {}).filter((name) => !others.has(name));
}

/** `build`'s file table keyed by absolute URL (its folder resolved against `base`). */
export function buildFiles(build, base) {
  const folder = build.record?.model ?? new URL(build.url, base).href;
  return fileTable(folder, build.files);
}

/**
 * What of `build` the browser holds: {files, bytes, totalFiles, totalBytes, complete, dtypes},
 * counting the files its engine loads. Only entries verified against this build's hashes
 * count. An ONNX build is complete when one dtype can load from the cache (`dtypes`).
 */
export async function cachedState(build, base) {
  const table = buildFiles(build, base);
  const found = new Set();
  for (const name of cachesOf(build)) {
    if (!(await caches.has(name))) continue;
    const cache = await caches.open(name);
    for (const file of table.values()) {
      if (!found.has(file.name) && isVerified(await cache.match(file.url), file)) found.add(file.name);
    }
  }
  const files = [...table.values()].filter((f) => isOnnx(build) || !WEBLLM_UNREAD.has(f.name));
  const sum = (list) => list.reduce((n, f) => n + f.bytes, 0);
  const dtypes = Object.keys(build.dtype_files || {})
    .filter((dtype) => dtypeFiles(build, dtype).every((name) => found.has(name)));
  const held = files.filter((f) => found.has(f.name));
  return {
    files: held.length, bytes: sum(held), totalFiles: files.length, totalBytes: sum(files),
    complete: files.length > 0 && (held.length === files.length || dtypes.length > 0), dtypes,
  };
}

/** Delete every cached file of `build` (verified or not); returns how many entries went. */
export async function deleteCached(build, base) {
  const table = buildFiles(build, base);
  let deleted = 0;
  for (const name of cachesOf(build)) {
    if (!(await caches.has(name))) continue;
    const cache = await caches.open(name);
    for (const url of table.keys()) if (await cache.delete(url)) deleted += 1;
  }
  return deleted;
}
