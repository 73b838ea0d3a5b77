"""The CPU path at full size: a published model's exact config (random weights) built for the
ONNX backend, run by transformers.js on WASM in headless Chromium (WebGPU off), as the pages
run it. Per dtype: the greedy ids against onnxruntime in Python on the same file, load time,
prefill and decode tok/s, and the WASM memory after load and after a long prompt next to
webslm/onnx/wasm_memory.py's estimate. Then the build's GGUF (Q8_0) and, written by the same
writer for comparison, a Q4_0 one, each run by wllama (llama.cpp in WASM, the pages' first CPU
engine): load time, prefill and decode tok/s at the same prompts, and the greedy text next to
transformers on the GGUF's own weights (read back through its GGUF loader).
Writes results/onnx_full_size.json.

    .venv/bin/python bench/onnx_full_size.py --model llama-3.2-1b [--long 2048]

About 30 minutes for Llama-3.2-1B on 2 cores (the build a third of it). Reuse a build with
--dist DIR (a dist/ holding <model>-cpu), keep one with --keep DIR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from webslm.artifacts.manifest import read_manifest

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


GGUF_RUN = """async ([model, qtype, prompt, tokens, longPrompt]) => {
  const { createChat } = await import('./webslm.js');
  const chat = await createChat({ model, engine: 'wllama', dtype: qtype });
  const out = { info: chat.info };
  out.short = await chat.greedyIds(prompt, tokens, { ignoreEos: true });
  out.long = await chat.greedyIds(longPrompt, 2, { ignoreEos: true });
  await chat.unload();
  return out;
}"""


def build(model: str, context: int, work: Path) -> Path:
    from webslm.cli import main as webslm

    ckpt = write_checkpoint(model, work / "ckpt", tokenizer_dir(model, work))
    dist = work / "dist"
    assert webslm(["build", model, "--q4f32", "--backend", "cpu", "--source", str(ckpt),
                   "--context-window", str(context), "--out", str(dist)]) == 0
    shutil.rmtree(ckpt)
    return dist


def add_gguf(artifact: Path, model: str, qtype: str, work: Path) -> None:
    """Write a `qtype` GGUF of the same checkpoint (regenerated: it is seeded) into the
    build and list it, so the page can load it as it loads the build's own Q8_0."""
    from webslm.arch import find_architecture
    from webslm.artifacts.files import gguf_filename
    from webslm.artifacts.files import MANIFEST
    from webslm.artifacts.gguf_file import write_gguf
    from webslm.artifacts.manifest import file_table
    from webslm.registry import get_model
    from webslm.source import open_source

    manifest = json.loads((artifact / MANIFEST).read_text())
    if qtype in manifest["build"].get("gguf", {}):
        return
    source = open_source(str(write_checkpoint(model, work / "ckpt", tokenizer_dir(model, work))))
    arch = find_architecture(source.config)
    files = write_gguf(source, arch.config_from_hf(source.config), arch.gguf, qtype=qtype,
                       tokenizer_pre=get_model(model).gguf_tokenizer, name=model,
                       out=artifact / gguf_filename(qtype))
    names = [f.relative_to(artifact).as_posix() for f in files]
    manifest["build"].setdefault("gguf", {})[qtype] = {
        "file": names[0], "files": names, "context": manifest["build"]["context_window"]}
    manifest["files"] = file_table(artifact)
    (artifact / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(work / "ckpt")


def run_gguf(dist: Path, model: str, qtype: str, prompt: str, tokens: int, long: int) -> dict:
    from webslm.source import open_source

    from tokenizers import Tokenizer

    artifact = dist / f"{model}-cpu"
    entry = read_manifest(artifact)["build"]["gguf"][qtype]
    tokenizer = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids
    long_prompt = tokenizer.decode((ids * (long // len(ids) + 1))[:long - 1])  # + BOS
    got = in_page(dist, GGUF_RUN, [artifact.name, qtype, prompt, tokens, long_prompt])
    if "error" in got:
        return {"gguf": qtype, **got}
    print(json.dumps({"gguf": qtype, "browser": got}), flush=True)  # kept if the reference fails
    reference = _reference_model(open_source(str(artifact / entry["file"])), artifact)
    expected, divergence = _compare_greedy(reference, tokenizer, prompt, got["short"]["text"], tokens)
    short, long_run = got["short"]["usage"]["extra"]["timings"], got["long"]["usage"]["extra"]["timings"]
    return {
        "gguf": qtype, "text": got["short"]["text"], "transformers_text": expected,
        "match": got["short"]["text"] == expected,
        # where llama.cpp's text leaves transformers' greedy path: the step, and how far its
        # token sits below transformers' top logit there (llama.cpp also rounds activations
        # to 8 bits, so on a random model's flat logits a near-tie may go either way)
        "first_divergence": divergence,
        "load_s": round(got["info"]["loadSeconds"], 1), "threads": got["info"]["threads"],
        "download_bytes": sum((artifact / n).stat().st_size for n in entry["files"]),
        "prompt_tokens": short["prompt_n"], "prefill_tok_s": _rate(short, "prompt"),
        "decode_tok_s": _rate(short, "predicted"),
        "long_prompt_tokens": long_run["prompt_n"],
        "long_prompt_prefill_tok_s": _rate(long_run, "prompt"),
    }


def _rate(timings: dict, phase: str) -> float:
    """llama.cpp's own rate: prompt tokens over the prompt's time; for "predicted", the
    decode steps (all tokens but the first, which comes with the prompt) over theirs."""
    return round(timings[f"{phase}_per_second"], 2)


def _reference_model(source, artifact: Path):
    """transformers on the GGUF's weights (read back by its GGUF support), in the model of
    the build's config.json: the GGUF config reader drops Llama 3's rope scaling."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from webslm.verify.reference import load_weights_into

    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(artifact), dtype=torch.float32).eval()
    load_weights_into(model, dict(source.tensors()))
    return model


def _compare_greedy(model, tokenizer, prompt: str, text: str, tokens: int) -> tuple[str, dict | None]:
    """transformers' greedy text (special tokens left out, as llama.cpp's text leaves them),
    and where `text` leaves it: {step, logit_gap} with the gap between transformers' pick
    and the token `text` continues with, or None when `text` follows it throughout."""
    import torch

    ids = tokenizer.encode(prompt).ids
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=tokens, do_sample=False,
                             min_new_tokens=tokens, output_logits=True, return_dict_in_generate=True)
    new = out.sequences[0, len(ids):].tolist()
    for step in range(len(new)):
        if not text.startswith(tokenizer.decode(new[:step + 1], skip_special_tokens=True)):
            rest = text[len(tokenizer.decode(new[:step], skip_special_tokens=True)):]
            theirs = tokenizer.encode(rest, add_special_tokens=False).ids[:1]
            logits = out.logits[step][0]
            gap = round(float(logits[new[step]] - logits[theirs[0]]), 4) if theirs else None
            return tokenizer.decode(new, skip_special_tokens=True), {"step": step, "logit_gap": gap}
    return tokenizer.decode(new, skip_special_tokens=True), None


def in_page(dist: Path, script: str, args: list) -> dict:
    """Run `script` in the chat page of a served `dist` (headless Chromium, WebGPU off); an
    allocation failure is a result here ({error, log}), not a crash."""
    from browser_helpers import attach_log, chromium, webslm_serve

    log: list[str] = []
    with webslm_serve(dist, timeout=600) as url, chromium(webgpu=False) as ctx:
        page = ctx.new_page()
        page.set_default_timeout(0)
        attach_log(page, log)
        page.goto(url)
        try:
            return page.evaluate(script, args)
        except Exception as err:
            return {"error": str(err).splitlines()[0], "log": log[-10:]}


def run_dtype(dist: Path, model: str, dtype: str, prompt: list[int], tokens: int,
              long: int) -> dict:
    from webslm.artifacts.files import onnx_filename
    from webslm.onnx.runner import OnnxLM

    artifact = dist / f"{model}-cpu"
    reference = OnnxLM(artifact / "onnx" / onnx_filename(dtype))
    expected = reference.greedy(prompt, tokens)
    got = in_page(dist, PAGE_RUN, [artifact.name, dtype, prompt, tokens, long])
    if "error" in got:
        return {"dtype": dtype, **got}
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
    ap.add_argument("--dtypes", default="q8,q4", help="ONNX dtypes transformers.js runs ('' for none)")
    ap.add_argument("--ggufs", default="Q8_0,Q4_0", help="GGUF types wllama runs ('' for none)")
    ap.add_argument("--tokens", type=int, default=8, help="greedy ids to compare")
    ap.add_argument("--long", type=int, default=1024, help="the long prompt's tokens")
    ap.add_argument("--dist", type=Path, help="reuse this dist/ instead of building")
    ap.add_argument("--keep", type=Path, help="move the build here when done")
    ap.add_argument("--out", type=Path, default=REPO / "results")
    a = ap.parse_args()

    from tokenizers import Tokenizer

    from webslm.artifacts.files import onnx_data_filename
    from webslm.onnx.wasm_memory import heap_bytes, weight_bytes

    config = CONFIGS[a.model]
    with tempfile.TemporaryDirectory(prefix="webslm-cpu-full-") as tmp:
        started = time.time()
        dist = a.dist or build(a.model, a.context_window, Path(tmp))
        build_s = None if a.dist else round(time.time() - started, 1)
        artifact = dist / f"{a.model}-cpu"
        prompt = Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(PROMPT).ids[:16]
        runs = []
        for dtype in filter(None, a.dtypes.split(",")):
            run = run_dtype(dist, a.model, dtype, prompt, a.tokens, a.long)
            run["download_bytes"] = (artifact / "onnx" / onnx_data_filename(dtype)).stat().st_size
            run["estimate"] = {"weights": weight_bytes(config, dtype),
                               f"heap_{a.long}": heap_bytes(config, dtype, a.long),
                               f"heap_{a.context_window}": heap_bytes(config, dtype,
                                                                      a.context_window)}
            print(json.dumps(run), flush=True)
            runs.append(run)
        for qtype in filter(None, a.ggufs.split(",")):
            add_gguf(artifact, a.model, qtype, Path(tmp))
            run = run_gguf(dist, a.model, qtype, PROMPT, a.tokens, a.long)
            print(json.dumps(run), flush=True)
            runs.append(run)
        if a.keep and not a.dist:
            shutil.move(str(dist), str(a.keep))
    result = {"model": a.model, "context_window": a.context_window, "build_s": build_s,
              "prompt_tokens": len(prompt), "runs": runs}
    a.out.mkdir(exist_ok=True)
    (a.out / "onnx_full_size.json").write_text(json.dumps(result, indent=2))
    raise SystemExit(0 if all(r.get("match_or_tie", "error" not in r) for r in runs) else 1)


if __name__ == "__main__":
    main()
