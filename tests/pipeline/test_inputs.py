"""What `webslm build X` resolves X to, before anything heavy runs: names, folders, .gguf
files and adapter folders, with their build ids, base models and chat formats."""

from __future__ import annotations

import json

import pytest
import torch

from webslm.errors import WebslmError
from webslm.pipeline.inputs import resolve_input
from webslm.source import smollm2_gguf_path
from webslm.source.merged import MergedSource

SMOL_Q = "base_model.model.model.layers.0.self_attn.q_proj"


def smollm2_adapter(path, base="HuggingFaceTB/SmolLM2-135M-Instruct"):
    """A rank-2 adapter on SmolLM2's first q_proj (576 x 576), as PEFT saves it."""
    from safetensors.torch import save_file

    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "base_model_name_or_path": base}))
    save_file({f"{SMOL_Q}.lora_A.weight": torch.ones(2, 576) * 1e-3,
               f"{SMOL_Q}.lora_B.weight": torch.ones(576, 2) * 1e-3},
              path / "adapter_model.safetensors")
    return path


def test_a_model_folder_builds_under_its_own_name(make_hf_dir):
    folder = make_hf_dir("My_Merged-FineTune")
    got = resolve_input(str(folder))
    assert got.entry.name == "my_merged-finetune"
    assert got.entry.architecture == "LlamaForCausalLM"
    assert got.entry.chat_format == "chatml"  # read off SmolLM2's template in the folder
    assert got.entry.quantizations == ("q4f16_1", "q4f32_1")  # MLC-LLM's, f16 and f32 kernels
    assert (got.entry.context_window, got.entry.prefill_chunk) == (256, 256)  # max positions
    assert got.adapter is None


def test_a_gguf_file_builds_under_its_stem():
    got = resolve_input(str(smollm2_gguf_path()))
    assert got.entry.name == "smollm2-135m-instruct.q4_1"
    assert got.entry.chat_format == "chatml"


def test_an_adapter_folder_finds_its_base_by_hub_id(tmp_path):
    got = resolve_input(str(smollm2_adapter(tmp_path / "Support-Bot")))
    assert got.entry.name == "support-bot"
    assert got.entry.quantizations == ("q4f16_asym", "q4f32_asym")  # its base's entry
    assert got.spec.startswith("pypi:")  # recorded as models.yaml gives it, portable
    assert isinstance(got.source, MergedSource)
    assert got.source.config["vocab_size"] == 49152


def test_lora_on_a_name_and_an_explicit_build_name(tmp_path):
    got = resolve_input("smollm2-135m", lora=str(smollm2_adapter(tmp_path / "a", base="")),
                        name="smol-helper")
    assert got.entry.name == "smol-helper" and got.adapter.name == "a"


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "smollm2-135m", "base": "x"}, "--base given with the model name"),
    ({"model": "no-such-model"}, "unknown model 'no-such-model'"),
    ({"model": "smollm2-135m", "qlora_base": "nf4"}, "--qlora-base applies to LoRA adapters"),
    ({"model": "smollm2-135m", "name": "Bad Name!"}, "cannot be a build id"),
    ({"model": "smollm2-135m", "chat_format": "llama-3"}, "does not follow chat format 'llama-3'"),
])
def test_bad_combinations_are_refused_early(kwargs, match):
    with pytest.raises(WebslmError, match=match):
        resolve_input(kwargs.pop("model"), **kwargs)


def test_an_adapter_without_a_base_asks_for_one(tmp_path):
    with pytest.raises(WebslmError, match="does not name its base model") as err:
        resolve_input(str(smollm2_adapter(tmp_path / "a", base="")))
    assert "--base" in err.value.fix


def test_an_adapter_for_another_base_is_named(tmp_path, make_hf_dir):
    with pytest.raises(WebslmError, match=r"for a weight of shape \(576, 576\), but tiny-llama has"):
        resolve_input(str(smollm2_adapter(tmp_path / "a")), base=str(make_hf_dir()))
