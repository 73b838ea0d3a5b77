"""A scheme's per-linear grids (QuantScheme.linear_grids, q4f*_k) reach the exported model by
parameter name, whatever the architecture: each linear declares its own grid's arrays."""

from __future__ import annotations

import pytest
from conftest import tiny_llama_config

from webslm.arch import find_architecture
from webslm.compile.compiler import export_module
from webslm.compile.library_key import library_key
from webslm.compile.lowering import cpu_target
from webslm.compile.spec import BuildShape
from webslm.errors import WebslmError
from webslm.quantize.grids import Q8_SYM
from webslm.quantize.schemes import get_scheme

pytestmark = pytest.mark.slow  # two exports of a tiny Llama, ~5 s
SHAPE = BuildShape(64, 16)
QKV, DOWN = "model.layers.0.self_attn.qkv_proj", "model.layers.1.mlp.down_proj"


def _params(scheme):
    config = tiny_llama_config()
    _, params, _ = export_module(find_architecture(config), config, scheme, cpu_target(), SHAPE)
    return {p.name: p.shape for p in params}


def test_each_linear_declares_its_own_grid():
    scheme = get_scheme("q4f32_k").with_linear_grids({QKV: Q8_SYM, DOWN: Q8_SYM})
    params = _params(scheme)
    hidden, inter = 64, 128
    assert params[f"{QKV}.q_weight"] == (hidden + 2 * 32, hidden // 4)  # 8-bit: 4 per word
    assert f"{QKV}.q_min" not in params and f"{DOWN}.q_min" not in params
    assert params[f"{DOWN}.q_weight"] == (hidden, inter // 4)
    other = "model.layers.1.self_attn.qkv_proj"  # not listed: the scheme's 4-bit grid
    assert params[f"{other}.q_weight"] == (hidden + 2 * 32, hidden // 8)
    assert params[f"{other}.q_min"] == (hidden + 2 * 32, hidden // 32)
    config = find_architecture(tiny_llama_config()).config_from_hf(tiny_llama_config())
    keys = {library_key("llama", config, s, SHAPE, None, cpu_target())
            for s in (scheme, get_scheme("q4f32_k"))}
    assert len(keys) == 2  # another grid is another library


def test_a_grid_for_what_is_not_a_quantized_linear_is_refused():
    with pytest.raises(WebslmError, match="model.norm is not a quantized linear"):
        _params(get_scheme("q4f32_k").with_linear_grids({"model.norm": Q8_SYM}))
