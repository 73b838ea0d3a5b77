"""Shared sources: the real SmolLM2 GGUF, and tiny random Llama checkpoints in HF layout.

The GGUF's derived files (config, tokenizer) live in the webslm cache ($WEBSLM_CACHE_DIR or
~/.cache/webslm): the first session pays ~15 s to extract them, later sessions reuse them.
"""

import shutil

import pytest
import torch

from webslm.source import open_source, smollm2_gguf_path


@pytest.fixture(scope="session")
def smollm2():
    return open_source(str(smollm2_gguf_path()))


@pytest.fixture(scope="session")
def tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,  # SmolLM2's tokenizer, copied in below
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rope_theta=50000.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture
def make_hf_dir(tmp_path, smollm2, tiny_model):
    """Save the tiny model (any save_pretrained options) plus SmolLM2's real tokenizer files."""

    def make(name="tiny-llama", model=None, **save_kwargs):
        out = tmp_path / name
        (model or tiny_model).save_pretrained(out, **save_kwargs)
        for file in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(smollm2.tokenizer_dir / file, out / file)
        return out

    return make
