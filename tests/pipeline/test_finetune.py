"""How `webslm build --lora` chooses a fine-tune's build, on a tiny model in seconds: the base
sits on the q4f32_asym grid (as SmolLM2's Q4_1 source does), so merging a small adapter on
that grid rounds it away while keeping it apart over that grid computes PEFT exactly; the
unquantized build computes it too, but at four times the size."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from webslm.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.pipeline.finetune import SIZE_SLACK, choose_builds
from webslm.pipeline.inputs import resolve_input
from webslm.quantize.schemes import get_scheme
from webslm.quantize.survival import stored_weight

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "source"))


def on_the_asym_grid(model):
    """Every matrix as a q4f32_asym build stores it: that build holds this base exactly."""
    scheme = get_scheme("q4f32_asym")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.from_numpy(stored_weight(name, p.numpy(), scheme, LLAMA_WEIGHTS)))
    return model


def test_the_build_that_agrees_with_peft_at_comparable_size_is_picked(make_hf_dir, tiny_llama_factory,
                                                                        tmp_path):
    from peft import LoraConfig, get_peft_model

    base = on_the_asym_grid(tiny_llama_factory(vocab_size=49152))
    base_dir = make_hf_dir("base", model=base)
    torch.manual_seed(3)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                           target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():  # a delta well under one 4-bit step, as a short fine-tune's is
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.mul_(0.02)
    peft.save_pretrained(tmp_path / "ft")
    (tmp_path / "ft" / "prompts.txt").write_text("What is the capital of France?\nSay hello.\n")
    source = resolve_input(str(tmp_path / "ft"), base=str(base_dir), say=lambda m: None).source

    said: list[str] = []
    [choice] = choose_builds(source, _arch(source), [get_scheme("q4f32_asym")], False, said.append)
    print("\n".join(said))
    assert (choice.scheme.name, choice.kept) == ("q4f32_asym", True)
    table = choice.manifest["finetune_choice"]
    rows = {r["build"]: r for r in table["candidates"]}
    assert list(rows) == ["merged, q4f32_asym", "merged, q4f32_1", "merged, q0f32",
                          "kept apart over q4f32_asym"]
    assert table["picked"] == "kept apart over q4f32_asym" and len(table["reference_answers"]) == 2
    kept, on_grid, full = (rows[k] for k in ("kept apart over q4f32_asym", "merged, q4f32_asym",
                                             "merged, q0f32"))
    assert kept["top1_agreement"] == 1.0 and kept["prompts_answered"] == 2 and kept["mean_kl"] < 1e-4
    assert on_grid["mean_kl"] > 100 * kept["mean_kl"]          # the delta rounded away
    assert full["top1_agreement"] == 1.0                       # exact too, but:
    assert full["megabytes"] > SIZE_SLACK * on_grid["megabytes"]
    assert kept["megabytes"] <= SIZE_SLACK * on_grid["megabytes"]
    printed = "\n".join(said)
    assert "kept apart over q4f32_asym" in printed and "<- picked" in printed
    assert "building kept apart over q4f32_asym" in printed
    assert np.isfinite([r["mean_kl"] for r in rows.values()]).all()


def test_a_scheme_named_exactly_is_built_as_asked(make_hf_dir, tiny_llama_factory, tmp_path):
    from test_adapter import make_adapter  # tests/source

    base_dir = make_hf_dir("base", model=tiny_llama_factory(vocab_size=49152))
    adapter = make_adapter(tiny_llama_factory(vocab_size=49152), tmp_path / "ft")
    source = resolve_input(str(adapter), base=str(base_dir), say=lambda m: None).source
    [choice] = choose_builds(source, _arch(source), [get_scheme("q4f32_1")], True, lambda m: None)
    assert (choice.scheme.name, choice.kept) == ("q4f32_1", False)
    assert "finetune_choice" not in choice.manifest and "finetune_survival" in choice.manifest


def _arch(source):
    from webslm.arch import find_architecture

    return find_architecture(source.config)
