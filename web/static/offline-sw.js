// Offline support: a service worker that keeps the page shell (HTML, JS, CSS, the model
// list, WebLLM's bundle) so the site opens without a network after the first visit.
// Model files are left alone: WebLLM caches them itself (Cache API), and copying 100 MB
// shards into a second cache would double the storage the user pays for.
// It runs as webslm.js (see there): a service worker only controls pages at or below its
// script's folder, and webslm.js is the one script served from the site root.
// It answers for webslm's own files only (SHELL): everything else under its scope goes to the
// network untouched and is never stored, so on a reused origin (localhost:8000 serves
// another app tomorrow) it neither keeps nor replays another app's responses.

const CACHE = "webslm-shell-v4";
// Everything the chat page and form demo load before the model. Paths are relative to the
// site root, so the same list works for `webslm serve` and for a static export anywhere.
export const SHELL = [
  "./", "index.html", "form.html", "webslm.js", "api/models.json", "vendor/web-llm/index.js",
  "static/chat.css", "static/chat-page.js", "static/chat-ui.js", "static/cache-panel.js", "static/form.js",
  "static/load-progress.js",
  "static/models.js", "static/gpu.js", "static/progress.js", "static/errors.js", "static/markdown.js",
  "static/chat-client.js", "static/form-schema.js", "static/form-prompt.js", "static/form-fill.js",
  "static/chat-element.js", "static/offline-sw.js",
  "static/engines.js", "static/webllm-client.js", "static/webllm-worker.js",
  "static/tjs-client.js", "static/tjs-worker.js", "static/json-constraint.js",
  "static/wllama-client.js", "static/json-grammar.js", "static/json-values.js", "static/cpu-engine-order.js",
  "static/language-model.js", "static/model-pool.js", "static/prompt-input.js", "static/create-monitor.js",
  "static/engine-modules.js", "static/start-worker.js", "static/integrity.js", "static/sha256.js", "static/build-cache.js",
  "static/engine-host.js", "static/shared-client.js", "static/in-thread-worker.js",
];

/** Whether the worker answers `request` (GET of a SHELL file under `root`, query ignored). */
export function cacheable(request, root) {
  if (request.method !== "GET" || request.headers.has("range")) return false;
  const url = new URL(request.url);
  if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname)) return false;
  return SHELL.includes(url.pathname.slice(root.pathname.length) || "./");
}

async function precache(root) {
  const cache = await caches.open(CACHE);
  // One by one, so one missing file (a site without the form demo) does not void the rest.
  await Promise.all(SHELL.map(async (path) => {
    try {
      const response = await fetch(new URL(path, root), { cache: "no-cache" });
      if (response.ok) await cache.put(new URL(path, root), response);
    } catch {
      /* offline during install: the next visit retries */
    }
  }));
}

// Network first, so a redeployed site is picked up at once; the cache only answers offline.
// A copy that cannot be stored (storage quota full) must not fail the page's own request.
async function networkFirst(request, root) {
  const cache = await caches.open(CACHE);
  let response;
  try {
    response = await fetch(request);
  } catch (err) {
    const hit = await cache.match(request, { ignoreSearch: true })
      || (request.mode === "navigate" ? await cache.match(new URL("./", root)) : undefined);
    if (hit) return hit;
    throw err;
  }
  if (response.ok && response.status === 200) await cache.put(request, response.clone()).catch(() => {});
  return response;
}

/** Wire the service worker `sw` (a ServiceWorkerGlobalScope). */
export function installOfflineWorker(sw) {
  const root = new URL("./", sw.location.href);
  sw.addEventListener("install", (event) => event.waitUntil(precache(root).then(() => sw.skipWaiting())));
  sw.addEventListener("activate", (event) => event.waitUntil(sw.clients.claim()));
  sw.addEventListener("fetch", (event) => {
    if (cacheable(event.request, root)) event.respondWith(networkFirst(event.request, root));
  });
}

/**
 * From a page: register the site's webslm.js, at `workerUrl`, as its offline service worker.
 * Only a file named webslm.js is registered: from a bundle, import.meta.url is the bundle's
 * chunk, which must not become a service worker, so a bundled app names the URL where its
 * webslm site's webslm.js is served.
 */
export async function registerOffline(workerUrl) {
  const url = new URL(workerUrl, globalThis.location?.href);
  if (!url.pathname.endsWith("/webslm.js")) {
    throw new TypeError(`registerOffline: ${url.href} is not a webslm site's webslm.js. From a bundled app, `
      + `name it: registerOffline(new URL("webslm/webslm.js", location.href)), where your webslm site is served.`);
  }
  if (!globalThis.navigator || !navigator.serviceWorker) return null;
  return navigator.serviceWorker.register(url.href, { type: "module", scope: new URL("./", url).href });
}
