"""Architecture configs read from the published config.json files (fast: nothing compiles).

The exact configs live in each architecture's folder (checkpoints.py, collected by
bench/model_configs.py); the benchmark checkpoints are built from them, so their tensor names must be exactly what each architecture's weight map expects.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from webslm.arch import find_architecture
from webslm.compile.lowering import cpu_target
from webslm.compile.spec import ParamSpec
from webslm.convert.weights import plan_targets
from webslm.errors import WebslmError
from webslm.quantize.schemes import get_scheme
from webslm.source.config import normalize_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from model_configs import CONFIGS  # noqa: E402
from random_checkpoint import checkpoint_shards  # noqa: E402

QWEN2_5_1_5B, PHI_3_5_MINI = CONFIGS["qwen2.5-1.5b"], CONFIGS["phi-3.5-mini"]


def _config(hf: dict):
    hf = normalize_config(hf)
    return find_architecture(hf), find_architecture(hf).config_from_hf(hf)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("quant", ["q4f16_1", "q4f16_asym", "q0f32"])
def test_benchmark_checkpoints_have_exactly_the_tensors_the_model_needs(name, quant):
    arch, cfg = _config(CONFIGS[name])
    model = arch.model_class()(cfg, get_scheme(quant), cpu_target())
    params = [ParamSpec(n, tuple(p.shape), p.dtype) for n, p in model.named_parameters()]
    needed = {part for t in plan_targets(params, arch.weight_map) for part in t.parts}
    written = {k for shard in checkpoint_shards(CONFIGS[name]) for k in shard}
    assert written == needed


def test_qwen2_5_config():
    arch, cfg = _config(QWEN2_5_1_5B)
    assert (arch.model_type, cfg.rope_theta, cfg.tie_word_embeddings) == ("qwen2", 1e6, True)
    assert (cfg.qkv_bias, cfg.o_proj_bias, cfg.head_dim, cfg.rms_norm_eps) == (True, False, 128, 1e-6)
    assert not cfg.rope_in_model and cfg.kv_cache_rope_scaling() == {}
    # carried as stated; no layer slides, so the build keeps a plain context window
    assert (cfg.use_sliding_window, cfg.sliding_window, cfg.max_window_layers) == (False, 32768, 21)
    with pytest.raises(WebslmError, match="sliding-window"):
        _config({**QWEN2_5_1_5B, "use_sliding_window": True})


def test_phi3_5_longrope_matches_transformers():
    """Attention factor and both inverse-frequency sets, against transformers' own code."""
    from transformers import Phi3Config
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    arch, cfg = _config(PHI_3_5_MINI)
    assert (arch.model_type, cfg.num_key_value_heads, cfg.rotary_dim) == ("phi3", 32, 96)
    assert cfg.rope_in_model
    rope = arch.model_class().model_rope(cfg)
    assert rope.original_max_position_embeddings == 4096 and rope.num_rotated_heads == 64
    assert rope.attention_factor == pytest.approx(math.sqrt(1 + math.log(32) / math.log(4096)))
    hf = Phi3Config(**{k: v for k, v in PHI_3_5_MINI.items() if k != "architectures"})
    short, factor = ROPE_INIT_FUNCTIONS["longrope"](hf, "cpu")
    long, _ = ROPE_INIT_FUNCTIONS["longrope"](hf, "cpu", seq_len=4097)
    assert rope.attention_factor == pytest.approx(factor, rel=1e-12)
    np.testing.assert_allclose(rope.inv_freq_table(), np.stack([short.numpy(), long.numpy()]),
                               rtol=1e-6)


@pytest.mark.parametrize("spelling", ["su", "longrope"])
def test_phi3_rope_spellings(spelling):
    rope_scaling = {**PHI_3_5_MINI["rope_scaling"], "type": spelling}
    _, cfg = _config({**PHI_3_5_MINI, "rope_scaling": rope_scaling})
    assert cfg.rope_scaling["rope_type"] == "longrope"
    assert cfg.kv_cache_rope_scaling() == {}  # the model rotates q/k; the cache must not


def test_phi3_unsupported_configs_are_clear_errors():
    with pytest.raises(WebslmError, match="rope scaling 'dynamic'"):
        _config({**PHI_3_5_MINI, "rope_scaling": {"type": "dynamic", "factor": 2.0}})
    with pytest.raises(WebslmError, match="sliding window of 2047"):
        _config({**PHI_3_5_MINI, "sliding_window": 2047, "rope_scaling": None,
                 "max_position_embeddings": 4096})


def test_plain_phi3_uses_the_cache_rope():
    _, cfg = _config({**PHI_3_5_MINI, "rope_scaling": None, "sliding_window": None,
                      "max_position_embeddings": 4096})
    assert not cfg.rope_in_model and cfg.rope_scaling is None
