"""q4f*_k's per-linear grids: resolved from the source's tensor types, recorded in and read
back from a manifest's build section, kept by the f32 twin."""

from webslm.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.quantize.grids import Q4_ASYM, Q8_SYM
from webslm.quantize.schemes import QuantScheme, get_scheme
from webslm.quantize.source_grids import resolve_grids

LAYER = "model.layers.0"
TYPES = {  # a Q4_K_M-like mix: q, k in Q4_K but v in Q6_K; gate/up Q5_0; o, down 4-bit
    "model.embed_tokens.weight": "Q8_0",
    f"{LAYER}.self_attn.q_proj.weight": "Q4_K",
    f"{LAYER}.self_attn.k_proj.weight": "Q4_K",
    f"{LAYER}.self_attn.v_proj.weight": "Q6_K",
    f"{LAYER}.self_attn.o_proj.weight": "Q4_K",
    f"{LAYER}.mlp.gate_proj.weight": "Q5_0",
    f"{LAYER}.mlp.up_proj.weight": "Q5_0",
    f"{LAYER}.mlp.down_proj.weight": "Q4_0",
    f"{LAYER}.input_layernorm.weight": "F32",
    "lm_head.weight": "Q6_K",
}


def _resolve(name: str, types: dict[str, str | None]):
    shape = lambda n: (64,) if n.endswith("norm.weight") else (64, 64)  # noqa: E731
    return resolve_grids(get_scheme(name), list(types), shape, types.get, LLAMA_WEIGHTS)


def test_linears_follow_their_source_types_fused_ones_their_widest_part():
    scheme = _resolve("q4f32_k", TYPES)
    assert dict(scheme.linear_grids) == {  # only the linears off the 4-bit grid are listed
        f"{LAYER}.self_attn.qkv_proj": Q8_SYM, f"{LAYER}.mlp.gate_up_proj": Q8_SYM,
        "lm_head": Q8_SYM}
    assert scheme.linear_grid(f"{LAYER}.self_attn.o_proj") == Q4_ASYM
    assert scheme.linear_grid(f"{LAYER}.mlp.down_proj") == Q4_ASYM
    assert scheme.embedding_grid == Q8_SYM  # the embedding keeps the scheme's 8-bit grid


def test_a_float_source_and_other_schemes_keep_one_grid():
    assert _resolve("q4f16_k", dict.fromkeys(TYPES)).linear_grids == ()  # as q4f16_asym
    assert _resolve("q4f32_asym", TYPES) == get_scheme("q4f32_asym")


def test_the_manifest_records_the_grids_and_the_twin_keeps_them():
    scheme = _resolve("q4f16_k", TYPES)
    build = {"quantization": scheme.name, **scheme.build_fields()}
    assert QuantScheme.from_build(build) == scheme
    assert scheme.f32_twin.name == "q4f32_k"
    assert scheme.f32_twin.linear_grids == scheme.linear_grids
    assert get_scheme("q4f16_k").build_fields() == {}  # a one-grid build records nothing
