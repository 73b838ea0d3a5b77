"""How much of a fine-tune each quantization keeps, and whether the quantized model still gives
the fine-tuned answer: the numbers in docs/FINETUNES.md.

    python bench/finetune_survival.py [ADAPTER_DIR] [--train-steps 15] [--out results/finetune]

Without ADAPTER_DIR it trains bench/lora_adapter.py's SmolLM2 LoRA first. For every scheme it
prints webslm's survival report (what `webslm build` prints) and the greedy answer of
transformers running the weights that scheme stores (the same weights `webslm verify` holds
a build's kernels to within 1e-3).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lora_adapter import FACT, QUESTION, train  # noqa: E402

SCHEMES = ("q4f16_asym", "q4f32_asym", "q4f16_1", "q4f32_1", "q0f16", "q0f32")


def stored_weights_answer(model, tokenizer, merged_tensors: dict, scheme, weight_map) -> str:
    """Greedy answer of `model` after loading the weights `scheme` stores for each matrix."""
    import torch

    from webslm.quantize.survival import stored_weight

    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in merged_tensors and param.dim() == 2:
                stored = stored_weight(name, merged_tensors[name], scheme, weight_map)
                param.copy_(torch.from_numpy(stored))
    return greedy(model, tokenizer)


def greedy(model, tokenizer, max_new_tokens: int = 14, question: str = QUESTION) -> str:
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                        add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def main() -> None:
    from transformers import AutoTokenizer

    from webslm.arch import find_architecture
    from webslm.pipeline.finetune import survival_report
    from webslm.quantize.schemes import get_scheme
    from webslm.source import open_source, smollm2_gguf_path
    from webslm.source.adapter import read_adapter
    from webslm.source.merged import merge_adapter

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter", nargs="?")
    parser.add_argument("--train-steps", type=int, default=15)
    parser.add_argument("--out", default="results/finetune")
    args = parser.parse_args()

    base = open_source(str(smollm2_gguf_path()))
    adapter = Path(args.adapter) if args.adapter else train(
        base, Path(tempfile.mkdtemp(prefix="webslm-lora-")) / "smollm2-marzipan", args.train_steps)
    merged = merge_adapter(base, read_adapter(adapter))
    weight_map = find_architecture(merged.config).weight_map
    tokenizer = AutoTokenizer.from_pretrained(merged.tokenizer_dir)
    model = merged.load_reference_model()
    tensors = dict(merged.tensors())
    rows = [("build", "kept", "correlation", "|delta| / step (median kind)", "answer")]
    rows.append(("float32 merge", "100%", "1.00", "-", greedy(model, tokenizer)))
    rows.append(("base model, q4f32_asym", "-", "-", "-",
                 stored_weights_answer(base.load_reference_model(), tokenizer, dict(base.tensors()),
                                       get_scheme("q4f32_asym"), weight_map)))
    results = []
    for name in SCHEMES:
        scheme = get_scheme(name)
        report = survival_report(merged, scheme, weight_map)
        answer = stored_weights_answer(model, tokenizer, tensors, scheme, weight_map)
        steps = sorted(k.delta_per_step for k in report.kinds)
        step = steps[len(steps) // 2]
        rows.append((name, f"{report.kept:.0%}", f"{report.correlation:.2f}",
                     "n/a" if step == float("inf") else f"{step:.3f}", answer))
        results.append({**report.to_json(), "answer": answer, "has_fact": FACT in answer})
    table = "\n".join("| " + " | ".join(r) + " |" for r in [rows[0], tuple("---" for _ in rows[0]), *rows[1:]])
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "survival.json").write_text(json.dumps({"adapter": str(adapter), "schemes": results}, indent=2))
    (out / "survival.md").write_text(table + "\n")
    print(f"written: {out / 'survival.md'}, {out / 'survival.json'}")


if __name__ == "__main__":
    main()
