"""Where a fine-tune's adapter should live in a browser build, measured before building it:
merged into the 4-bit weights (what `webslm build --lora` does), or kept as its own float
weights over a 4-bit base (y = Q(W) x + s B A x), with that base on webslm's q4 grid or on
bitsandbytes' NF4 (what a QLoRA adapter was trained against).

    python bench/adapter_placement.py [--steps 15] [--adapters LORA QLORA] [--out results/adapter-placement]

Two adapters are trained on SmolLM2-135M here (bench/lora_adapter.py's invented fact): a LoRA
on the float base and a QLoRA-style one on the NF4 round trip of its decoder linears. Each
variant runs in transformers on exactly the weights it would store and is compared with the
adapter in PEFT over the base it was trained on (the reference): perplexity on the eval text,
next-token agreement with the reference, mean KL(reference || variant), and the fact.

Two 4-bit grids: q4f32_1 (MLC's symmetric grid, the default for float checkpoints: SmolLM2's
Q4_1 source is re-rounded on it, as any float checkpoint would be) and q4f32_asym (the grid
SmolLM2's Q4_1 GGUF is on: it holds that base exactly). Only the decoder's matrices differ
between variants; the embedding (and tied lm_head) stays as the reference holds it, since every
variant of a build stores it alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lora_adapter import FACT, train  # noqa: E402
from finetune_survival import greedy  # noqa: E402

GRIDS = ("q4f32_1", "q4f32_asym")
REFERENCE = "reference (PEFT, float)"
EVAL_TOKENS = 1024
WINDOW = 256


def nf4_linears(model) -> None:
    """The decoder linears through bitsandbytes' NF4 round trip, in place (QLoRA's base)."""
    import torch

    from webslm.quantize.nf4 import nf4_roundtrip, quantized_by_qlora

    with torch.no_grad():
        for name, p in model.named_parameters():
            if quantized_by_qlora(name):
                p.copy_(torch.from_numpy(nf4_roundtrip(p.detach().numpy())))


def q4(model, grid: str) -> None:
    """Every decoder matrix as a `grid` build stores it, in place (before PEFT wraps the model)."""
    import torch

    from webslm.quantize.nf4 import quantized_by_qlora
    from webslm.quantize.schemes import get_scheme
    from webslm.quantize.survival import stored

    scheme = get_scheme(grid)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if quantized_by_qlora(name):  # the decoder's linears: what a build quantizes besides the embedding
                p.copy_(torch.from_numpy(stored(p.detach().numpy(), scheme)))


class QloraBase:
    """The base as a QLoRA trainer holds it: decoder linears in NF4, the rest float."""

    def __init__(self, base):
        self.base, self.tokenizer_dir = base, base.tokenizer_dir

    def load_reference_model(self):
        model = self.base.load_reference_model()
        nf4_linears(model)
        return model


def variants(base, adapter_dir: Path, qlora: bool) -> dict:
    """name -> a transformers model computing what that build would compute."""
    from peft import PeftModel

    from webslm.source.adapter import read_adapter
    from webslm.source.merged import merge_adapter

    merged = merge_adapter(base, read_adapter(adapter_dir), qlora_base="nf4" if qlora else None)
    models = {REFERENCE: merged.load_source_model()}
    for grid in GRIDS:
        m = merged.load_reference_model()  # W + s B A in float32 (over the NF4 base for QLoRA)
        q4(m, grid)
        models[f"merged, {grid}"] = m
        m = base.load_reference_model()
        q4(m, grid)
        models[f"separate, {grid} base"] = PeftModel.from_pretrained(m, adapter_dir).eval()
    m = base.load_reference_model()
    nf4_linears(m)
    models["separate, NF4 base"] = PeftModel.from_pretrained(m, adapter_dir).eval()
    return models


def compare(models: dict, chunks: list[list[int]], tokenizer) -> list[dict]:
    import torch

    from webslm.verify.perplexity import negative_log_likelihoods
    from webslm.verify.reference import teacher_forced_logits

    logits = {name: [teacher_forced_logits(m, c) for c in chunks] for name, m in models.items()}
    ref = logits[REFERENCE]
    rows = []
    for name, model in models.items():
        nll = np.concatenate([negative_log_likelihoods(l[:-1], c[1:]) for l, c in zip(logits[name], chunks)])
        agree, kl, n = 0, 0.0, 0
        for lr, lv in zip(ref, logits[name]):
            agree += int((lr.argmax(-1) == lv.argmax(-1)).sum())
            pr, pv = torch.log_softmax(torch.from_numpy(lr), -1), torch.log_softmax(torch.from_numpy(lv), -1)
            kl += float((pr.exp() * (pr - pv)).sum())
            n += lr.shape[0]
        answer = greedy(model, tokenizer)
        rows.append({"variant": name, "perplexity": float(np.exp(nll.mean())),
                     "top1_agreement": agree / n, "mean_kl": kl / n,
                     "answer": answer, "has_fact": FACT in answer})
    return rows


def main() -> None:
    from transformers import AutoTokenizer

    from webslm.source import open_source, smollm2_gguf_path
    from webslm.verify.perplexity import DEFAULT_TEXT, text_token_ids, windows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--adapters", nargs=2, type=Path, metavar=("LORA", "QLORA"),
                        help="adapters trained by an earlier run (skips training)")
    parser.add_argument("--out", default="results/adapter-placement")
    args = parser.parse_args()

    base = open_source(str(smollm2_gguf_path()))
    tokenizer = AutoTokenizer.from_pretrained(base.tokenizer_dir)
    chunks = windows(text_token_ids(base.tokenizer_dir, DEFAULT_TEXT, EVAL_TOKENS), WINDOW)
    work = Path(tempfile.mkdtemp(prefix="webslm-placement-"))
    results = {}
    for kind, qlora in (("LoRA on the float base", False), ("QLoRA on the NF4 base", True)):
        adapter = args.adapters[qlora] if args.adapters else \
            train(QloraBase(base) if qlora else base, work / ("qlora" if qlora else "lora"), args.steps)
        results[kind] = compare(variants(base, adapter, qlora), chunks, tokenizer)
    lines = ["| adapter | variant | perplexity | top-1 = reference | mean KL | fact |", "|---|---|---|---|---|---|"]
    for kind, rows in results.items():
        for r in rows:
            lines.append(f"| {kind} | {r['variant']} | {r['perplexity']:.3f} | {r['top1_agreement']:.1%} "
                         f"| {r['mean_kl']:.4f} | {'yes' if r['has_fact'] else 'no'}: {r['answer']!r} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "placement.json").write_text(json.dumps({"eval_tokens": EVAL_TOKENS, "grids": GRIDS,
                                                    "results": results}, indent=2))
    (out / "placement.md").write_text(table + "\n")
    print(f"written: {out / 'placement.md'}, {out / 'placement.json'}")


if __name__ == "__main__":
    main()
