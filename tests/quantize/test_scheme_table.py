"""The scheme table (quantize/schemes.py) and the ONNX dtype table (quantize/onnx_dtypes.py)
are the one place the CLI, fine-tunes, the ONNX backend, verify and bench read: their facts
must agree with each other, and what is derived from them is what webslm always built."""

from __future__ import annotations

import pytest

from webslm.bench.runner import bench_order
from webslm.cli import main
from webslm.onnx import onnx_dtypes_for
from webslm.quantize.onnx_dtypes import ONNX_DTYPES
from webslm.quantize.schemes import SCHEMES, default_quantizations, flag_schemes


def test_every_family_has_exactly_one_flag_default():
    families = {s.family for s in SCHEMES.values()}
    for family in families:
        defaults = [s.name for s in SCHEMES.values() if s.family == family and s.flag_default]
        assert len(defaults) == 1, (family, defaults)


def test_fallbacks_are_known_schemes_a_fine_tune_can_swap_to():
    """A quantized scheme falls back to a known scheme of the same kernels, the family's other
    grid first where it has one (choose_builds compares a fine-tune's builds within the family)."""
    for s in SCHEMES.values():
        assert s.quantized == bool(s.fallbacks), s.name
        others = [SCHEMES[n] for n in s.fallbacks]  # KeyError: an unknown name
        assert all(o.act_dtype == s.act_dtype and o.name != s.name for o in others), s.name
        siblings = [o for o in SCHEMES.values() if o.family == s.family and o.name != s.name]
        if others and siblings:
            assert others[0].family == s.family and others[0].quantized, s.name


def test_onnx_dtypes_exist_and_match_the_schemes_kernels():
    """A family shares its ONNX builds (the ONNX grid is the exporter's own), and an f16
    scheme brings only f16 ONNX models, an f32 one only f32 ones."""
    for s in SCHEMES.values():
        assert all(n in ONNX_DTYPES for n in s.onnx), s.name
        assert all(ONNX_DTYPES[n].needs_f16 == s.needs_shader_f16 for n in s.onnx), s.name
        assert s.onnx == flag_schemes()[s.family].onnx, s.name
    assert {n for s in SCHEMES.values() for n in s.onnx} == set(ONNX_DTYPES)


def test_q4_weights_take_their_scales_bits():
    """MatMulNBits stores 4-bit codes and one scale in the activation dtype per block."""
    q4, q4f16 = ONNX_DTYPES["q4"], ONNX_DTYPES["q4f16"]
    assert q4.weight_bits > q4f16.weight_bits > 4
    assert q4.weight_bits - 4 == 2 * (q4f16.weight_bits - 4)  # float32 against float16 scales
    assert ONNX_DTYPES["q8"].weight_bits == 8 and ONNX_DTYPES["fp32"].weight_bits == 32


def test_derived_tables_are_what_webslm_always_built():
    assert {f: s.name for f, s in flag_schemes().items()} == {
        "q4f16": "q4f16_1", "q4f32": "q4f32_1", "q8f16": "q8f16_1", "q8f32": "q8f32_1",
        "q0f16": "q0f16", "q0f32": "q0f32"}
    assert default_quantizations() == ("q4f16_1", "q4f32_1")  # 8-bit only when asked for
    assert bench_order(gpu=True) == ["q4f16_asym", "q4f16_k", "q4f16_1", "q8f16_1", "q0f16",
                                     "q4f32_asym", "q4f32_k", "q4f32_1", "q8f32_1", "q0f32"]
    assert bench_order(gpu=False) == ["q4f32_asym", "q4f32_k", "q4f32_1", "q8f32_1", "q0f32"]
    assert [d.name for d in onnx_dtypes_for(list(SCHEMES))] == ["q4f16", "q8", "q4", "fp32"]


def test_build_help_lists_every_scheme_and_flag(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in SCHEMES)
    assert all(f"--{flag} " in text for flag in flag_schemes())
    assert "q8 + q4 for --q4f32" in text
