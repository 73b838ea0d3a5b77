"""Gemma 3's TVM model (the compiler imports it).

Its block is not Llama's up to a hook: four (1 + w) RMSNorms (the attention's and the MLP's
outputs are normed before they join the residual), q/k norms, a RoPE base per layer kind and
sliding layers. So the block is its own; the entry points, the tied lm_head and the KV cache
are LlamaForCausalLM's.

The residual stream is float32 in every build: in Gemma 3 it outgrows float16 (|h| passes
65,504 at layer 8 of 270M), so an f16 build computes only its matmuls and attention in f16.
Every norm reads and computes in float32 and hands a matmul the build's dtype; the post-norms
add into the float32 stream in the same kernel as the norm after them (kernels.py), and in
decode that kernel is the prologue of the GEMV that reads the norm (gate/up, the next layer's
qkv; not the lm_head, whose 32,768 workgroups would each redo the sums).
"""

from __future__ import annotations

from typing import Any

from tvm.relax.frontend import nn
from tvm.relax.frontend.nn.llm.kv_cache import PagedKVCache

from webslm.arch.gemma3.config import SLIDING, Gemma3Config
from webslm.arch.gemma3.kernels import (gemma_norm_te, norm_chain_gemv_te,
                                        post_norm_add_norm_te, qk_norm_rope_te)
from webslm.arch.llama.model import LlamaForCausalLM, LlamaMLP
from webslm.compile.layers import (QuantizedLinear, gated_linear, make_embedding, make_linear,
                                   one_token, plain_matmul_te, quantized_matmul_te)
from webslm.compile import schedules
from webslm.compile.lora import has_lora
from webslm.compile.prologue_gemv import fits
from webslm.compile.rope import LongRope
from webslm.quantize.schemes import QuantScheme



class GemmaNorm(nn.Module):
    """RMSNorm scaled by (1 + w), in float32 whatever the input, returned as `dtype`."""

    def __init__(self, dim: int, eps: float, dtype: str):
        self.weight = nn.Parameter((dim,), dtype)
        self.eps = eps

    def forward(self, x: nn.Tensor, dtype: str) -> nn.Tensor:
        return nn.tensor_expr_op(lambda x_, w: gemma_norm_te(x_, w, self.eps, dtype),
                                 "gemma_norm", [x, self.weight])


def _rope(cfg: Gemma3Config, layer: int) -> LongRope:
    """Plain RoPE with the layer's base and linear factor: LongRoPE whose two factor sets are
    the same (so the row choice never matters) and whose attention factor is 1."""
    theta, factor = cfg.layer_rope(layer)
    half = cfg.head_dim // 2
    return LongRope(theta=theta, rotary_dim=cfg.head_dim,
                    num_rotated_heads=cfg.num_attention_heads + cfg.num_key_value_heads,
                    short_factor=(factor,) * half, long_factor=(factor,) * half,
                    original_max_position_embeddings=cfg.max_position_embeddings,
                    attention_factor=1.0)


class Gemma3Attention(nn.Module):
    def __init__(self, cfg: Gemma3Config, scheme: QuantScheme, layer: int):
        self.num_heads, self.num_kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim, self.dtype = cfg.head_dim, scheme.act_dtype
        qkv_out = (self.num_heads + 2 * self.num_kv_heads) * self.head_dim
        self.qkv_proj = make_linear(cfg.hidden_size, qkv_out, scheme, bias=cfg.qkv_bias)
        self.o_proj = make_linear(self.num_heads * self.head_dim, cfg.hidden_size, scheme,
                                  bias=cfg.o_proj_bias)
        self.q_norm = GemmaNorm(self.head_dim, cfg.rms_norm_eps, scheme.act_dtype)
        self.k_norm = GemmaNorm(self.head_dim, cfg.rms_norm_eps, scheme.act_dtype)
        self.rope = _rope(cfg, layer)
        self.sm_scale = float(cfg.query_pre_attn_scalar) ** -0.5

    def forward(self, qkv: nn.Tensor, kv_cache: PagedKVCache, layer_id: int,
                positions: nn.Tensor) -> nn.Tensor:
        """qkv: qkv_proj's output (the layer computes it, in decode with the norm before it)."""
        b, s, _ = qkv.shape
        heads = self.num_heads + 2 * self.num_kv_heads
        qkv = nn.op.reshape(qkv, (b, s, heads, self.head_dim))
        table = nn.Tensor.from_const(self.rope.inv_freq_table())
        qkv = nn.tensor_expr_op(
            lambda x, pos, tab, qw, kw: qk_norm_rope_te(
                x, pos, tab, qw, kw, q_heads=self.num_heads, k_heads=self.num_kv_heads,
                eps=self.q_norm.eps, rope=self.rope),
            "qk_norm_rope", [qkv, positions, table, self.q_norm.weight, self.k_norm.weight])
        out = kv_cache.attention_with_fused_qkv(layer_id, qkv, self.num_heads,
                                                sm_scale=self.sm_scale)
        return self.o_proj(nn.op.reshape(out, (b, s, self.num_heads * self.head_dim)))


class Gemma3DecoderLayer(nn.Module):
    def __init__(self, cfg: Gemma3Config, scheme: QuantScheme, layer: int):
        norm = lambda: GemmaNorm(cfg.hidden_size, cfg.rms_norm_eps, scheme.act_dtype)  # noqa: E731
        self.input_layernorm, self.post_attention_layernorm = norm(), norm()
        self.pre_feedforward_layernorm, self.post_feedforward_layernorm = norm(), norm()
        self.self_attn = Gemma3Attention(cfg, scheme, layer)
        self.mlp = LlamaMLP(cfg, scheme)  # GeGLU: the gate's activation is the config's
        self.dtype = scheme.act_dtype

    def forward(self, x: nn.Tensor, h: nn.Tensor | None, before: GemmaNorm | None,
                kv_cache: PagedKVCache, layer_id: int,
                positions: nn.Tensor) -> tuple[nn.Tensor, nn.Tensor]:
        """The residual stream entering the layer is x + before(h) (x alone in layer 0, h
        None); x is float32. Returns (x', h') for the stream leaving it, x' + post_ff(h'):
        the last add is left to the next layer's qkv (or the final norm)."""
        if h is None:
            qkv = self.self_attn.qkv_proj(self.input_layernorm(x, self.dtype))
        else:
            qkv, x = norm_chain_linear(self.self_attn.qkv_proj, x, h, before,
                                       self.input_layernorm, self.dtype)
        h = self.self_attn(qkv, kv_cache, layer_id, positions)
        gate_up, x = norm_chain_linear(self.mlp.gate_up_proj, x, h,
                                       self.post_attention_layernorm,
                                       self.pre_feedforward_layernorm, self.dtype)
        return x, gated_linear(self.mlp.down_proj, gate_up, self.mlp.act)


def norm_chain_linear(linear: nn.Module, x: nn.Tensor, h: nn.Tensor, post: GemmaNorm,
                      following: GemmaNorm, dtype: str) -> tuple[nn.Tensor, nn.Tensor]:
    """(linear(following(r)), r) for r = x + post(h). One token (decode): one kernel, the
    norms in the GEMV's prologue (kernels.norm_chain_gemv_te); otherwise the chain's kernel
    and the linear's (so too with a kept adapter, a bias, or a size the WebGPU GEMV tiling
    does not divide)."""
    quantized = isinstance(linear, QuantizedLinear)
    weights = linear.packed() if quantized else [linear.weight]
    rows, inputs = weights[0].shape[0], int(x.shape[-1])
    codes = linear.grid.codes_per_word if quantized else 1
    if (not one_token(x) or has_lora(linear) or linear.bias is not None
            or not fits(schedules.WEBGPU_GEMV, rows, inputs, codes)):
        x, y = post_norm_add_norm(x, h, post, following, dtype)
        return linear(y), x

    def op(x_, h_, wp, wn, *w):
        def gemv(x_at):
            if quantized:
                return quantized_matmul_te(x_, list(w), linear.grid, linear.out_dtype, x_at)
            return plain_matmul_te(x_, w[0], linear.out_dtype, x_at)
        return norm_chain_gemv_te(x_, h_, wp, wn, post.eps, dtype, gemv)

    out = nn.tensor_expr_op(op, "norm_chain_gemv",
                            [x, h, post.weight, following.weight, *weights])
    return out[0], out[1]


def post_norm_add_norm(x: nn.Tensor, h: nn.Tensor, post: GemmaNorm, following: GemmaNorm,
                       dtype: str) -> tuple[nn.Tensor, nn.Tensor]:
    """(x + post(h), following(x + post(h)) as dtype): kernels.post_norm_add_norm_te."""
    out = nn.tensor_expr_op(
        lambda x_, h_, wp, wn: post_norm_add_norm_te(x_, h_, wp, wn, post.eps, dtype),
        "post_norm_add_norm", [x, h, post.weight, following.weight])
    return out[0], out[1]


class Gemma3Body(nn.Module):
    def __init__(self, cfg: Gemma3Config, scheme: QuantScheme):
        self.embed_tokens = make_embedding(cfg.vocab_size, cfg.hidden_size, scheme)
        self.layers = nn.ModuleList(
            [Gemma3DecoderLayer(cfg, scheme, i) for i in range(cfg.num_hidden_layers)])
        self.norm = GemmaNorm(cfg.hidden_size, cfg.rms_norm_eps, scheme.act_dtype)
        self.dtype, self.residual = scheme.act_dtype, cfg.residual_dtype

    def forward(self, x: nn.Tensor, kv_cache: PagedKVCache) -> nn.Tensor:
        b, s, _ = x.shape
        positions = kv_cache.get_query_positions(b * s)
        x = x.astype(self.residual) if x.dtype != self.residual else x
        h, before = None, None
        for layer_id, layer in enumerate(self.layers):
            x, h = layer(x, h, before, kv_cache, layer_id, positions)
            before = layer.post_feedforward_layernorm
        return post_norm_add_norm(x, h, before, self.norm, self.dtype)[1]


class Gemma3ForCausalLM(LlamaForCausalLM):
    """Llama's entry points and tied lm_head over Gemma 3's body; the KV cache slides per
    layer (attn_kind "mha_sliding" on the sliding layers, window sliding_window)."""

    def make_body(self, cfg: Gemma3Config, scheme: QuantScheme) -> nn.Module:
        return Gemma3Body(cfg, scheme)

    def embed(self, input_ids: nn.Tensor) -> nn.Tensor:
        """The embedding times sqrt(hidden_size), rounded to the embedding's dtype first as
        transformers does; in the gather's kernel."""
        return self.model.embed_tokens(input_ids, scale=self.cfg.hidden_size ** 0.5)

    def kv_cache_kinds(self) -> dict[str, Any]:
        return {"attn_kind": ["mha_sliding" if t == SLIDING else "mha"
                              for t in self.cfg.layer_types],
                "layer_sliding_window_size": self.cfg.sliding_window}
