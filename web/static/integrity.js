// Every file of a build is checked against the SHA-256 in its webslm-manifest.json before an
// engine uses it: weight shards, the model library, configs, tokenizers, ONNX graphs and
// their external data. (WebLLM itself checks only its config, wasm and tokenizer, and never
// the shards' md5sum; transformers.js checks nothing.)
//
// How: a file is downloaded once, hashed chunk by chunk while it streams into the browser's
// Cache Storage. The body is a stream that errors at its end when the hash differs, and
// Cache.put commits an entry only after its body has completed, so an entry this module
// wrote was hashed. What records that is kept where no server can write it: the entry
// carries a random tag made here (x-webslm-verified, never sent anywhere), and a separate
// cache (RECORDS) holds, by the file's URL, the hash it was verified against and that tag.
// A later visit trusts an entry only when both agree with the manifest (no re-hash). An
// entry that came from a server as it was (someone's Cache.add, an older webslm that kept a
// server-sent header) has no tag the record knows: it is dropped and downloaded again.
// docs/RELIABILITY.md says what this does and does not protect against.
//
// Fail closed: a build without a complete file table is refused (fileTable), and the engine
// workers let no URL under a build's folder through unless the table lists it.
//
// Network: a download that breaks off resumes where it stopped (an HTTP Range request, tied
// to the same file by If-Range); a server without ranges is read again from the start and
// the bytes already hashed are skipped. A mismatch is retried once from the network
// (bypassing the HTTP cache) before it becomes an IntegrityError.

import { Sha256 } from "./sha256.js";

/** The header of a cache entry this module wrote: a random tag its record must match. */
export const VERIFIED_HEADER = "x-webslm-verified";
/** The cache of verification records: by file URL, {x-webslm-sha256, x-webslm-verified}. */
export const RECORDS = "webslm/verified";
const HASH_HEADER = "x-webslm-sha256";
const SHA256 = /^[0-9a-f]{64}$/;
// integrity.js's own fetch, taken before a worker wraps the global one (webllm-worker.js).
const networkFetch = globalThis.fetch?.bind(globalThis);
const NETWORK_RETRIES = 4;
// Cache.match as the browser made it, before webllm-worker.js wraps it: a plain lookup here.
const originalMatch = globalThis.Cache?.prototype.match;
export const cachedEntry = (cache, url) => originalMatch.call(cache, url);

export class IntegrityError extends Error {
  constructor({ name, url, expected, actual, bytes, expectedBytes }) {
    super(`${name} failed its integrity check: the downloaded file has SHA-256 ${actual} `
      + `(${bytes} bytes) but the build's manifest says ${expected} (${expectedBytes} bytes). `
      + `It was downloaded twice with the same result, so the server (or a CDN or proxy in between) `
      + `holds a different or damaged copy of ${url}. Upload that build's folder again, whole `
      + `(webslm export-site or a fresh webslm build), then reload: nothing needs clearing in the browser.`);
    this.name = "IntegrityError";
    Object.assign(this, { file: name, url, expected, actual, bytes, expectedBytes });
  }
}

export class StorageFullError extends Error {
  constructor({ needed, available, quota, usage, file }) {
    const mb = (n) => `${(n / 2 ** 20).toFixed(1)} MB`;
    super(`The browser has no room to store this model: it needs ${mb(needed)} more`
      + (quota ? `, and this site may store ${mb(Math.max(0, available))} more (${mb(usage)} of ${mb(quota)} in use)` : "")
      + (file ? ` (the browser refused to store ${file}: its storage quota for this site is used up)` : "")
      + `. Delete cached models you no longer use (the chat page's cache panel), or free disk space, then load again.`);
    this.name = "StorageFullError";
    Object.assign(this, { needed, available, quota, usage, file });
  }
}

/** A build that cannot be checked: no file table, or an entry without a SHA-256 and size. */
export class UncheckableBuildError extends Error {
  constructor(folder, problem) {
    super(`The build at ${folder} cannot be checked, so it is not loaded: ${problem}. Every file `
      + `of a build must be listed with its SHA-256 and size in its webslm-manifest.json; rebuild it `
      + `with a current \`webslm build\` (or export the site again), then reload.`);
    this.name = "UncheckableBuildError";
  }
}

/**
 * The files of one build, by absolute URL: {url -> {name, url, sha256, bytes}}.
 * `files` is the manifest's table {name: {bytes, sha256}}; `folder` the build's URL.
 * Throws UncheckableBuildError when the table is missing, empty or incomplete.
 */
export function fileTable(folder, files) {
  if (!files || typeof files !== "object" || !Object.keys(files).length) {
    throw new UncheckableBuildError(folder, "the model list gives it no file table");
  }
  const table = new Map();
  for (const [name, entry] of Object.entries(files)) {
    const { bytes, sha256 } = entry || {};
    if (!SHA256.test(sha256 || "") || !Number.isSafeInteger(bytes) || bytes < 0) {
      throw new UncheckableBuildError(folder, `${name} has no SHA-256 and size in its file table`);
    }
    const url = new URL(name, folder).href;
    table.set(url, { name, url, sha256, bytes });
  }
  return table;
}

/** Whether `url` lies under `folder` (a build's folder URL). */
export function isUnder(url, folder) {
  const base = new URL(folder).href.replace(/[?#].*$/, "");
  return new URL(url).href.startsWith(base.endsWith("/") ? base : `${base}/`);
}

/** The error for a URL under a build's folder that its file table does not list. */
export function unlistedError(url) {
  return Object.assign(new Error(`Refused ${url}: it is under the build's folder but not in the build's `
    + `file table, so it cannot be checked. The build's manifest is incomplete or the page asked for `
    + `a file the build does not have; rebuild or re-export it.`), { name: "UnlistedFileError", fatal: true });
}

/** Whether `response` (a cache entry) was verified here against `file`'s hash: its tag and
 * the record this module wrote after hashing it agree (see the top of this file). */
export async function isVerified(response, file) {
  const tag = response?.headers.get(VERIFIED_HEADER);
  if (!tag) return false;
  const record = await cachedEntry(await caches.open(RECORDS), file.url);
  return !!record && record.headers.get(HASH_HEADER) === file.sha256 && record.headers.get(VERIFIED_HEADER) === tag;
}

const randomTag = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Delete the entries of `table`'s files in the caches named `cacheNames` that were not
 * verified against this build's hashes. Reads headers only: cheap on every load.
 * Returns the bytes still to download.
 */
export async function dropUnverified(cacheNames, table) {
  const missing = new Set(table.keys());
  for (const cacheName of cacheNames) {
    const cache = await caches.open(cacheName);
    for (const file of table.values()) {
      const cached = await cachedEntry(cache, file.url);
      if (!cached) continue;
      if (await isVerified(cached, file)) missing.delete(file.url);
      else await cache.delete(file.url);
    }
  }
  let bytes = 0;
  for (const url of missing) bytes += table.get(url).bytes;
  return bytes;
}

/**
 * Before a load: drop `table`'s unverified entries from `cacheNames`, and fail now when what
 * is left to download clearly does not fit. Returns the bytes still to download.
 */
export async function prepareCaches(cacheNames, table) {
  const needed = await dropUnverified(cacheNames, table);
  await checkRoom(needed);
  return needed;
}

/** Throw StorageFullError now when `needed` bytes clearly do not fit (before downloading). */
async function checkRoom(needed) {
  if (!needed || !navigator.storage?.estimate) return;
  const { quota = 0, usage = 0 } = await navigator.storage.estimate();
  if (quota && quota - usage < needed) {
    throw new StorageFullError({ needed, available: quota - usage, quota, usage });
  }
}

/** What this realm downloaded from the network, verified (not what came from the cache): the
 * engine host's counters (engine-host.js). */
export const downloaded = { files: 0, bytes: 0 };
const counted = (file) => { downloaded.files += 1; downloaded.bytes += file.bytes; };

/**
 * Download `file` into `cache`, verified; retried once from the network on a mismatch.
 * `onProgress(loaded, total)` follows the bytes; `needed` is what the whole build still has
 * to store (dropUnverified's answer), for the message when the browser's quota runs out.
 */
export async function downloadVerified(cache, file, { onProgress, signal, needed } = {}) {
  let error = null;
  for (const reload of [false, true]) {
    try {
      await putVerified(cache, file, { onProgress, signal, reload, needed });
      counted(file);
      return;
    } catch (err) {
      await cache.delete(file.url).catch(() => {});
      if (!(err instanceof IntegrityError)) throw err;
      error = err;
    }
  }
  throw error;
}

/** The file as a Blob, hashed as it downloads and never kept: where Cache Storage is missing
 * (an insecure origin). Rejects with an IntegrityError as verifiedResponse does. */
export async function verifiedBlob(file, { onProgress, signal } = {}) {
  const body = verifiedBody(file, { onProgress, signal });
  try {
    const blob = await new Response(body.stream).blob();
    counted(file);
    return blob;
  } catch (err) {
    throw body.failure || err;
  }
}

async function putVerified(cache, file, { onProgress, signal, reload, needed }) {
  const body = verifiedBody(file, { onProgress, signal, reload });
  const tag = randomTag();
  const headers = { "content-length": String(file.bytes), [VERIFIED_HEADER]: tag };
  try {
    await cache.put(file.url, new Response(body.stream, { headers }));
    // Only now, with the hashed entry committed: the record that vouches for it.
    await (await caches.open(RECORDS)).put(file.url, new Response(null, { headers: { [HASH_HEADER]: file.sha256, [VERIFIED_HEADER]: tag } }));
  } catch (err) {
    if (body.failure) throw body.failure;
    if (err && err.name === "QuotaExceededError") {
      throw new StorageFullError({ needed: Math.max(needed || 0, file.bytes), file: file.name });
    }
    throw err;
  }
}

/** The file's bytes as a stream that errors at its end unless their SHA-256 matches. */
function verifiedBody(file, { onProgress, signal, reload }) {
  const hash = new Sha256();
  const state = { failure: null };
  let received = 0;
  let reader = null;
  let validator = null; // the ETag or Last-Modified of the copy being read, for If-Range
  let retries = 0;
  let carried = null;   // bytes past the skipped prefix, when a resume had to start over

  const fail = (controller, err) => {
    state.failure = err;
    controller.error(err);
  };
  async function open() {
    const headers = {};
    if (received > 0) {
      headers.Range = `bytes=${received}-`;
      if (validator) headers["If-Range"] = validator;
    }
    const response = await networkFetch(file.url, { headers, signal, cache: reload || received > 0 ? "no-store" : "default" });
    if (!response.ok) {
      throw Object.assign(new Error(`Cannot download ${file.name}: HTTP ${response.status} from ${file.url}`), { fatal: true });
    }
    validator ||= response.headers.get("etag") || response.headers.get("last-modified");
    reader = response.body.getReader();
    if (received > 0 && response.status !== 206) carried = await skip(reader, received); // no ranges: from the start
  }
  state.stream = new ReadableStream({
    async pull(controller) {
      for (;;) {
        try {
          if (!reader) await open();
          const { done, value } = carried ? { done: false, value: carried } : await reader.read();
          carried = null;
          if (done) {
            const actual = hash.hex();
            if (actual === file.sha256 && received === file.bytes) controller.close();
            else fail(controller, new IntegrityError({ ...file, expected: file.sha256, actual, bytes: received, expectedBytes: file.bytes }));
            return;
          }
          received += value.length;
          if (received > file.bytes) {
            reader.cancel().catch(() => {});
            return fail(controller, new IntegrityError({ ...file, expected: file.sha256,
              actual: "(not computed: the file is longer than the manifest says)", bytes: received, expectedBytes: file.bytes }));
          }
          hash.update(value);
          controller.enqueue(value);
          onProgress?.(received, file.bytes);
          return;
        } catch (err) {
          reader = null;
          if (err.fatal || signal?.aborted || ++retries > NETWORK_RETRIES) return fail(controller, err);
          await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** retries));
        }
      }
    },
    cancel() {
      reader?.cancel().catch(() => {});
    },
  });
  return state;
}

/** Read past the first `count` bytes of `reader`; returns the bytes after them in the last chunk. */
async function skip(reader, count) {
  let skipped = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error("the file ended early");
    skipped += value.length;
    if (skipped >= count) return skipped > count ? value.subarray(value.length - (skipped - count)) : null;
  }
}

/**
 * `file`'s verified response from `cache`, downloading it first when it is not there (or
 * not verified against this hash). For engines that fetch through a hook (transformers.js).
 */
export async function verifiedResponse(cache, file, opts) {
  const cached = await cachedEntry(cache, file.url);
  if (await isVerified(cached, file)) return cached;
  await downloadVerified(cache, file, opts);
  return cachedEntry(cache, file.url);
}
