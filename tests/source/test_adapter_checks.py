"""Adapter folders whose config contradicts their weights, or whose declared base is another
model, are refused through the CLI before anything is built: exit 2, the problem and the fix
named, no traceback, nothing in --out. A base of another name but the same shapes is warned
about and built."""

from __future__ import annotations

import json

import pytest
import torch

from webslm.cli import main
from webslm.pipeline.inputs import resolve_input

DECLARED = "HuggingFaceTB/SmolLM2-135M-Instruct"
# SmolLM2-135M's layer-0 linears: (out, in)
SMOL = {"self_attn.q_proj": (576, 576), "self_attn.k_proj": (192, 576),
        "self_attn.v_proj": (192, 576), "self_attn.o_proj": (576, 576),
        "mlp.gate_proj": (1536, 576), "mlp.up_proj": (1536, 576), "mlp.down_proj": (576, 1536)}
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def write_adapter(path, rank=16, shapes=SMOL, **config):
    """A rank-`rank` LoRA on layer 0's linears, saved as PEFT saves it."""
    from safetensors.torch import save_file

    path.mkdir()
    cfg = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "target_modules": ALL_LINEAR,
           "base_model_name_or_path": DECLARED, **config}
    (path / "adapter_config.json").write_text(json.dumps(cfg))
    tensors = {}
    for module, (out, inp) in shapes.items():
        key = f"base_model.model.model.layers.0.{module}"
        tensors[f"{key}.lora_A.weight"] = torch.full((rank, inp), 1e-3)
        tensors[f"{key}.lora_B.weight"] = torch.full((out, rank), 1e-3)
    save_file(tensors, path / "adapter_model.safetensors")
    return path


def refused(capsys, tmp_path, adapter, *base) -> str:
    """`webslm build smollm2-135m --lora ADAPTER` (or `webslm build ADAPTER --base BASE`)."""
    out = tmp_path / "dist"
    model = ["build", str(adapter), "--base", *base] if base else \
        ["build", "smollm2-135m", "--lora", str(adapter)]
    code = main([*model, "--q4f32", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []
    return err


def test_a_rank_the_tensors_do_not_have_is_refused(capsys, tmp_path):
    err = refused(capsys, tmp_path, write_adapter(tmp_path / "a", r=10**9))
    assert "r = 1000000000" in err and "have rank 16" in err
    assert '"r": 16' in err  # the fix, with the tensors' rank


def test_a_rank_pattern_entry_is_held_to_its_module(capsys, tmp_path):
    err = refused(capsys, tmp_path, write_adapter(tmp_path / "a", rank_pattern={"v_proj": 4}))
    assert "r = 4" in err and "v_proj" in err and '"r": 16' in err


def test_target_modules_that_select_none_of_the_tensors_are_refused(capsys, tmp_path):
    err = refused(capsys, tmp_path, write_adapter(tmp_path / "a", target_modules=["c_attn"]))
    assert "does not select" in err and "q_proj" in err and "down_proj" in err
    assert '"target_modules": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", ' \
           '"v_proj"]' in err


def test_target_modules_that_leave_some_tensors_out_are_refused(capsys, tmp_path):
    err = refused(capsys, tmp_path, write_adapter(tmp_path / "a", target_modules=r".*\.(q_proj|v_proj)"))
    assert "does not select down_proj, gate_proj, k_proj, o_proj, up_proj" in err


@pytest.mark.parametrize("config, shown", [
    ({"alpha_pattern": {"q_proj": 0}}, "lora_alpha / r = 0 / 16 = 0"),
    ({"lora_alpha": 0}, "lora_alpha is 0"),
])
def test_a_scale_of_zero_is_refused(capsys, tmp_path, config, shown):
    assert shown in refused(capsys, tmp_path, write_adapter(tmp_path / "a", **config))


def test_an_infinite_or_nan_scale_is_refused(capsys, tmp_path):
    from webslm.errors import WebslmError
    from webslm.source.adapter_checks import check_scale

    err = refused(capsys, tmp_path, write_adapter(tmp_path / "a", lora_alpha=float("inf")))
    assert "lora_alpha is inf" in err
    with pytest.raises(WebslmError, match=r"lora_alpha / sqrt\(r\) = nan / sqrt\(16\) = nan"):
        check_scale(tmp_path / "adapter_config.json", "q_proj", float("nan"), 16, True, float("nan"))


def test_a_base_of_other_shapes_is_refused_naming_the_declared_one(capsys, tmp_path, make_hf_dir):
    base = make_hf_dir("tiny-llama")
    adapter = write_adapter(tmp_path / "a", shapes={"self_attn.q_proj": (576, 576)})
    err = refused(capsys, tmp_path, adapter, str(base))
    assert "shape (576, 576), but tiny-llama has" in err
    assert f"the adapter names {DECLARED}" in err and f"--base {DECLARED}" in err


def test_a_base_of_another_name_with_the_same_shapes_is_warned_about(tmp_path, make_hf_dir):
    base = make_hf_dir("tiny-llama")
    hidden = json.loads((base / "config.json").read_text())["hidden_size"]
    shapes = {"self_attn.q_proj": (hidden, hidden)}
    said: list[str] = []
    resolve_input(str(write_adapter(tmp_path / "a", shapes=shapes)), base=str(base),
                  say=said.append)
    assert len(said) == 1 and DECLARED in said[0] and "--base" in said[0], said
    said.clear()  # the same model named by a folder of its name: no warning
    resolve_input(str(write_adapter(tmp_path / "b", shapes=shapes,
                                    base_model_name_or_path="someone/Tiny-Llama")),
                  base=str(base), say=said.append)
    assert said == []
