"""`webslm build --lora DIR --keep-adapter`: the fine-tune as base build + adapter build.

The fast tests check the adapter's layout on the fused linears and what cannot be kept apart;
the slow ones build a tiny model for WebGPU, check that the adapter build's index points at
the base's shards, that `webslm verify` matches PEFT's unmerged model on the stored weights,
and that a second adapter shares the base.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from webslm.arch import find_architecture
from webslm.artifacts.manifest import read_manifest
from webslm.bench.profile import dispatches_per_token
from webslm.cli import main
from webslm.convert.kept_adapter import KeptAdapter, unpack_halves
from webslm.errors import WebslmError
from webslm.source import open_source
from webslm.source.adapter import read_adapter
from webslm.source.merged import merge_adapter
from webslm.verify.check import verify_artifact

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "source"))
from test_adapter import ALL_LINEAR, make_adapter  # noqa: E402


@pytest.fixture
def base_dir(make_hf_dir, tiny_llama_factory):
    return make_hf_dir("base", model=tiny_llama_factory(vocab_size=49152, hidden_size=64))


def _kept(base_dir, adapter_dir) -> KeptAdapter:
    base = open_source(str(base_dir))
    return KeptAdapter.of(merge_adapter(base, read_adapter(adapter_dir)), find_architecture(base.config))


def test_parts_of_a_fused_linear_share_one_branch_with_their_own_rank_and_scale(base_dir, tmp_path):
    """q, k, v (ranks 4, 4, 2; v with its own alpha) become one A [16, in] (v's slots, and the
    whole to a multiple of 8, padded) and B^T [4, out], each row reading its own part's slots,
    as compile/lora.py's up_at does: that product equals the parts' scaled deltas applied to
    x; unstacking gives each part's A and B back. Both are stored as float16, two per uint32
    (an f32 build too: half its download, and no shader-f16 needed)."""
    adapter_dir = make_adapter(_tiny(base_dir), tmp_path / "ad", alpha_pattern={"v_proj": 32},
                               rank_pattern={"v_proj": 2, "o_proj": 2})
    kept = _kept(base_dir, adapter_dir)
    qkv = "model.layers.0.self_attn.qkv_proj"
    plan = kept.plan.linears[qkv]
    assert (plan.rank, plan.slots) == (4, 16)
    assert kept.plan.linears["model.layers.0.self_attn.o_proj"].rank == 2
    stored = dict(kept.tensors())
    assert stored[f"{qkv}.lora_a"].dtype == np.uint32
    assert stored[f"{qkv}.lora_a"].shape == (16, 32) and stored[f"{qkv}.lora_b"].shape == (4, 64)
    a = unpack_halves(stored[f"{qkv}.lora_a"]).astype(np.float64)
    b = unpack_halves(stored[f"{qkv}.lora_b"]).T.astype(np.float64)
    x = np.random.default_rng(0).standard_normal(a.shape[1])
    t = a @ x
    slot_at = dict(plan.parts)  # a part's first row -> its first slot
    slot_of_row = [slot_at[max([r for r in slot_at if r <= j], default=min(slot_at))]
                   for j in range(b.shape[0])]
    ours = np.array([t[s:s + plan.rank] @ b[j] for j, s in enumerate(slot_of_row)])
    adapter = kept.source.adapter
    expected = np.concatenate([adapter.low_rank[f"model.layers.0.self_attn.{p}_proj.weight"].delta()
                               for p in "qkv"]) @ x
    np.testing.assert_allclose(ours, expected, rtol=2e-3, atol=2e-3 * np.abs(expected).max())
    for name, part_a, part_b in kept.unstacked(stored):  # float16's rounding, no more
        low_rank = adapter.low_rank[name]
        np.testing.assert_allclose(part_a, low_rank.a, rtol=2**-11, atol=2**-24)
        np.testing.assert_allclose(part_b, low_rank.b, rtol=2**-11, atol=1e-7)


@pytest.mark.parametrize("variant", [
    {"use_dora": True},
    {"modules_to_save": ["lm_head"]},
    {"target_modules": ["embed_tokens", "q_proj"]},
])
def test_what_a_kept_adapter_cannot_carry_is_refused(variant, base_dir, tmp_path):
    adapter_dir = make_adapter(_tiny(base_dir), tmp_path / "ad", **variant)
    with pytest.raises(WebslmError) as err:
        _kept(base_dir, adapter_dir)
    assert "without --keep-adapter" in err.value.fix


def test_keep_adapter_needs_an_adapter_and_webgpu(base_dir, tmp_path, capsys):
    assert main(["build", str(base_dir), "--keep-adapter", "--backend", "webgpu",
                 "--out", str(tmp_path / "d")]) == 2
    assert "--keep-adapter applies to fine-tunes" in capsys.readouterr().err
    adapter_dir = make_adapter(_tiny(base_dir), tmp_path / "ad")
    assert main(["build", str(base_dir), "--lora", str(adapter_dir), "--keep-adapter",
                 "--backend", "all", "--out", str(tmp_path / "d")]) == 2
    assert "WebLLM artifacts only" in capsys.readouterr().err
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


@pytest.mark.slow
def test_a_tiny_adapter_shares_the_base_build_and_verifies_against_peft(base_dir, tmp_path, capsys):
    """The base's own build is there first (as `webslm build BASE` made it); the kept adapter
    build checks and shares it, untouched. (Two real adapters over one base, in the browser:
    tests/serve/test_kept_adapters.py.)"""
    dist = tmp_path / "dist"
    common = ["--quantization", "q4f32_1", "--out", str(dist)]
    assert main(["build", str(base_dir), "--name", "base", "--backend", "webgpu", *common]) == 0
    base = dist / "base-q4f32_1"
    shards = {p.name: p.stat().st_mtime_ns for p in base.glob("params_shard_*.bin")}
    second = make_adapter(_tiny(base_dir), tmp_path / "second", rank_pattern={"q_proj": 2})
    assert main(["build", str(base_dir), "--lora", str(second), "--name", "second",
                 "--keep-adapter", *common]) == 0  # WebLLM only
    assert "sharing the base weights" in capsys.readouterr().out
    assert sorted(p.name for p in dist.iterdir()) == ["base-q4f32_1", "second-q4f32_1"]
    assert {p.name: p.stat().st_mtime_ns for p in base.glob("params_shard_*.bin")} == shards

    art = dist / "second-q4f32_1"
    assert not list(art.glob("params_shard_*"))
    index = json.loads((art / "tensor-cache.json").read_text())
    paths = [s["dataPath"] for s in index["records"]]
    assert paths == [f"../../../base-q4f32_1/resolve/main/{n}" for n in sorted(shards)] + ["adapter_shard_0.bin"]
    manifest = read_manifest(art)
    assert manifest["build"]["base"]["model_id"] == "base-q4f32_1"
    assert set(manifest["build"]["base"]["files"]) == set(shards)
    assert manifest["build"]["adapter"]["targets"] == sorted(p.split(".")[-1] for p in ALL_LINEAR)
    assert manifest["build"]["adapter"]["bytes"] == (art / "adapter_shard_0.bin").stat().st_size
    assert manifest["build"]["adapter"]["dtype"] == "float16"

    # decode runs each adapted linear's branch inside its base kernel: per decoded token, the
    # dispatches the compiled functions make are within 1.1x of the base build's
    base_calls = read_manifest(base)["build"]["kernel_calls"]
    ours, theirs = (dispatches_per_token(calls)
                    for calls in (manifest["build"]["kernel_calls"], base_calls))
    assert ours <= 1.1 * theirs, (ours, theirs)

    # webslm verify's comparison: the compiled model against PEFT's unmerged model on the
    # stored weights (top-1 against the float source is not gated: a random tiny model at
    # 4 bits keeps little of it)
    report = verify_artifact(art)
    print("\n".join(report.lines()))
    assert report.max_abs_diff < 1e-3 and report.prefill_max_abs_diff < 1e-3


def _tiny(base_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base_dir).float().eval()


def test_a_qlora_adapter_is_kept_over_the_nf4_base_it_was_trained_on(base_dir, tmp_path):
    """--qlora-base nf4 --keep-adapter: the family's _nf4 scheme replaces a default or family
    pick; a scheme named with --quantization stays, with a warning naming the exact one."""
    from webslm.convert.kept_adapter import kept_schemes
    from webslm.quantize.schemes import get_scheme

    base = open_source(str(base_dir))
    qlora = merge_adapter(base, read_adapter(make_adapter(_tiny(base_dir), tmp_path / "ad")),
                          qlora_base="nf4")
    said: list[str] = []
    picked = kept_schemes(qlora, [get_scheme("q4f32_1"), get_scheme("q4f16_1")], False, said.append)
    assert [s.name for s in picked] == ["q4f32_nf4", "q4f16_nf4"]
    named = kept_schemes(qlora, [get_scheme("q4f32_1")], True, said.append)
    assert [s.name for s in named] == ["q4f32_1"] and "q4f32_nf4" in said[-1]
    plain = merge_adapter(base, read_adapter(tmp_path / "ad"))
    assert kept_schemes(plain, [get_scheme("q4f32_1")], False, said.append)[0].name == "q4f32_1"


def test_phi3_fused_targets_are_one_part(tmp_path, smollm2):
    """Phi-3 checkpoints (and so its adapters) hold qkv_proj and gate_up_proj fused: each is one
    part, whose B A is the adapter's own delta."""
    import shutil

    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(0)
    Phi3ForCausalLM(Phi3Config(vocab_size=49152, hidden_size=64, intermediate_size=128,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                               pad_token_id=0)).save_pretrained(tmp_path / "phi3")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(smollm2.tokenizer_dir / f, tmp_path / "phi3" / f)
    adapter_dir = make_adapter(_tiny(tmp_path / "phi3"), tmp_path / "a",
                               target_modules=["qkv_proj", "gate_up_proj"])
    kept = _kept(tmp_path / "phi3", adapter_dir)
    name = "model.layers.1.self_attn.qkv_proj"
    assert kept.plan.linears[name].parts == ((0, 0),)
    stored = {n: unpack_halves(w) for n, w in kept.tensors()}
    delta = kept.source.adapter.low_rank[name + ".weight"].delta()
    rank = kept.plan.linears[name].rank  # A's slots past it are padding
    np.testing.assert_allclose(stored[name + ".lora_b"].T @ stored[name + ".lora_a"][:rank], delta,
                               rtol=2e-3, atol=2e-3 * np.abs(delta).max())
