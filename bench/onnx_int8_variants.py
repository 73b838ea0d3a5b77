"""Which int8 graph transformers.js should load on the CPU: candidate q8 graphs of a CPU
build's model, each made from the same fp32 export and scored in onnxruntime (Python, CPU:
the MLAS int8 kernels onnxruntime-web's WASM build also has) against transformers float32 on
the source weights:

  eval   perplexity and top-1 agreement over the first 512 tokens of tests/data/eval_text.txt
         in one window (one prefill);
  form   bench/task_forms.py's returns form as fillForm asks it (system prompt, worked
         example, the e-mail; ChatML), then its right answer teacher-forced as transformers.js
         runs a model: one prefill of the prompt, then one token at a time through the KV
         cache. Counted: answer tokens that are the unconstrained argmax, and fields whose
         value and closing quote are all argmax ("fields right teacher-forced": a proxy, the
         browser's constrained fill in bench/task_engines.py is the real count);
  speed  a 180-token prefill + 40 greedy decode steps, 2 threads, best of 3 (x86 AVX2 here:
         MatMulNBits has AVX2 kernels but no WASM ones, so its times do not carry to the
         browser; docs/BENCHMARKS.md).

    .venv/bin/python bench/onnx_int8_variants.py --dist /tmp/tjsform-dist --work /tmp/int8-variants

Candidates: the q8 build as webslm/onnx/int8.py makes it (one activation scale per token);
the same with one scale per tensor (onnxruntime's DynamicQuantizeLinear, the build before
2026-12-07); with the lm_head float; with only down_proj float; and MatMulNBits 8-bit blocks
of 32 (weight-only, fp32 compute; and int8 activations per block, accuracy level 4).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from task_forms import RETURNS_EXPECTED, RETURNS_TEXT  # noqa: E402
from webslm.artifacts.manifest import read_manifest  # noqa: E402
from webslm.onnx import int8  # noqa: E402
from webslm.onnx.checkpoint import write_hf_checkpoint  # noqa: E402
from webslm.onnx.export import _run_builder  # noqa: E402
from webslm.onnx.graph import finalize_graph  # noqa: E402
from webslm.onnx.runner import OnnxLM  # noqa: E402
from webslm.quantize.onnx_dtypes import BLOCK, ONNX_DTYPES  # noqa: E402
from webslm.source.config import head_dim  # noqa: E402
from webslm.verify import EVAL_TEXT  # noqa: E402
from webslm.verify.twin import open_manifest_source  # noqa: E402

# What fillForm sends for the returns form (web/static/form-prompt.js, buildMessages).
SYSTEM = ("Copy the contact details in the user's text into JSON. Copy each value exactly as "
          "written. Use \"\" when the text does not say.")
EXAMPLE_TEXT = "Kind regards,\nMaria Rossi\nmaria.rossi@northwind.example"
EXAMPLE = {"name": "Maria Rossi", "email": "maria.rossi@northwind.example", "order": "",
           "product": "", "reason": "", "purchased": "", "resolution": ""}


def _save(model: onnx.ModelProto, out: Path, hd: int) -> None:
    stage = out.parent / "stage"
    stage.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(stage / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=1024)
    finalize_graph(stage / "model.onnx", out, head_dim=hd)
    shutil.rmtree(stage)


def q8(fp32: Path, out: Path, hd: int, *, per_token=True, keep=None, extra_float=()) -> None:
    """int8.quantize_int8 with its choices opened up: which matmuls stay float, per token."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    floats = int8.float_matmuls(graph) if keep is None else \
        [n.name for n in graph.node if n.op_type == "MatMul" and keep(n.name)]
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "model.onnx"
        quantize_dynamic(str(fp32), str(staged), weight_type=QuantType.QUInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=floats + list(extra_float),
                         use_external_data_format=True, extra_options={"MatMulConstBOnly": True})
        model = onnx.load(str(staged))
    int8._gather_tied_embedding_from_int8(model)
    if per_token:
        int8._quantize_per_token(model)
    int8._drop_unused_initializers(model)
    _save(model, out, hd)


def nbits8(fp32: Path, out: Path, hd: int, *, accuracy_level: int) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=8, block_size=32,
                                     is_symmetric=True, accuracy_level=accuracy_level)
    quantizer.process()
    _save(quantizer.model.model, out, hd)


VARIANTS = {
    "q8, per-token activations (int8.py)": lambda f, o, h: q8(f, o, h),
    "q8, per-tensor activations (before)": lambda f, o, h: q8(f, o, h, per_token=False),
    "q8 per-token, lm_head float": lambda f, o, h: q8(f, o, h, extra_float=["/lm_head/MatMul"]),
    "q8 per-tensor, lm_head float": lambda f, o, h: q8(f, o, h, per_token=False,
                                                       extra_float=["/lm_head/MatMul"]),
    "q8 per-token, only down_proj float": lambda f, o, h: q8(f, o, h,
                                                             keep=lambda n: "/down_proj/" in n),
    "MatMulNBits 8-bit b32, fp32 compute": lambda f, o, h: nbits8(f, o, h, accuracy_level=1),
    "MatMulNBits 8-bit b32, int8 activations (level 4)": lambda f, o, h: nbits8(f, o, h,
                                                                                accuracy_level=4),
}


def log_probs(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def perplexity(logits: np.ndarray, ids: list[int]) -> float:
    return float(np.exp(-log_probs(logits[:-1])[np.arange(len(ids) - 1), ids[1:]].mean()))


class Form:
    """The returns form's prompt and right answer as ids, and each field's answer tokens."""

    def __init__(self, tokenizer: Tokenizer):
        turns = [("system", SYSTEM), ("user", EXAMPLE_TEXT),
                 ("assistant", json.dumps(EXAMPLE, separators=(",", ":"))),
                 ("user", RETURNS_TEXT.strip())]
        prompt = "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in turns) + "<|im_start|>assistant\n"
        answer = json.dumps(RETURNS_EXPECTED, separators=(",", ":"))
        self.prompt = tokenizer.encode(prompt, add_special_tokens=False).ids
        encoded = tokenizer.encode(answer, add_special_tokens=False)
        self.answer = encoded.ids
        self.spans = {}
        for key, value in RETURNS_EXPECTED.items():
            start = answer.index(f'"{key}":"') + len(key) + 4
            end = start + len(value) + 1  # the value and its closing quote
            self.spans[key] = [i for i, (a, b) in enumerate(encoded.offsets) if a < end and b > start]

    def score(self, logits: np.ndarray) -> dict:
        best = logits.argmax(-1)
        right = [k for k, span in self.spans.items() if all(best[i] == self.answer[i] for i in span)]
        return {"answer_argmax_right": f"{int((best == np.array(self.answer)).sum())}/{len(self.answer)}",
                "answer_nll": round(float(-log_probs(logits)[np.arange(len(self.answer)), self.answer].sum()), 2),
                "fields_right_teacher_forced": f"{len(right)}/{len(self.spans)}", "fields": right}

    def run(self, lm: OnnxLM) -> np.ndarray:
        """The answer positions' logits, fed as transformers.js feeds them."""
        logits, cache = lm.forward(self.prompt, lm._empty_cache(), 0, keep=1)
        rows = [logits[-1]]
        for i, token in enumerate(self.answer[:-1]):
            logits, cache = lm.forward([token], cache, len(self.prompt) + i, keep=1)
            rows.append(logits[-1])
        return np.stack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", type=Path, required=True, help="a dist/ holding smollm2-135m-cpu (or --model's)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (about 2.5 GB)")
    ap.add_argument("--only", nargs="*", default=[], help="variants whose name contains one of these")
    a = ap.parse_args()
    artifact = a.dist / f"{a.model}-cpu"
    source = open_manifest_source(read_manifest(artifact))
    hd = head_dim(source.config)
    fp32 = a.work / "fp32" / "model.onnx"
    if not fp32.is_file():
        checkpoint = write_hf_checkpoint(source, a.work / "hf")
        _run_builder(checkpoint, fp32.parent, ONNX_DTYPES["fp32"], a.work / "cache", BLOCK)
    tokenizer = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    form = Form(tokenizer)
    ids = tokenizer.encode(EVAL_TEXT.read_text(encoding="utf-8")).ids[:512]
    with torch.no_grad():
        reference = source.load_reference_model()
        ref = reference(torch.tensor([ids])).logits[0].float().numpy()
        ref_form = reference(torch.tensor([form.prompt + form.answer])).logits[0].float().numpy()
        ref_form = ref_form[len(form.prompt) - 1:-1]
    base = perplexity(ref, ids)
    rows = {"transformers float32": {"perplexity": round(base, 3), **form.score(ref_form)}}
    print(json.dumps(rows), flush=True)
    for number, (name, make) in enumerate(VARIANTS.items()):
        if a.only and not any(o in name for o in a.only):
            continue
        path = a.work / f"variant-{number}" / "model.onnx"
        if not path.is_file():
            make(fp32, path, hd)
        lm = OnnxLM(path, threads=2)
        logits = lm.logits(ids)
        answer = form.run(lm)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            lm.greedy(form.prompt[:180], 41)
            times.append(time.perf_counter() - start)
        rows[name] = {
            "perplexity": round(perplexity(logits, ids), 3),
            "increase": f"{perplexity(logits, ids) / base - 1:+.1%}",
            "top1_vs_float": round(float((logits.argmax(-1) == ref.argmax(-1)).mean()), 3),
            **form.score(answer),
            "answer_top1_vs_float": round(float((answer.argmax(-1) == ref_form.argmax(-1)).mean()), 3),
            "prefill180_decode40_s": round(min(times), 2),
            "file_MB": round(sum(f.stat().st_size for f in path.parent.iterdir()) / 1e6, 1),
        }
        print(json.dumps({name: rows[name]}), flush=True)
    (a.work / "variants.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
