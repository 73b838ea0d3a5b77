"""The Llama architecture (Llama 2/3.x, SmolLM2, ...) in relax.frontend.nn on TVM's paged KV cache.

RoPE (including Llama-3 frequency scaling) is applied inside the KV cache's attention
kernels, so the model only projects q/k/v and hands them over fused. The blocks here are the
shared ones: an architecture whose layer differs in biases, RoPE, the MLP's activation or a
per-head q/k RMSNorm subclasses LlamaConfig (config.py) and overrides its hooks instead of
copying a block; one that rotates q/k itself also overrides `model_rope` here.
"""

from __future__ import annotations

from typing import Any, Callable

from tvm import relax as rx
from tvm import te, tirx
from tvm.relax.frontend import nn
from tvm.relax.frontend.nn.llm.kv_cache import PagedKVCache, RopeMode, TIRPagedKVCache
from tvm.target import Target

from webslm.arch.llama.config import LlamaConfig
from webslm.compile.activations import activation
from webslm.compile.layers import gated_linear, make_embedding, make_linear
from webslm.compile.merge_state import race_free_merge
from webslm.quantize.schemes import QuantScheme

# RoPE a model applies itself, as f(qkv, positions) (e.g. Phi-3's LongRoPE)
ModelRope = Callable[[nn.Tensor, nn.Tensor], nn.Tensor]


class LlamaAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig, scheme: QuantScheme, rope: ModelRope | None):
        self.num_heads, self.num_kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        qkv_out = (self.num_heads + 2 * self.num_kv_heads) * self.head_dim
        self.qkv_proj = make_linear(cfg.hidden_size, qkv_out, scheme, bias=cfg.qkv_bias)
        self.o_proj = make_linear(self.num_heads * self.head_dim, cfg.hidden_size, scheme,
                                  bias=cfg.o_proj_bias)
        self.rope = rope
        if cfg.qk_norm:
            self.q_norm, self.k_norm = (
                nn.RMSNorm(self.head_dim, -1, cfg.rms_norm_eps, bias=False,
                           dtype=scheme.act_dtype) for _ in range(2))
        self.qk_norm = cfg.qk_norm

    def forward(self, x: nn.Tensor, kv_cache: PagedKVCache, layer_id: int,
                positions: nn.Tensor | None = None) -> nn.Tensor:
        b, s, _ = x.shape
        qkv = nn.op.reshape(self.qkv_proj(x),
                            (b, s, self.num_heads + 2 * self.num_kv_heads, self.head_dim))
        if self.qk_norm:
            q, k, v = nn.op.split(qkv, [self.num_heads, self.num_heads + self.num_kv_heads],
                                  axis=2)
            qkv = nn.op.concat([self.q_norm(q), self.k_norm(k), v], dim=2)
        if self.rope is not None:
            qkv = self.rope(qkv, positions)
        out = kv_cache.attention_with_fused_qkv(layer_id, qkv, self.num_heads,
                                                sm_scale=self.head_dim**-0.5)
        return self.o_proj(nn.op.reshape(out, (b, s, self.num_heads * self.head_dim)))


class LlamaMLP(nn.Module):
    def __init__(self, cfg: LlamaConfig, scheme: QuantScheme):
        self.intermediate_size = cfg.intermediate_size
        self.gate_up_proj = make_linear(cfg.hidden_size, 2 * cfg.intermediate_size, scheme,
                                        bias=cfg.mlp_bias)
        self.down_proj = make_linear(cfg.intermediate_size, cfg.hidden_size, scheme,
                                     bias=cfg.mlp_bias)
        self.act = activation(cfg.activation, "config.json")

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        return gated_linear(self.down_proj, self.gate_up_proj(x), self.act)


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig, scheme: QuantScheme, rope: ModelRope | None):
        dtype = scheme.act_dtype
        self.input_layernorm = nn.RMSNorm(cfg.hidden_size, -1, cfg.rms_norm_eps, bias=False,
                                          dtype=dtype)
        self.self_attn = LlamaAttention(cfg, scheme, rope)
        self.post_attention_layernorm = nn.RMSNorm(cfg.hidden_size, -1, cfg.rms_norm_eps,
                                                   bias=False, dtype=dtype)
        self.mlp = LlamaMLP(cfg, scheme)

    def forward(self, x: nn.Tensor, kv_cache: PagedKVCache, layer_id: int,
                positions: nn.Tensor | None = None) -> nn.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), kv_cache, layer_id, positions)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBody(nn.Module):
    def __init__(self, cfg: LlamaConfig, scheme: QuantScheme, rope: ModelRope | None):
        self.embed_tokens = make_embedding(cfg.vocab_size, cfg.hidden_size, scheme)
        self.layers = nn.ModuleList(
            [LlamaDecoderLayer(cfg, scheme, rope) for _ in range(cfg.num_hidden_layers)])
        self.norm = nn.RMSNorm(cfg.hidden_size, -1, cfg.rms_norm_eps, bias=False,
                               dtype=scheme.act_dtype)
        self.positions_needed = rope is not None

    def forward(self, x: nn.Tensor, kv_cache: PagedKVCache) -> nn.Tensor:
        positions = None
        if self.positions_needed:  # each token's position in its sequence, from the cache
            b, s, _ = x.shape
            positions = kv_cache.get_query_positions(b * s)
        for layer_id, layer in enumerate(self.layers):
            x = layer(x, kv_cache, layer_id, positions)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    """Entry points match what WebLLM looks up in a model library."""

    def __init__(self, cfg: LlamaConfig, scheme: QuantScheme, target: Target):
        self.cfg, self.scheme, self.target = cfg, scheme, target
        self.model = self.make_body(cfg, scheme)
        self.lm_head = None if cfg.tie_word_embeddings else make_linear(
            cfg.hidden_size, cfg.vocab_size, scheme, out_dtype="float32",
            grid=scheme.lm_head_grid)

    def make_body(self, cfg: LlamaConfig, scheme: QuantScheme) -> nn.Module:
        """The embedding, the blocks and the final norm (an architecture with its own block
        returns its own body)."""
        return LlamaBody(cfg, scheme, self.model_rope(cfg))

    @staticmethod
    def model_rope(cfg: LlamaConfig) -> ModelRope | None:
        """RoPE the model applies itself (cfg.rope_in_model); None: the KV cache applies it."""
        return None

    # -- building blocks -------------------------------------------------------------
    def _logits(self, hidden: nn.Tensor) -> nn.Tensor:
        if self.lm_head is None:
            return self.model.embed_tokens.lm_head(hidden)
        return self.lm_head(hidden)

    def embed(self, input_ids: nn.Tensor) -> nn.Tensor:
        return self.model.embed_tokens(input_ids)

    # -- single-sequence ABI -------------------------------------------------------------
    def prefill(self, input_embed: nn.Tensor, kv_cache: PagedKVCache):
        hidden = self.model(input_embed, kv_cache)
        return self._logits(_last_position(hidden)), kv_cache

    def decode(self, input_embed: nn.Tensor, kv_cache: PagedKVCache):
        return self._logits(self.model(input_embed, kv_cache)), kv_cache

    # -- batched ABI -----------------------------------------------------------------------
    def batch_prefill(self, input_embeds: nn.Tensor, logit_positions: nn.Tensor,
                      kv_cache: PagedKVCache):
        hidden = self.model(input_embeds, kv_cache)
        return self._logits(nn.op.take(hidden, logit_positions, axis=1)), kv_cache

    def batch_decode(self, input_embeds: nn.Tensor, kv_cache: PagedKVCache):
        return self._logits(self.model(input_embeds, kv_cache)), kv_cache

    def batch_verify(self, input_embeds: nn.Tensor, kv_cache: PagedKVCache):
        return self._logits(self.model(input_embeds, kv_cache)), kv_cache

    def kv_cache_kinds(self) -> dict[str, Any]:
        """The KV cache's attention kind: one for all layers, or one per layer with the
        sliding layers' window (Gemma 3)."""
        return {"attn_kind": "mha"}

    def create_tir_paged_kv_cache(self, max_batch_size: tirx.Var, max_total_seq_len: tirx.Var,
                                  prefill_chunk_size: tirx.Var, page_size: tirx.Var,
                                  support_sliding_window: tirx.Var) -> PagedKVCache:
        return self.tir_cache(self.cfg.num_hidden_layers, max_batch_size, max_total_seq_len,
                              prefill_chunk_size, page_size, support_sliding_window,
                              **self.kv_cache_kinds())

    def tir_cache(self, num_layers: int, max_batch_size, max_total_seq_len, prefill_chunk_size,
                  page_size, support_sliding_window, **kinds: Any) -> PagedKVCache:
        """TVM's paged KV cache for `num_layers` of this model's layers, of attention `kinds`
        (kv_cache_kinds' keys). num_hidden_layers stays the model's: only TVM's debug kernel
        reads it, and two caches of one model share their kernels."""
        cfg = self.cfg
        with race_free_merge():  # TVM's own GPU merge races (compile/merge_state.py)
            return TIRPagedKVCache(
                **kinds,
                max_batch_size=max_batch_size,
                max_total_seq_len=max_total_seq_len,
                prefill_chunk_size=prefill_chunk_size,
                page_size=page_size,
                support_sliding_window=support_sliding_window,
                layer_partition=rx.ShapeExpr([0, num_layers]),
                num_hidden_layers=cfg.num_hidden_layers,
                num_attention_heads=cfg.num_attention_heads,
                num_key_value_heads=cfg.num_key_value_heads,
                qk_head_dim=cfg.head_dim,
                v_head_dim=cfg.head_dim,
                mla_original_qk_head_dim=0,
                mla_original_v_head_dim=0,
                rope_mode=RopeMode.NONE if cfg.rope_in_model else RopeMode.NORMAL,
                rope_scale=1,
                rope_theta=cfg.rope_theta,
                rope_scaling=cfg.kv_cache_rope_scaling(),
                rope_ext_factors=rx.prim_value(0),
                rotary_dim=cfg.rotary_dim,
                enable_disaggregation=False,
                dtype=self.scheme.act_dtype,
                target=self.target,
            )

    def export_spec(self) -> nn.spec.ModuleSpec:
        h, dt = self.cfg.hidden_size, self.scheme.act_dtype
        packed = {"param_mode": "packed", "effect_mode": "none"}
        kv = nn.spec.Object(object_type=PagedKVCache)
        spec = {
            "embed": {"input_ids": nn.spec.Tensor(["seq_len"], "int32"), "$": packed},
            "prefill": {"input_embed": nn.spec.Tensor([1, "seq_len", h], dt),
                        "kv_cache": kv, "$": packed},
            "decode": {"input_embed": nn.spec.Tensor([1, 1, h], dt), "kv_cache": kv,
                       "$": packed},
            "batch_prefill": {"input_embeds": nn.spec.Tensor([1, "seq_len", h], dt),
                              "logit_positions": nn.spec.Tensor(["batch_size"], "int32"),
                              "kv_cache": kv, "$": packed},
            "batch_decode": {"input_embeds": nn.spec.Tensor(["batch_size", 1, h], dt),
                             "kv_cache": kv, "$": packed},
            "batch_verify": {"input_embeds": nn.spec.Tensor([1, "seq_len", h], dt),
                             "kv_cache": kv, "$": packed},
            "create_tir_paged_kv_cache": {
                "max_batch_size": int, "max_total_seq_len": int, "prefill_chunk_size": int,
                "page_size": int, "support_sliding_window": int,
                "$": {"param_mode": "none", "effect_mode": "none"},
            },
        }
        return nn.spec.ModuleSpec.from_raw(spec, self)


def _last_position(hidden: nn.Tensor) -> nn.Tensor:
    """hidden[:, -1:, :]: prefill only needs the logits of the final position."""

    def select(h):
        b, s, d = h.shape
        return te.compute((b, 1, d), lambda i, _, k: h[i, s - 1, k], name="last_position")

    return nn.tensor_expr_op(select, "last_position", [hidden])
