"""The headers every response of a webslm site carries, as data: `webslm serve` sends them,
`webslm export-site` writes them as a `_headers` file for static hosts, and the pages carry
the policy in a <meta> too (pages.py), for hosts that cannot send headers.

Cross-origin isolation (COOP/COEP/CORP) gives the engines SharedArrayBuffer and threads.
The Content-Security-Policy backs up the renderer: scripts, workers and fetches come from
the site itself, nothing may frame a page (a framed "Delete cached files" button could be
clickjacked), and no markup a model writes can load or run anything even if it reached the
DOM. What the engines need beyond 'self', checked against their code:
- 'wasm-unsafe-eval': every engine compiles WebAssembly (WebLLM's model library, wllama's
  llama.cpp, onnxruntime-web);
- blob: scripts and workers: wllama starts its workers from blob: URLs (in the engine host,
  a SharedWorker, in-thread-worker.js imports that module instead), transformers.js imports
  onnxruntime's glue from one, and start-worker.js starts a blob worker when the modules come
  from another origin; 'self' workers include the engine host every tab shares;
- data: images: the pages' empty favicon.
"""

from __future__ import annotations

ISOLATION_HEADERS = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    # The files are public and meant to be embedded: any cross-origin-isolated page may load them.
    "cross-origin-resource-policy": "cross-origin",
    "x-content-type-options": "nosniff",
}
_POLICY = {
    "default-src": "'self'",
    "script-src": "'self' 'wasm-unsafe-eval' blob:",
    "worker-src": "'self' blob:",
    "connect-src": "'self' blob: data:",
    "img-src": "'self' data: blob:",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
}
# A <meta> policy cannot say frame-ancestors (browsers ignore it there): only a header can.
FRAME_ANCESTORS = "frame-ancestors 'none'"
META_CONTENT_SECURITY_POLICY = "; ".join(f"{k} {v}" for k, v in _POLICY.items())
CONTENT_SECURITY_POLICY = f"{META_CONTENT_SECURITY_POLICY}; {FRAME_ANCESTORS}"
SITE_HEADERS = {**ISOLATION_HEADERS, "content-security-policy": CONTENT_SECURITY_POLICY}
HEADERS_FILE = "_headers"  # the export's copy of SITE_HEADERS; not a page, never served


def headers_file() -> str:
    """SITE_HEADERS for every path, in the `_headers` format of Netlify and Cloudflare Pages."""
    names = {"cross-origin-opener-policy": "Cross-Origin-Opener-Policy",
             "cross-origin-embedder-policy": "Cross-Origin-Embedder-Policy",
             "cross-origin-resource-policy": "Cross-Origin-Resource-Policy",
             "x-content-type-options": "X-Content-Type-Options",
             "content-security-policy": "Content-Security-Policy"}
    return "/*\n" + "".join(f"  {names[k]}: {v}\n" for k, v in SITE_HEADERS.items())
