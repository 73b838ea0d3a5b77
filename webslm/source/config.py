"""Make a config dict say explicitly what compile code needs, whichever transformers wrote it.

transformers 5 writes `rope_parameters` and may omit defaults; older config.json files carry
`rope_theta` / `rope_scaling`. Both spellings are kept so readers can rely on the classic keys.
"""

import numpy as np

NOISE_KEYS = (
    "_name_or_path",
    "_model_name_or_path",
    "transformers_version",
    "id2label",
    "label2id",
    "output_hidden_states",
    "output_attentions",
    "return_dict",
    "problem_type",
    "chunk_size_feed_forward",
    "is_encoder_decoder",
)


def normalize_config(raw: dict) -> dict:
    """A copy with architectures, rope_theta/rope_scaling, head counts and tying made explicit."""
    cfg = dict(raw)
    model_type = cfg.get("model_type")
    if not cfg.get("architectures") and model_type:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            cfg["architectures"] = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]]
    rope = cfg.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" in rope:
        cfg.setdefault("rope_theta", rope["rope_theta"])
        if "rope_scaling" not in cfg:
            scaled = rope.get("rope_type", "default") != "default"
            cfg["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"} if scaled else None
    if "num_attention_heads" in cfg:
        cfg.setdefault("num_key_value_heads", cfg["num_attention_heads"])
        if cfg.get("head_dim") is None and "hidden_size" in cfg:
            cfg["head_dim"] = cfg["hidden_size"] // cfg["num_attention_heads"]
    if "tie_word_embeddings" not in cfg and model_type:
        tied = _class_default(model_type, "tie_word_embeddings")
        if tied is not None:
            cfg["tie_word_embeddings"] = tied
    return cfg


def clean_exported_config(cfg: dict) -> dict:
    """Drop transformers' bookkeeping keys and undo float32 noise (9.99999974e-06 -> 1e-05).

    GGUF stores floats as f32; printing the f32 shortest repr restores the author's value.
    """
    out = {k: v for k, v in cfg.items() if k not in NOISE_KEYS and v is not None or k == "rope_scaling"}
    return {k: _unnoise(v) for k, v in out.items()}


def _unnoise(value):
    if isinstance(value, dict):
        return {k: _unnoise(v) for k, v in value.items()}
    if isinstance(value, float) and np.isfinite(value) and float(np.float32(value)) == value:
        return float(str(np.float32(value)))
    return value


def _class_default(model_type: str, key: str):
    try:
        from transformers import AutoConfig

        return getattr(AutoConfig.for_model(model_type), key, None)
    except (ValueError, KeyError, ImportError):
        return None
