"""Local Hugging Face folders: single-file, sharded and bf16 safetensors checkpoints."""

import inspect
import json

import numpy as np
import pytest
import torch

from webslm.errors import WebslmError
from webslm.source import SafetensorsSource, open_source


def expected_tensors(model):
    return {k: v.float().numpy() for k, v in model.state_dict().items()}


def test_single_file_folder(make_hf_dir, tiny_model):
    root = make_hf_dir()
    source = open_source(str(root))
    assert isinstance(source, SafetensorsSource)
    assert source.id == "tiny-llama" and source.revision is None
    cfg = source.config
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]) == (32, 2, 49152)
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]) == (4, 2, 8)
    assert cfg["tie_word_embeddings"] is False
    assert cfg["rope_theta"] == 50000.0 and cfg["rope_scaling"] is None  # from rope_parameters
    assert source.generation_config["eos_token_id"] == 2
    assert source.tokenizer_dir == root and "<|im_start|>" in source.chat_template
    names = {p.name for p in source.files}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert all(p.is_file() for p in source.files)

    expected = expected_tensors(tiny_model)
    assert sorted(source.tensor_names()) == sorted(expected)
    stream = source.tensors()
    assert inspect.isgenerator(stream)
    for name, array in stream:
        assert array.dtype == np.float32 and array.flags.c_contiguous
        np.testing.assert_array_equal(array, expected[name])


def test_sharded_folder(make_hf_dir, tiny_model):
    root = make_hf_dir("sharded", max_shard_size="1MB")
    shards = sorted(root.glob("model-*-of-*.safetensors"))
    assert len(shards) >= 2 and (root / "model.safetensors.index.json").is_file()
    source = open_source(str(root))
    files = {p.name for p in source.files}
    assert {s.name for s in shards} | {"model.safetensors.index.json"} <= files
    expected = expected_tensors(tiny_model)
    got = dict(source.tensors())
    assert sorted(got) == sorted(expected)
    for name, array in got.items():
        np.testing.assert_array_equal(array, expected[name])


def test_bf16_checkpoint_reads_as_float32(make_hf_dir, tiny_model):
    import copy

    bf16 = copy.deepcopy(tiny_model).to(torch.bfloat16)
    source = open_source(str(make_hf_dir("bf16", model=bf16)))
    expected = expected_tensors(bf16)
    for name, array in source.tensors():
        assert array.dtype == np.float32
        np.testing.assert_array_equal(array, expected[name])


def test_reference_model_matches_the_saved_model(make_hf_dir, tiny_model):
    source = open_source(str(make_hf_dir()))
    reference = source.load_reference_model()
    assert next(reference.parameters()).dtype == torch.float32 and not reference.training
    ids = torch.tensor([[1, 504, 3937, 314, 2]])
    with torch.no_grad():
        np.testing.assert_allclose(
            reference(ids).logits.numpy(), tiny_model(ids).logits.numpy(), rtol=1e-5, atol=1e-6
        )


def test_separate_chat_template_is_merged_into_a_staged_copy(make_hf_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    root = make_hf_dir()
    tok_config = json.loads((root / "tokenizer_config.json").read_text())
    template = tok_config.pop("chat_template")
    (root / "tokenizer_config.json").write_text(json.dumps(tok_config))
    (root / "chat_template.jinja").write_text(template)
    source = open_source(str(root))
    assert source.tokenizer_dir != root and (tmp_path / "cache") in source.tokenizer_dir.parents
    assert source.chat_template == template
    assert (source.tokenizer_dir / "tokenizer.json").read_bytes() == (root / "tokenizer.json").read_bytes()
    assert "chat_template" not in json.loads((root / "tokenizer_config.json").read_text())
    assert open_source(str(root)).tokenizer_dir == source.tokenizer_dir  # reused, not re-staged


def test_corrupt_weight_file_is_named(make_hf_dir):
    root = make_hf_dir()
    weights = root / "model.safetensors"
    weights.write_bytes(b"\x20\x00\x00\x00\x00\x00\x00\x00{not json" + b"\0" * 64)
    with pytest.raises(WebslmError, match="model.safetensors is corrupt") as err:
        open_source(str(root))
    assert "download" in err.value.fix


def test_truncated_shard_is_named(make_hf_dir):
    root = make_hf_dir("sharded", max_shard_size="1MB")
    shard = sorted(root.glob("model-*-of-*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[:-1000])
    with pytest.raises(WebslmError, match=shard.name):
        open_source(str(root))


def test_missing_shard_is_named(make_hf_dir):
    root = make_hf_dir("sharded", max_shard_size="1MB")
    shard = sorted(root.glob("model-*-of-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(WebslmError, match=f"{shard.name}.*missing"):
        open_source(str(root))


@pytest.mark.parametrize("missing", ["tokenizer.json", "tokenizer_config.json"])
def test_missing_tokenizer_file_is_named(make_hf_dir, missing):
    root = make_hf_dir()
    (root / missing).unlink()
    with pytest.raises(WebslmError, match=f"tokenizer files missing.*{missing}"):
        open_source(str(root))


def test_folder_without_config_or_safetensors(make_hf_dir):
    root = make_hf_dir()
    (root / "model.safetensors").rename(root / "pytorch_model.bin")
    with pytest.raises(WebslmError, match="pytorch_model.bin") as err:
        open_source(str(root))
    assert "safetensors" in err.value.fix
    (root / "config.json").unlink()
    with pytest.raises(WebslmError, match="no config.json"):
        open_source(str(root))


def test_prequantized_integer_weights_are_refused(make_hf_dir):
    from safetensors.torch import save_file

    root = make_hf_dir()
    save_file({"model.layers.0.self_attn.q_proj.qweight": torch.zeros(4, 4, dtype=torch.int32)},
              root / "model.safetensors")
    source = open_source(str(root))
    with pytest.raises(WebslmError, match="already quantized"):
        source.get_tensor("model.layers.0.self_attn.q_proj.qweight")


def test_revision_is_refused_for_local_sources(make_hf_dir):
    with pytest.raises(WebslmError, match="--revision"):
        open_source(str(make_hf_dir()), revision="main")


@pytest.mark.parametrize("spec", ["./no/such/dir", "missing-model.gguf", "/abs/none", "not a repo id!"])
def test_unusable_specs(spec):
    with pytest.raises(WebslmError) as err:
        open_source(spec)
    assert err.value.fix
