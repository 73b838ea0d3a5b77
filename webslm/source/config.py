"""Make a config dict say explicitly what compile code needs, whichever transformers wrote it.

transformers 5 writes `rope_parameters` and may omit defaults; older config.json files carry
`rope_theta` / `rope_scaling`. Both spellings are kept so readers can rely on the classic keys.
"""

import math

import numpy as np

from webslm.errors import WebslmError

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


# Sizes beyond these are damage or hostility, never a model a browser could run; refusing them
# here keeps later code from allocating from them (a 10^9 vocabulary would be 10^9 rows).
SIZE_LIMITS = {
    "vocab_size": 1 << 22,
    "hidden_size": 1 << 16,
    "intermediate_size": 1 << 18,
    "num_hidden_layers": 1 << 10,
    "num_attention_heads": 1 << 10,
    "num_key_value_heads": 1 << 10,
    "head_dim": 1 << 12,
    "max_position_embeddings": 1 << 25,
}
REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
MAX_PARAMETERS = 10**11  # 400 GB in float32
FIX = "restore the model's original config.json (or the GGUF it came from)"


def check_config(cfg, where: str = "config.json") -> None:
    """Refuse a config whose sizes are missing, of the wrong type, absurd or inconsistent.

    Runs before anything is built from the config, so a hostile size fails here, not as a
    multi-gigabyte allocation or a ZeroDivisionError deep in the compiler.
    """
    if not isinstance(cfg, dict):
        raise WebslmError(f"{where} holds a JSON {type(cfg).__name__}, not an object", FIX)
    missing = [k for k in REQUIRED if cfg.get(k) is None]
    if missing:
        raise WebslmError(f"{where} lacks {', '.join(missing)}, which every decoder model has", FIX)
    for key, limit in SIZE_LIMITS.items():
        value = cfg.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise WebslmError(f"{where}: {key} is {value!r}, not a whole number", FIX)
        if not 1 <= value <= limit:
            raise WebslmError(f"{where}: {key} is {value}, outside 1..{limit}", FIX)
    _check_shapes(cfg, where)
    _check_other_types(cfg, where)


def _check_shapes(cfg: dict, where: str) -> None:
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    if cfg.get("head_dim") is None and cfg["hidden_size"] % heads:
        raise WebslmError(f"{where}: hidden_size {cfg['hidden_size']} does not split into "
                          f"num_attention_heads {heads} heads (and head_dim is not given)", FIX)
    if heads % kv:
        raise WebslmError(f"{where}: num_attention_heads {heads} is not a multiple of "
                          f"num_key_value_heads {kv}", FIX)
    hidden, inter = cfg["hidden_size"], cfg.get("intermediate_size") or 4 * cfg["hidden_size"]
    params = 2 * cfg["vocab_size"] * hidden + cfg["num_hidden_layers"] * (4 * hidden * hidden + 3 * hidden * inter)
    if params > MAX_PARAMETERS:
        raise WebslmError(f"{where} describes a model of about {params:.2e} parameters, more than "
                          f"webslm's limit of {MAX_PARAMETERS:.0e}", FIX)


def _check_other_types(cfg: dict, where: str) -> None:
    for key in ("rms_norm_eps", "rope_theta", "layer_norm_eps"):
        value = cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise WebslmError(f"{where}: {key} is {value!r}, not a positive number", FIX)
    for key in ("rope_parameters", "rope_scaling"):
        if cfg.get(key) is not None and not isinstance(cfg[key], dict):
            raise WebslmError(f"{where}: {key} is {cfg[key]!r}, not an object", FIX)
    rope = cfg.get("rope_parameters") or {}
    if rope.get("rope_theta") is not None and (isinstance(rope["rope_theta"], bool)
                                               or not isinstance(rope["rope_theta"], (int, float))):
        raise WebslmError(f"{where}: rope_parameters.rope_theta is {rope['rope_theta']!r}, not a number", FIX)
    for key in ("model_type",):
        if cfg.get(key) is not None and not isinstance(cfg[key], str):
            raise WebslmError(f"{where}: {key} is {cfg[key]!r}, not a string", FIX)
    archs = cfg.get("architectures")
    if archs is not None and not (isinstance(archs, list) and all(isinstance(a, str) for a in archs)):
        raise WebslmError(f"{where}: architectures is {archs!r}, not a list of class names", FIX)
    if cfg.get("tie_word_embeddings") is not None and not isinstance(cfg["tie_word_embeddings"], bool):
        raise WebslmError(f"{where}: tie_word_embeddings is {cfg['tie_word_embeddings']!r}, not true/false", FIX)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = cfg.get(key)
        ids = value if isinstance(value, list) else [value]
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0) for v in ids):
            raise WebslmError(f"{where}: {key} is {value!r}, not a token id or list of ids", FIX)


def head_dim(cfg: dict) -> int:
    """The size of one attention head: config.json's head_dim where given (Qwen3 and Llama 3.2
    set it apart from hidden_size / heads), else hidden_size / num_attention_heads. Every
    reader of a config (compile, ONNX, bench) asks here."""
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def normalize_config(raw: dict, where: str = "config.json") -> dict:
    """A copy with architectures, rope_theta/rope_scaling, head counts and tying made explicit.

    The config is checked first (check_config): `where` names it in the error.
    """
    check_config(raw, where)
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
            cfg["head_dim"] = head_dim(cfg)
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
