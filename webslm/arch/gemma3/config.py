"""Gemma 3 (text): what the model and the build read off config.json.

Every layer is either sliding (attends to the last `sliding_window` positions, RoPE base 10k)
or global (all positions, RoPE base 1M, with the config's rope scaling), in the pattern
`layer_types` gives. q/k are RMS-normed per head, every norm scales by (1 + w), the MLP is
GeGLU with tanh GELU, attention scales by query_pre_attn_scalar^-0.5, and the embedding is
multiplied by sqrt(hidden_size).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from webslm.arch.llama.config import LlamaConfig
from webslm.compile.spec import WEBLLM_PAGE_SIZE, window_cache_tokens
from webslm.errors import WebslmError

SLIDING, GLOBAL = "sliding_attention", "full_attention"
_RESTORE = "restore the checkpoint's original config.json"


@dataclasses.dataclass
class Gemma3Config(LlamaConfig):
    rms_norm_eps: float = 1e-6
    hidden_activation: str = "gelu_pytorch_tanh"
    query_pre_attn_scalar: float = 256.0
    sliding_window: int = 512
    layer_types: tuple[str, ...] = ()
    rope_local_theta: float = 10000.0   # sliding layers' RoPE base (rope_theta: global layers')
    rope_global_factor: float = 1.0     # linear RoPE scaling of the global layers (4B and up)

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> "Gemma3Config":
        for what in ("attn_logit_softcapping", "final_logit_softcapping"):
            if hf.get(what) is not None:
                raise WebslmError(f"config.json sets {what} ({hf[what]}): that is Gemma 2's "
                                  "attention, which webslm does not compile", _RESTORE)
        if hf.get("use_bidirectional_attention"):
            raise WebslmError("config.json sets use_bidirectional_attention: an encoder "
                              "(EmbeddingGemma), not a chat model", _RESTORE)
        act = hf.get("hidden_activation") or hf.get("hidden_act") or cls.hidden_activation
        cfg = super().from_hf({**hf, "hidden_act": None, "hidden_activation": act})
        cfg.layer_types = tuple(hf.get("layer_types") or _pattern(hf, cfg.num_hidden_layers))
        if set(cfg.layer_types) - {SLIDING, GLOBAL} or len(cfg.layer_types) != cfg.num_hidden_layers:
            raise WebslmError(f"config.json layer_types {list(cfg.layer_types)} are not one of "
                              f"{SLIDING!r}/{GLOBAL!r} per layer", _RESTORE)
        params = hf.get("rope_parameters") or {}
        local = params.get(SLIDING) or {}
        glob = params.get(GLOBAL) or dict(hf.get("rope_scaling") or {})
        cfg.rope_local_theta = float(local.get("rope_theta") or hf.get("rope_local_base_freq")
                                     or cls.rope_local_theta)
        cfg.rope_theta = float(glob.get("rope_theta") or hf.get("rope_theta") or cfg.rope_theta)
        kind = glob.get("rope_type", glob.get("type", "default"))
        if kind == "linear":
            cfg.rope_global_factor = float(glob["factor"])
        elif kind != "default":
            raise WebslmError(f"Gemma 3 rope scaling {kind!r} is not supported",
                              "webslm compiles Gemma 3 with plain or linearly scaled RoPE")
        cfg.rope_scaling = None
        return cfg

    @property
    def activation(self) -> str:
        return self.hidden_activation

    @property
    def qk_norm(self) -> bool:
        return True

    @property
    def rope_in_model(self) -> bool:
        return True  # two RoPE bases, one per layer kind: the KV cache takes only one

    def kv_cache_rope_scaling(self) -> dict[str, Any]:
        return {}

    @property
    def residual_dtype(self) -> str:
        return "float32"  # it outgrows float16: |h| passes 65,504 at layer 8 of 270M

    @property
    def max_prefill_chunk(self) -> int | None:
        """TVM's KV cache windows a sliding layer's attention to cached tokens per query, but
        not the attention among one chunk's own tokens: exact while a chunk fits the window."""
        return self.sliding_window if SLIDING in self.layer_types else None

    def kv_positions(self, context: int, prefill_chunk: int) -> list[int]:
        """A sliding layer holds its window and a chunk, in whole pages (the windowed KV cache
        of a WebGPU build, compile/windowed_kv_cache.py)."""
        kept = window_cache_tokens(self.sliding_window, 1, prefill_chunk, WEBLLM_PAGE_SIZE)
        return [min(context, kept) if t == SLIDING else context for t in self.layer_types]

    def layer_rope(self, layer: int) -> tuple[float, float]:
        """(RoPE base, linear scaling factor) of layer `layer`."""
        if self.layer_types[layer] == SLIDING:
            return self.rope_local_theta, 1.0
        return self.rope_theta, self.rope_global_factor


def _pattern(hf: dict[str, Any], layers: int) -> list[str]:
    """Older configs: every `sliding_window_pattern`-th layer is global, the rest slide."""
    every = int(hf.get("sliding_window_pattern") or hf.get("_sliding_window_pattern") or 6)
    return [GLOBAL if (i + 1) % every == 0 else SLIDING for i in range(layers)]
