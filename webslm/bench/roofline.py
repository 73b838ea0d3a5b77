"""What decoding one token has to read, and the share of the measured bandwidth it achieved.

Per decoded token an engine reads every weight once and the KV cache up to the current
position (keys and values, every layer). Bytes / (seconds per token) is the bandwidth the
engine achieved; divided by the bandwidth measured in the same browser, it is the roofline
fraction. Activations and logits are small next to these at batch 1 and are left out.
"""

from __future__ import annotations

from webslm.source.config import head_dim

KV_BYTES = {"float32": 4, "float16": 2}


def build_kv_dtype(quantization: str) -> str:
    """A WebLLM build's KV cache dtype: its activation dtype (q4f16_1: float16)."""
    return "float16" if "f16" in quantization else "float32"


def kv_bytes_per_position(model_config: dict, kv_dtype: str) -> int:
    heads = model_config["num_key_value_heads"]
    return 2 * model_config["num_hidden_layers"] * heads * head_dim(model_config) * KV_BYTES[kv_dtype]


def bytes_per_token(weight_bytes: int, model_config: dict, kv_dtype: str, context: int) -> int:
    return weight_bytes + kv_bytes_per_position(model_config, kv_dtype) * context


def roofline_fraction(bytes_read: int, tokens_per_s: float | None,
                      bandwidth_bytes_per_s: float | None) -> float | None:
    if not tokens_per_s or not bandwidth_bytes_per_s:
        return None
    return bytes_read * tokens_per_s / bandwidth_bytes_per_s
