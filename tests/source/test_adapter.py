"""LoRA adapters merged in float32 against PEFT's own unmerged model (base + adapter at run
time), for every adapter kind the trainers write; and the errors for what cannot be merged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from webslm.errors import WebslmError
from webslm.source import open_model_dir
from webslm.source.adapter import read_adapter
from webslm.source.merged import merge_adapter, meta_to_hf_rows

peft = pytest.importorskip("peft")

IDS = torch.tensor([[1, 5, 77, 300, 12, 9, 41, 250]])
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _logits(model, ids=IDS) -> np.ndarray:
    with torch.no_grad():
        return model(ids).logits[0].float().numpy()


def make_adapter(base_model, out, *, resize=None, **lora_kwargs):
    """A PEFT adapter with random (non-zero) A and B, saved as the trainers save it."""
    import copy

    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    model = copy.deepcopy(base_model)
    if resize:
        model.resize_token_embeddings(resize, mean_resizing=False)
    lora_kwargs.setdefault("target_modules", ALL_LINEAR)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                                  **lora_kwargs))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_magnitude_vector" in name:
                p.mul_(1.3)  # a magnitude unlike the base norm, so DoRA's rescale shows
            elif name.endswith("modules_to_save.default.weight"):
                p.add_(torch.randn_like(p) * 0.5)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture
def base_dir(make_hf_dir, tiny_llama_factory):
    return make_hf_dir("base", model=tiny_llama_factory(vocab_size=49152, hidden_size=64))


VARIANTS = {
    "lora": {},
    "rslora": {"use_rslora": True},
    "dora": {"use_dora": True},
    "alpha_pattern": {"alpha_pattern": {"v_proj": 32}, "rank_pattern": {"o_proj": 2}},
    "modules_to_save": {"modules_to_save": ["lm_head"]},
    "embedding_lora": {"target_modules": ["embed_tokens", "q_proj", "lm_head"]},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_merged_weights_compute_what_peft_computes_unmerged(variant, base_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    base_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    adapter_dir = make_adapter(base_model, tmp_path / variant, **VARIANTS[variant])
    merged = merge_adapter(open_model_dir(base_dir), read_adapter(adapter_dir))

    ours = _logits(merged.load_reference_model())
    theirs = _logits(merged.load_source_model())
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.abs(ours - _logits(base_model)).max() > 1e-2, "the adapter changes the model"


def test_lora_on_a_tied_embedding_unties_it(make_hf_dir, tiny_llama_factory, tmp_path):
    """PEFT's LoRA on a tied embedding changes the lookup only; the output keeps the base."""
    from transformers import AutoModelForCausalLM

    base_dir = make_hf_dir("tied", model=tiny_llama_factory(vocab_size=49152, tie_word_embeddings=True))
    base_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    adapter_dir = make_adapter(base_model, tmp_path / "a", target_modules=["embed_tokens", "q_proj"])
    merged = merge_adapter(open_model_dir(base_dir), read_adapter(adapter_dir))
    assert merged.config["tie_word_embeddings"] is False
    assert "lm_head.weight" in merged.tensor_names()
    assert np.abs(_logits(merged.load_reference_model()) - _logits(merged.load_source_model())).max() < 1e-4


def test_added_tokens_resize_the_vocabulary(base_dir, tmp_path):
    """Two chat tokens added before training: the whole new embedding and lm_head travel in
    the adapter (modules_to_save), and the fine-tune's tokenizer comes with it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|new_a|>", "<|new_b|>"]})
    vocab = len(tokenizer)
    adapter_dir = make_adapter(base_model, tmp_path / "resized", resize=vocab,
                               modules_to_save=["embed_tokens", "lm_head"])
    tokenizer.save_pretrained(adapter_dir)

    merged = merge_adapter(open_model_dir(base_dir), read_adapter(adapter_dir))
    assert merged.config["vocab_size"] == vocab == 49154
    assert merged.tokenizer_dir != open_model_dir(base_dir).tokenizer_dir
    ids = torch.tensor([[1, 5, 49152, 49153, 7]])
    ours, theirs = _logits(merged.load_reference_model(), ids), _logits(merged.load_source_model(), ids)
    assert ours.shape[-1] == vocab
    assert np.abs(ours - theirs).max() < 1e-4


def test_phi3_fused_targets(tmp_path, smollm2):
    """Phi-3 stores qkv_proj and gate_up_proj fused; its adapters target those names."""
    import shutil

    from transformers import AutoModelForCausalLM, Phi3Config, Phi3ForCausalLM

    torch.manual_seed(0)
    base = Phi3ForCausalLM(Phi3Config(vocab_size=49152, hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=4, pad_token_id=0)).eval()
    base.save_pretrained(tmp_path / "phi3")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(smollm2.tokenizer_dir / f, tmp_path / "phi3" / f)
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "phi3", dtype=torch.float32)
    adapter_dir = make_adapter(base, tmp_path / "a", target_modules=["qkv_proj", "gate_up_proj",
                                                                      "o_proj", "down_proj"])
    merged = merge_adapter(open_model_dir(tmp_path / "phi3"), read_adapter(adapter_dir))
    assert "model.layers.0.self_attn.qkv_proj.weight" in merged.adapter.low_rank
    assert np.abs(_logits(merged.load_reference_model()) - _logits(merged.load_source_model())).max() < 1e-4


def test_qlora_merges_into_the_nf4_base_peft_runs_it_on(base_dir, tmp_path):
    """--qlora-base nf4: the decoder's linears become their NF4 round trip before the merge
    (webslm/quantize/nf4.py, checked against bitsandbytes in tests/quantize/test_nf4.py);
    embeddings and norms stay float, as bitsandbytes leaves them."""
    from transformers import AutoModelForCausalLM

    base_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    adapter = read_adapter(make_adapter(base_model, tmp_path / "qlora"))
    base = open_model_dir(base_dir)
    plain, nf4 = merge_adapter(base, adapter), merge_adapter(base, adapter, qlora_base="nf4")
    q = "model.layers.0.self_attn.q_proj.weight"
    step = np.abs(base.get_tensor(q)).max() / 8
    assert 0 < np.abs(nf4.get_tensor(q) - plain.get_tensor(q)).max() < step
    for name in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
        np.testing.assert_array_equal(nf4.get_tensor(name), plain.get_tensor(name))
    assert np.abs(_logits(nf4.load_reference_model()) - _logits(nf4.load_source_model())).max() < 1e-4
    with pytest.raises(WebslmError, match="unknown --qlora-base"):
        merge_adapter(base, adapter, qlora_base="fp4")


def test_torchtune_adapter_in_its_own_names(base_dir, tmp_path):
    """torchtune's adapter_model.pt: its module names, and q/k rows in Meta's rotary order.
    Written here from a PEFT adapter with transformers' own interleaved->HF row order (the one
    it applies to GGUF q/k weights, which are stored in Meta's order too) inverted."""
    from transformers import AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    to_hf = LlamaTensorProcessor()._reverse_permute_weights

    base_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    peft_dir = make_adapter(base_model, tmp_path / "peft", use_dora=True)
    peft_adapter = read_adapter(peft_dir)
    cfg = base_model.config
    names = {"self_attn.q_proj": "attn.q_proj", "self_attn.k_proj": "attn.k_proj",
             "self_attn.v_proj": "attn.v_proj", "self_attn.o_proj": "attn.output_proj",
             "mlp.gate_proj": "mlp.w1", "mlp.down_proj": "mlp.w2", "mlp.up_proj": "mlp.w3"}
    state = {}
    for hf, lr in peft_adapter.low_rank.items():
        layer, module = hf.removeprefix("model.layers.").removesuffix(".weight").split(".", 1)
        tt = f"layers.{layer}.{names[module]}"
        b, magnitude = torch.from_numpy(lr.b), torch.from_numpy(lr.magnitude)
        heads = {"self_attn.q_proj": cfg.num_attention_heads,
                 "self_attn.k_proj": cfg.num_key_value_heads}.get(module)
        if heads:  # HF -> Meta: the inverse of transformers' permute
            meta_b = torch.empty_like(b)
            meta_m = torch.empty_like(magnitude)
            order = torch.from_numpy(to_hf(np.arange(b.shape[0]), heads))  # hf row i = meta row order[i]
            meta_b[order], meta_m[order] = b, magnitude
            b, magnitude = meta_b, meta_m
        state[f"{tt}.lora_a.weight"] = torch.from_numpy(lr.a)
        state[f"{tt}.lora_b.weight"] = b
        state[f"{tt}.magnitude"] = magnitude
    tt_dir = tmp_path / "torchtune"
    tt_dir.mkdir()
    torch.save(state, tt_dir / "adapter_model.pt")
    (tt_dir / "adapter_config.json").write_text(json.dumps(
        {"r": 4, "lora_alpha": 8, "use_dora": True, "peft_type": "LORA",
         "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}))

    tt = merge_adapter(open_model_dir(base_dir), read_adapter(tt_dir), meta_rotary=True)  # Llama
    assert tt.adapter.format == "torchtune"
    reference = merge_adapter(open_model_dir(base_dir), peft_adapter)
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
                 "model.layers.1.mlp.down_proj.weight"):
        np.testing.assert_allclose(tt.get_tensor(name), reference.get_tensor(name), atol=1e-6)


def test_meta_rows_reorder_per_head():
    rows = np.arange(8, dtype=np.float32)[:, None]  # 2 heads of 4: (x0, y0, x1, y1)
    assert meta_to_hf_rows(rows, 2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


# --- what cannot be merged is refused before anything is built ---------------------------

def _write_adapter(path, config, tensors):
    from safetensors.torch import save_file

    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps(config))
    save_file(tensors, path / "adapter_model.safetensors")
    return path


def test_unknown_peft_type_is_refused(tmp_path):
    d = _write_adapter(tmp_path / "ia3", {"peft_type": "IA3"}, {"x": torch.zeros(1)})
    with pytest.raises(WebslmError, match="IA3 adapter; webslm merges LoRA"):
        read_adapter(d)


def test_a_target_the_base_lacks_is_named(base_dir, tmp_path):
    key = "base_model.model.transformer.h.0.attn.c_attn"
    d = _write_adapter(tmp_path / "gpt2", {"peft_type": "LORA", "r": 2, "lora_alpha": 2},
                       {f"{key}.lora_A.weight": torch.zeros(2, 64),
                        f"{key}.lora_B.weight": torch.zeros(192, 2)})
    with pytest.raises(WebslmError, match="transformer.h.0.attn.c_attn.weight, which the base model"):
        merge_adapter(open_model_dir(base_dir), read_adapter(d))


def test_an_adapter_for_another_size_is_refused(base_dir, tmp_path):
    key = "base_model.model.model.layers.0.self_attn.q_proj"
    d = _write_adapter(tmp_path / "big", {"peft_type": "LORA", "r": 2, "lora_alpha": 2},
                       {f"{key}.lora_A.weight": torch.zeros(2, 2048),
                        f"{key}.lora_B.weight": torch.zeros(2048, 2)})
    with pytest.raises(WebslmError, match=r"shape \(2048, 2048\), but .* has \(64, 64\)"):
        merge_adapter(open_model_dir(base_dir), read_adapter(d))


def test_a_pickle_that_needs_code_is_never_run(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    d = tmp_path / "evil"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2}))
    torch.save({"x": Boom()}, d / "adapter_model.bin")
    with pytest.raises(WebslmError, match="arbitrary unpickling"):
        read_adapter(d)


def test_a_folder_without_adapter_config_is_explained(tmp_path):
    with pytest.raises(WebslmError, match="no adapter_config.json"):
        read_adapter(tmp_path)


def test_a_tied_base_with_a_grown_vocabulary_stays_tied(make_hf_dir, tiny_llama_factory, tmp_path):
    """Added tokens on a tied base (Llama 3.2 1B, SmolLM2), trained with PEFT's
    ensure_weight_tying: the saved embedding is also the output projection."""
    from transformers import AutoModelForCausalLM

    base_dir = make_hf_dir("tied", model=tiny_llama_factory(vocab_size=49152, tie_word_embeddings=True))
    base_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    adapter_dir = make_adapter(base_model, tmp_path / "grown", resize=49160,
                               modules_to_save=["embed_tokens"], ensure_weight_tying=True)
    merged = merge_adapter(open_model_dir(base_dir), read_adapter(adapter_dir))
    assert merged.config["tie_word_embeddings"] and merged.config["vocab_size"] == 49160
    assert "lm_head.weight" not in merged.tensor_names()
    ids = torch.tensor([[1, 5, 49158, 7]])
    assert np.abs(_logits(merged.load_reference_model(), ids) - _logits(merged.load_source_model(), ids)).max() < 1e-4
