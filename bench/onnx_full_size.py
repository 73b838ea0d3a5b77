"""The CPU path at full size: a published model's exact config (random weights) built for the
ONNX backend, run by transformers.js on WASM in headless Chromium (WebGPU off), as the pages
run it. Per dtype: the greedy ids against onnxruntime in Python on the same file, load time,
prefill and decode tok/s, and the WASM memory after load and after a long prompt next to
webslm/onnx/wasm_memory.py's estimate. Writes results/onnx_full_size.json.

    .venv/bin/python bench/onnx_full_size.py --model llama-3.2-1b [--long 2048]

About 30 minutes for Llama-3.2-1B on 2 cores (the build a third of it). Reuse a build with
--dist DIR (a dist/ holding <model>-onnx), keep one with --keep DIR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "browser"))
sys.path.insert(0, str(REPO / "tests" / "serve"))
from model_configs import CONFIGS  # noqa: E402
from random_checkpoint import write_checkpoint  # noqa: E402
from tokenizer_dirs import tokenizer_dir  # noqa: E402

TIE = 0.01  # logits this close are a tie that kernel rounding may break either way
PROMPT = "The lighthouse keeper climbed the spiral stairs at dusk, counting every step."
PAGE_RUN = """async ([model, dtype, prompt, tokens, long]) => {
  const { createChat } = await import('./webslm.js');
  const chat = await createChat({ model, engine: 'transformers-wasm', dtype });
  const out = { info: chat.info };
  out.short = await chat.greedyIds(prompt, tokens, { ignoreEos: true });
  const filler = Array.from({ length: long }, (_, i) => prompt[i % prompt.length]);
  out.long = await chat.greedyIds(filler, 2, { ignoreEos: true });
  await chat.unload();
  return out;
}"""


def build(model: str, context: int, work: Path) -> Path:
    from webslm.cli import main as webslm

    ckpt = write_checkpoint(model, work / "ckpt", tokenizer_dir(model, work))
    dist = work / "dist"
    assert webslm(["build", model, "--q4f32", "--backend", "onnx", "--source", str(ckpt),
                   "--context-window", str(context), "--out", str(dist)]) == 0
    shutil.rmtree(ckpt)
    return dist


def run_dtype(dist: Path, model: str, dtype: str, prompt: list[int], tokens: int,
              long: int) -> dict:
    from browser_helpers import attach_log, chromium, webslm_serve

    from webslm.artifacts.onnx_files import onnx_filename
    from webslm.onnx.runner import OnnxLM

    artifact = dist / f"{model}-onnx"
    reference = OnnxLM(artifact / "onnx" / onnx_filename(dtype))
    expected = reference.greedy(prompt, tokens)
    log: list[str] = []
    with webslm_serve(dist, timeout=600) as url, chromium(webgpu=False) as ctx:
        page = ctx.new_page()
        page.set_default_timeout(0)
        attach_log(page, log)
        page.goto(url)
        try:
            got = page.evaluate(PAGE_RUN, [artifact.name, dtype, prompt, tokens, long])
        except Exception as err:  # an allocation failure is a result here, not a crash
            return {"dtype": dtype, "error": str(err).splitlines()[0], "log": log[-10:]}
    short, extra = got["short"], got["short"]["usage"]["extra"]
    margins = top_margins(reference, prompt, short["ids"])
    return {
        "dtype": dtype, "ids": short["ids"], "onnxruntime_ids": expected,
        "match": short["ids"] == expected,
        # along the browser's ids: how far each is below onnxruntime's top logit (0 = its
        # argmax); int8 kernels round differently in WASM and on x86, so q8 may part at a tie
        "logit_gap": margins,
        "match_or_tie": all(g <= TIE for g in margins),
        "load_s": round(got["info"]["loadSeconds"], 1),
        "threads": got["info"]["threads"],
        "prefill_tok_s": round(extra["prefill_tokens_per_s"], 2),
        "decode_tok_s": round(extra["decode_tokens_per_s"], 2),
        "wasm_bytes": {"load": got["info"]["wasmBytes"], f"prompt_{len(prompt)}":
                       extra["wasm_bytes"], f"prompt_{long}": got["long"]["usage"]["extra"]
                       ["wasm_bytes"]},
        "long_prompt_prefill_tok_s": round(
            got["long"]["usage"]["extra"]["prefill_tokens_per_s"], 2),
    }


def top_margins(reference, prompt: list[int], ids: list[int]) -> list[float]:
    """Teacher-forced on the browser's ids: onnxruntime's top logit minus the browser's pick."""
    logits, cache = reference.forward(prompt, reference._empty_cache(), 0, keep=1)
    gaps = []
    for step, token in enumerate(ids):
        gaps.append(round(float(logits[-1].max() - logits[-1][token]), 4))
        logits, cache = reference.forward([token], cache, len(prompt) + step, keep=1)
    return gaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="llama-3.2-1b", choices=sorted(CONFIGS))
    ap.add_argument("--context-window", type=int, default=4096,
                    help="the build's (each CPU dtype keeps what its WASM memory holds, and "
                         "the page refuses a prompt that long: keep --long below it)")
    ap.add_argument("--dtypes", default="q8,q4")
    ap.add_argument("--tokens", type=int, default=8, help="greedy ids to compare")
    ap.add_argument("--long", type=int, default=1024, help="the long prompt's tokens")
    ap.add_argument("--dist", type=Path, help="reuse this dist/ instead of building")
    ap.add_argument("--keep", type=Path, help="move the build here when done")
    ap.add_argument("--out", type=Path, default=REPO / "results")
    a = ap.parse_args()

    from tokenizers import Tokenizer

    from webslm.artifacts.onnx_files import onnx_data_filename
    from webslm.onnx.wasm_memory import heap_bytes, weight_bytes

    config = CONFIGS[a.model]
    with tempfile.TemporaryDirectory(prefix="webslm-onnx-full-") as tmp:
        started = time.time()
        dist = a.dist or build(a.model, a.context_window, Path(tmp))
        build_s = None if a.dist else round(time.time() - started, 1)
        artifact = dist / f"{a.model}-onnx"
        prompt = Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(PROMPT).ids[:16]
        runs = []
        for dtype in a.dtypes.split(","):
            run = run_dtype(dist, a.model, dtype, prompt, a.tokens, a.long)
            run["download_bytes"] = (artifact / "onnx" / onnx_data_filename(dtype)).stat().st_size
            run["estimate"] = {"weights": weight_bytes(config, dtype),
                               f"heap_{a.long}": heap_bytes(config, dtype, a.long),
                               f"heap_{a.context_window}": heap_bytes(config, dtype,
                                                                      a.context_window)}
            print(json.dumps(run), flush=True)
            runs.append(run)
        if a.keep and not a.dist:
            shutil.move(str(dist), str(a.keep))
    result = {"model": a.model, "context_window": a.context_window, "build_s": build_s,
              "prompt_tokens": len(prompt), "runs": runs}
    a.out.mkdir(exist_ok=True)
    (a.out / "onnx_full_size.json").write_text(json.dumps(result, indent=2))
    raise SystemExit(0 if all(r.get("match_or_tie") for r in runs) else 1)


if __name__ == "__main__":
    main()
