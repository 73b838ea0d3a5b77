"""What checking every byte costs in the browser (web/static/integrity.js), in a Web Worker of
headless Chromium, over a build served by `webslm serve` on loopback:

- hashing speed: integrity.js's streaming SHA-256 over 256 MB in 1 MB chunks, next to
  WebCrypto's one-shot digest (which cannot stream) of the same bytes;
- first load: every file of the build downloaded into Cache Storage verified
  (downloadVerified), next to the same files stored unverified (fetch + cache.put, what
  WebLLM's Cache.add does);
- warm load: the check of an already verified cache (dropUnverified: headers only).

    .venv/bin/python bench/integrity_cost.py DIST/ARTIFACT [--runs 3]

Loopback is faster than any network, so the first-load figure is the worst case for the
overhead: on a real connection the hashing runs while bytes arrive.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "serve"))
from webslm.artifacts.files import model_folder  # noqa: E402
from webslm.artifacts.manifest import read_manifest  # noqa: E402

WORKER = """
import { Sha256 } from "/static/sha256.js";
import { downloadVerified, dropUnverified, fileTable } from "/static/integrity.js";

async function timed(f) { const t = performance.now(); await f(); return (performance.now() - t) / 1000; }

self.onmessage = async ({ data: { folder, files } }) => {
  const out = {};
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
  const mb = 256;
  out.sha256_js_mb_s = mb / await timed(async () => { const h = new Sha256(); for (let i = 0; i < mb; i++) h.update(chunk); h.hex(); });
  const whole = new Uint8Array(mb << 20);
  for (let i = 0; i < mb; i++) whole.set(chunk, i << 20);
  out.webcrypto_mb_s = mb / await timed(() => crypto.subtle.digest("SHA-256", whole));
  const table = fileTable(folder, files);
  const bytes = [...table.values()].reduce((n, f) => n + f.bytes, 0);
  out.build_mb = bytes / 2 ** 20;
  await caches.delete("bench/plain"); await caches.delete("bench/verified");
  const plain = await caches.open("bench/plain");
  out.first_load_plain_s = await timed(async () => {
    for (const f of table.values()) await plain.put(f.url, await fetch(f.url, { cache: "no-store" }));
  });
  const verified = await caches.open("bench/verified");
  out.first_load_verified_s = await timed(async () => {
    for (const f of table.values()) await downloadVerified(verified, f, { reload: true });
  });
  out.warm_check_s = await timed(() => dropUnverified(["bench/verified"], table));
  out.files = table.size;
  await caches.delete("bench/plain"); await caches.delete("bench/verified");
  self.postMessage(out);
};
"""


def run_once(page, folder: str, files: dict) -> dict:
    return page.evaluate("""async ([source, folder, files]) => {
        // A blob worker resolves no site-relative import: name the site's files in full.
        const code = source.replaceAll('"/static/', `"${location.origin}/static/`);
        const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
        const worker = new Worker(url, { type: "module" });
        return await new Promise((resolve, reject) => {
            worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
            worker.onerror = (e) => reject(new Error(e.message));
            worker.postMessage({ folder, files });
        });
    }""", [WORKER, folder, files])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("artifact", type=Path, help="a build folder (with webslm-manifest.json)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    from browser_helpers import chromium, webslm_serve

    files = read_manifest(a.artifact)["files"]
    runs = []
    with webslm_serve(a.artifact) as url, chromium() as ctx:
        page = ctx.new_page()
        page.goto(url)
        folder = f"{url}models/{model_folder(a.artifact.name)}"
        for _ in range(a.runs):
            runs.append(run_once(page, folder, files))
    summary = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
    summary["runs"] = a.runs
    summary["first_load_overhead_s"] = round(summary["first_load_verified_s"] - summary["first_load_plain_s"], 3)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
