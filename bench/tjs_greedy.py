"""Greedy ids of an ONNX build in transformers.js (WASM, headless Chromium, through webslm.js)
against onnxruntime in Python on the same file; fails when they differ. For builds too costly
for the test suite (Gemma 3 270M on its real weights: docs/BENCHMARKS.md).

    .venv/bin/python bench/tjs_greedy.py /tmp/gemma-cpu/gemma-3-270m-cpu --dtype q4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tokenizers import Tokenizer

from webslm.artifacts.files import onnx_filename
from webslm.onnx.runner import OnnxLM

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "serve"), str(REPO / "tests" / "browser")]
from browser_helpers import attach_log, chromium, webslm_serve  # noqa: E402

PROMPTS = ("def fibonacci(n):", "The three primary colors are")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--dtype", default="q4")
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    tokenizer = Tokenizer.from_file(str(a.artifact / "tokenizer.json"))
    runner = OnnxLM(a.artifact / "onnx" / onnx_filename(a.dtype))
    failed = False
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt).ids
        expected = runner.greedy(ids, a.steps)
        log: list[str] = []
        with webslm_serve(a.artifact.parent) as url, chromium(webgpu=False) as ctx:
            page = ctx.new_page()
            attach_log(page, log)
            page.goto(url)
            got = page.evaluate("""async ([model, ids, steps, dtype]) => {
                const { createChat } = await import('./webslm.js');
                const chat = await createChat({ model, engine: 'transformers-wasm', dtype });
                const out = await chat.greedyIds(ids, steps);
                await chat.unload();
                return out.ids;
            }""", [a.artifact.name, ids, a.steps, a.dtype])
        same = got == expected
        failed |= not same
        print(f"{prompt!r} -> {tokenizer.decode(got)!r}: transformers.js {got}, onnxruntime "
              f"{expected}: {'equal' if same else 'DIFFERENT'}")
        if not same:
            print("\n".join(log[-20:]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
