// Where a build's files live in the browser, in one place: the engine workers store them
// there (verified, see integrity.js) and the cache panel reads and deletes them there.
//
// A fine-tune built as "base + adapter" also reads its base's weight shards, from the base's
// folder (its file table names them relative to its own folder). Cached by URL, they are
// stored once: they belong to the base, so a fine-tune counts and deletes only its own files
// and reports the shared ones apart.

import { RECORDS, cachedEntry, fileTable, isVerified } from "./integrity.js";

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

/** The GGUF files a CPU build carries for wllama (gguf/...), by ggml type. */
const ggufFiles = (build) => Object.fromEntries(Object.entries(build.gguf || {})
  .map(([type, g]) => [type, g.files?.length ? g.files : [g.file]]));

/** The files one dtype of an ONNX build loads: the shared ones and its own graph and data;
 * for a GGUF type (wllama's Q8_0) its one file; every file, for a WebLLM build. */
export function dtypeFiles(build, dtype) {
  const gguf = ggufFiles(build);
  if (gguf[dtype]) return gguf[dtype].filter((name) => name in (build.files || {}));
  const others = new Set(Object.entries({ ...build.dtype_files, ...gguf }).filter(([d]) => d !== dtype).flatMap(([, names]) => names));
  return Object.keys(build.files || {}).filter((name) => !others.has(name));
}

/** The absolute URL of `build`'s folder (its listing entry resolved against the site `base`). */
function folderOf(build, base) {
  return build.record?.model ?? new URL(build.url, base).href;
}

/** `build`'s file table keyed by absolute URL (its folder resolved against `base`). */
export function buildFiles(build, base) {
  return fileTable(folderOf(build, base), build.files);
}

/** Whether `file` (an entry of buildFiles) is another build's: a base's shard a fine-tune reads. */
export function isShared(build, base, file) {
  return !file.url.startsWith(folderOf(build, base));
}

/**
 * What of `build` the browser holds: {files, bytes, totalFiles, totalBytes, sharedBytes,
 * sharedTotalBytes, complete, dtypes}, counting the files its engine loads. Only entries
 * verified against this build's hashes count. `files`..`totalBytes` are its own files; a
 * fine-tune's base shards are `shared*` (they are the base's, counted there too). A build is
 * complete when it loads without a download: every file, shared ones included, or for an
 * ONNX build one dtype (`dtypes`; its GGUF counts as the dtype "Q8_0").
 */
export async function cachedState(build, base) {
  const table = buildFiles(build, base);
  const found = new Set();
  for (const name of cachesOf(build)) {
    if (!(await caches.has(name))) continue;
    const cache = await caches.open(name);
    for (const file of table.values()) {
      if (!found.has(file.name) && await isVerified(await cachedEntry(cache, file.url), file)) found.add(file.name);
    }
  }
  const loaded = [...table.values()].filter((f) => isOnnx(build) || !WEBLLM_UNREAD.has(f.name));
  const files = loaded.filter((f) => !isShared(build, base, f));
  const shared = loaded.filter((f) => isShared(build, base, f));
  const sum = (list) => list.reduce((n, f) => n + f.bytes, 0);
  const dtypes = [...Object.keys(build.dtype_files || {}), ...Object.keys(build.gguf || {})]
    .filter((dtype) => { const names = dtypeFiles(build, dtype); return names.length > 0 && names.every((name) => found.has(name)); });
  const held = files.filter((f) => found.has(f.name));
  const heldShared = shared.filter((f) => found.has(f.name));
  return {
    files: held.length, bytes: sum(held), totalFiles: files.length, totalBytes: sum(files),
    sharedBytes: sum(heldShared), sharedTotalBytes: sum(shared),
    complete: files.length > 0 && ((held.length === files.length && heldShared.length === shared.length) || dtypes.length > 0),
    dtypes,
  };
}

/** Delete every cached file of `build`'s own (verified or not; a fine-tune's shared base
 * shards stay: they are the base's); returns how many entries went. */
export async function deleteCached(build, base) {
  const own = [...buildFiles(build, base).values()].filter((f) => !isShared(build, base, f));
  let deleted = 0;
  for (const name of cachesOf(build)) {
    if (!(await caches.has(name))) continue;
    const cache = await caches.open(name);
    for (const { url } of own) if (await cache.delete(url)) deleted += 1;
  }
  // and their verification records (integrity.js): nothing of the build stays behind
  if (await caches.has(RECORDS)) {
    const records = await caches.open(RECORDS);
    for (const { url } of own) await records.delete(url);
  }
  return deleted;
}
