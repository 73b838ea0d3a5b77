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

from tvm import te
from tvm.relax.frontend import nn
from tvm.relax.frontend.nn.llm.kv_cache import PagedKVCache

from webslm.arch.gemma3.config import SLIDING, Gemma3Config
from webslm.arch.gemma3.kernels import (F32, gemma_norm_te, norm_chain_gemv_te,
                                        norm_chain_qkv_te, post_norm_add_norm_te,
                                        qk_norm_rope_te)
from webslm.arch.llama.model import LlamaForCausalLM, LlamaMLP
from webslm.compile.layers import (QuantizedLinear, gated_linear, make_embedding, make_linear,
                                   one_token, plain_matmul_te, quantized_matmul_te)
from webslm.compile import schedules, spec
from webslm.compile.lora import has_lora
from webslm.compile.prologue_gemv import fits, fits_heads
from webslm.compile.rope import PlainRope
from webslm.compile.windowed_kv_cache import windowed_kv_cache
from webslm.quantize.schemes import QuantScheme



class GemmaNorm(nn.Module):
    """RMSNorm scaled by (1 + w), in float32 whatever the input, returned as `dtype`."""

    def __init__(self, dim: int, eps: float, dtype: str):
        self.weight = nn.Parameter((dim,), dtype)
        self.eps = eps

    def forward(self, x: nn.Tensor, dtype: str) -> nn.Tensor:
        return nn.tensor_expr_op(lambda x_, w: gemma_norm_te(x_, w, self.eps, dtype),
                                 "gemma_norm", [x, self.weight])


class QkNorm(nn.Module):
    """The q norm's and the k norm's weights as one parameter (q's, then k's): the
    checkpoint's q_norm and k_norm, joined by the weight map (one storage binding less for
    the kernel that reads them, kernels.norm_chain_qkv_te)."""

    def __init__(self, head_dim: int, eps: float, dtype: str):
        self.weight = nn.Parameter((2 * head_dim,), dtype)
        self.eps = eps


def _rope(cfg: Gemma3Config, layer: int) -> PlainRope:
    """Plain RoPE with the layer's base and linear factor."""
    theta, factor = cfg.layer_rope(layer)
    return PlainRope(theta=theta, factor=factor, rotary_dim=cfg.head_dim,
                     num_rotated_heads=cfg.num_attention_heads + cfg.num_key_value_heads)


class Gemma3Attention(nn.Module):
    def __init__(self, cfg: Gemma3Config, scheme: QuantScheme, layer: int):
        self.num_heads, self.num_kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim, self.dtype = cfg.head_dim, scheme.act_dtype
        qkv_out = (self.num_heads + 2 * self.num_kv_heads) * self.head_dim
        self.qkv_proj = make_linear(cfg.hidden_size, qkv_out, scheme, bias=cfg.qkv_bias)
        self.o_proj = make_linear(self.num_heads * self.head_dim, cfg.hidden_size, scheme,
                                  bias=cfg.o_proj_bias)
        self.qk_norm = QkNorm(self.head_dim, cfg.rms_norm_eps, scheme.act_dtype)
        self.rope = _rope(cfg, layer)
        self.sm_scale = float(cfg.query_pre_attn_scalar) ** -0.5

    def qkv(self, x: nn.Tensor, h: nn.Tensor | None, before: GemmaNorm | None,
            norm: GemmaNorm, positions: nn.Tensor) -> tuple[nn.Tensor, nn.Tensor]:
        """(qkv [b, s, heads, head_dim] with q and k normed and rotated, r) for the residual
        stream r = x + before(h) (x as float32 in the first layer, h None) read through
        `norm`. One token (decode): one kernel where the WebGPU GEMV tiling fits
        (kernels.norm_chain_qkv_te); otherwise the chain's kernel (or the prologue GEMV),
        the linear's and qk_norm_rope's."""
        fused = self._norm_chain_qkv(x, h, before, norm, positions)
        if fused is not None:
            return fused
        if h is None:
            x = x.astype(F32)
            qkv = self.qkv_proj(norm(x, self.dtype))
        else:
            qkv, x = norm_chain_linear(self.qkv_proj, x, h, before, norm, self.dtype)
        b, s, _ = qkv.shape
        heads = self.num_heads + 2 * self.num_kv_heads
        qkv = nn.op.reshape(qkv, (b, s, heads, self.head_dim))
        qkv = nn.tensor_expr_op(
            lambda x_, pos, w: qk_norm_rope_te(
                x_, pos, w, q_heads=self.num_heads, k_heads=self.num_kv_heads,
                eps=self.qk_norm.eps, rope=self.rope),
            "qk_norm_rope", [qkv, positions, self.qk_norm.weight])
        return qkv, x

    def _norm_chain_qkv(self, x, h, before, norm, positions):
        """kernels.norm_chain_qkv_te's kernel, or None where it does not fit: the tiling, or
        WebGPU's storage bindings (an asymmetric grid's third array after a chain)."""
        linear, chain = self.qkv_proj, [] if h is None else [h, before.weight]
        inputs = [x, *chain, norm.weight, positions, self.qk_norm.weight, *_stored(linear)]
        if (len(inputs) + 2 > spec.WEBGPU_STORAGE_BUFFERS
                or not _prologue_fits(linear, x, self.head_dim)):
            return None

        def op(x_, *args):
            h_, wp = (args[0], args[1]) if chain else (None, None)
            wn, pos, qk_w, *w = args[len(chain):]
            return norm_chain_qkv_te(
                x_, h_, wp, wn, norm.eps, self.dtype,
                _gemv(linear, x_, w, "float32", self.head_dim), pos, qk_w,
                q_heads=self.num_heads, k_heads=self.num_kv_heads, head_dim=self.head_dim,
                rope=self.rope)

        out = nn.tensor_expr_op(op, "norm_chain_qkv", inputs)
        return out[0], out[1]

    def forward(self, qkv: nn.Tensor, kv_cache: PagedKVCache, layer_id: int) -> nn.Tensor:
        """qkv: self.qkv's, q and k normed and rotated."""
        b, s = qkv.shape[:2]
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
        None, the embedding in its dtype; float32 after). Returns (x', h') for the stream leaving it, x' + post_ff(h'):
        the last add is left to the next layer's qkv (or the final norm)."""
        qkv, x = self.self_attn.qkv(x, h, before, self.input_layernorm, positions)
        h = self.self_attn(qkv, kv_cache, layer_id)
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
    if not _prologue_fits(linear, x):
        x, y = post_norm_add_norm(x, h, post, following, dtype)
        return linear(y), x

    def op(x_, h_, wp, wn, *w):
        return norm_chain_gemv_te(x_, h_, wp, wn, post.eps, dtype,
                                  _gemv(linear, x_, w, linear.out_dtype))

    out = nn.tensor_expr_op(op, "norm_chain_gemv",
                            [x, h, post.weight, following.weight, *_stored(linear)])
    return out[0], out[1]


def _stored(linear: nn.Module) -> list[nn.Parameter]:
    return linear.packed() if isinstance(linear, QuantizedLinear) else [linear.weight]


def _gemv(linear: nn.Module, x: te.Tensor, stored: list[te.Tensor], out_dtype: str,
          rows_by: int | None = None):
    """gemv(x_at): the linear's tensor expression over x, its input read through x_at."""
    if isinstance(linear, QuantizedLinear):
        return lambda x_at: quantized_matmul_te(x, list(stored), linear.grid, out_dtype, x_at,
                                                rows_by=rows_by)
    return lambda x_at: plain_matmul_te(x, stored[0], out_dtype, x_at, rows_by=rows_by)


def _prologue_fits(linear: nn.Module, x: nn.Tensor, head_rows: int | None = None) -> bool:
    """Whether the linear after a norm runs with the norm in its GEMV's prologue (and, given
    head_rows, the q/k norms and RoPE in its epilogue): one token, a plain or quantized
    linear without a kept adapter or a bias, and a size the WebGPU GEMV tiling divides."""
    if not one_token(x) or has_lora(linear) or linear.bias is not None:
        return False
    stored = _stored(linear)
    rows, inputs = stored[0].shape[0], int(x.shape[-1])
    codes = linear.grid.codes_per_word if isinstance(linear, QuantizedLinear) else 1
    if head_rows is None:
        return fits(schedules.WEBGPU_GEMV, rows, inputs, codes)
    return fits_heads(schedules.WEBGPU_GEMV, rows, inputs, codes, head_rows)


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
        self.dtype = scheme.act_dtype

    def forward(self, x: nn.Tensor, kv_cache: PagedKVCache) -> nn.Tensor:
        b, s, _ = x.shape
        positions = kv_cache.get_query_positions(b * s)
        h, before = None, None
        for layer_id, layer in enumerate(self.layers):
            x, h = layer(x, h, before, kv_cache, layer_id, positions)
            before = layer.post_feedforward_layernorm
        return post_norm_add_norm(x, h, before, self.norm, self.dtype)[1]


class Gemma3ForCausalLM(LlamaForCausalLM):
    """Llama's entry points and tied lm_head over Gemma 3's body; the KV cache slides per
    layer (attn_kind "mha_sliding" on the sliding layers, window sliding_window), and on
    WebGPU the sliding layers keep only their window."""

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

    def create_tir_paged_kv_cache(self, max_batch_size, max_total_seq_len, prefill_chunk_size,
                                  page_size, support_sliding_window) -> PagedKVCache:
        """On WebGPU, the sliding layers keep only their window (compile/windowed_kv_cache.py);
        elsewhere (the CPU twin) one cache holds every layer's whole context."""
        sliding = [t == SLIDING for t in self.cfg.layer_types]
        if self.target.kind.name != "webgpu" or all(sliding) or not any(sliding):
            return super().create_tir_paged_kv_cache(max_batch_size, max_total_seq_len,
                                                     prefill_chunk_size, page_size,
                                                     support_sliding_window)

        def make_cache(layers, tokens, **kinds):
            return self.tir_cache(layers, max_batch_size, tokens, prefill_chunk_size,
                                  page_size, support_sliding_window, **kinds)

        return windowed_kv_cache(make_cache, sliding, self.cfg.sliding_window, max_batch_size,
                                 max_total_seq_len, prefill_chunk_size, page_size)
