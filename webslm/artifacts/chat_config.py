"""Build mlc-chat-config.json: the one file WebLLM reads to learn how to drive a model library.

Field names, defaults and order follow what MLC-LLM's gen_config writes, because WebLLM
is written against those files. WebLLM reads: tokenizer_files, tokenizer_info, vocab_size
(the logits width), conv_template, context_window_size / sliding_window_size /
attention_sink_size (KV-cache sizing), the sampling defaults and bos_token_id.
"""

from __future__ import annotations

import json
from pathlib import Path

from webslm.artifacts.conv_templates import build_conv_template, load_vocab, read_chat_template
from webslm.artifacts.files import CHAT_CONFIG
from webslm.errors import WebslmError

CHAT_CONFIG_VERSION = "0.1.0"

# Copied next to the weights when present, in this order (as MLC-LLM does).
TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "tokenizer_config.json",
)

# Used when neither generation_config.json nor config.json sets a value.
SAMPLING_DEFAULTS = {
    "temperature": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "repetition_penalty": 1.0,
    "top_p": 1.0,
}
TOKEN_ID_DEFAULTS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}


def _kinds(node: dict | None, list_key: str) -> list[dict]:
    """A tokenizer.json component and, for a Sequence, its parts."""
    if not isinstance(node, dict):
        return []
    return [node] + [part for part in node.get(list_key) or [] if isinstance(part, dict)]


def detect_tokenizer_info(tokenizer_json: dict) -> dict:
    """How WebLLM (xgrammar) must turn token strings back into bytes, from tokenizer.json.

    byte_level: GPT-2 style byte-to-unicode tokens (SmolLM2, Llama 3, Qwen).
    byte_fallback: SentencePiece style "▁word" and <0xNN> tokens (Llama 2, Phi-3).
    """
    decoders = _kinds(tokenizer_json.get("decoder"), "decoders")
    types = [d.get("type") for d in decoders]
    if "ByteLevel" in types:
        method = "byte_level"
    else:
        method = "byte_fallback"  # also MLC-LLM's default when the decoder says nothing
    normalizers = _kinds(tokenizer_json.get("normalizer"), "normalizers")
    prepend = any(n.get("type") == "Prepend" and n.get("prepend") == "\u2581" for n in normalizers)
    pre_tokenizers = _kinds(tokenizer_json.get("pre_tokenizer"), "pretokenizers")
    prepend = prepend or any(
        p.get("type") == "Metaspace" and p.get("prepend_scheme", "always") in ("always", "first")
        for p in pre_tokenizers
    )
    strip = any(
        (d.get("type"), d.get("content"), d.get("start"), d.get("stop")) == ("Strip", " ", 1, 0)
        for d in decoders
    )
    return {
        "token_postproc_method": method,
        "prepend_space_in_encode": prepend,
        "strip_space_in_decode": strip,
    }


def _first_set(key: str, *sources: dict):
    for source in sources:
        if source.get(key) is not None:
            return source[key]
    return None


def _tokenizer_token_ids(tokenizer_dir: Path, vocab: dict[str, int]) -> dict:
    """bos/eos/pad ids named in tokenizer_config.json, for models whose configs omit them."""
    _template, cfg = read_chat_template(tokenizer_dir)
    ids = {}
    for key in TOKEN_ID_DEFAULTS:
        text = cfg.get(key.removesuffix("_id"))
        if isinstance(text, dict):  # serialized AddedToken
            text = text.get("content")
        if text in vocab:
            ids[key] = vocab[text]
    return ids


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def make_chat_config(
    *,
    model_type: str,
    quantization: str,
    model_config: dict,
    vocab_size: int,
    context_window_size: int,
    prefill_chunk_size: int,
    sliding_window_size: int = -1,
    attention_sink_size: int | None = None,
    chat_format: str,
    tokenizer_dir: Path,
    generation_config: dict,
    hf_config: dict,
) -> dict:
    """The full mlc-chat-config.json content for one compiled model, as a dict.

    Sampling defaults and special token ids come from generation_config first, then
    hf_config (config.json), then MLC-LLM's system defaults. The model's eos ids are added to
    the template's stop tokens, because WebLLM stops only on conv_template.stop_token_ids.
    """
    tokenizer_dir = Path(tokenizer_dir)
    _check_windows(context_window_size, sliding_window_size, prefill_chunk_size)
    if attention_sink_size is None:
        attention_sink_size = -1 if sliding_window_size == -1 else 0
    vocab = load_vocab(tokenizer_dir)  # raises a WebslmError without tokenizer.json
    tokenizer_json = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    largest_id = max(vocab.values())
    if largest_id >= vocab_size:
        raise WebslmError(
            f"the tokenizer has token id {largest_id} but the model's vocab_size is {vocab_size}",
            fix="use the tokenizer that was released with these weights",
        )

    conv = build_conv_template(chat_format, tokenizer_dir)
    from_tokenizer = _tokenizer_token_ids(tokenizer_dir, vocab)
    token_ids = {
        key: _first_set(key, generation_config, hf_config, from_tokenizer) for key in TOKEN_ID_DEFAULTS
    }
    for eos in _as_list(token_ids["eos_token_id"]):
        if eos not in conv["stop_token_ids"]:
            conv["stop_token_ids"].append(eos)
    for key, default in TOKEN_ID_DEFAULTS.items():
        if token_ids[key] is None:
            token_ids[key] = default

    config = {
        "version": CHAT_CONFIG_VERSION,
        "model_type": model_type,
        "quantization": quantization,
        "model_config": dict(model_config),
        "vocab_size": vocab_size,
        "context_window_size": context_window_size,
        "sliding_window_size": sliding_window_size,
        "prefill_chunk_size": prefill_chunk_size,
        "attention_sink_size": attention_sink_size,
        "tensor_parallel_shards": model_config.get("tensor_parallel_shards", 1),
        "pipeline_parallel_stages": model_config.get("pipeline_parallel_stages", 1),
    }
    for key, default in SAMPLING_DEFAULTS.items():
        value = _first_set(key, generation_config, hf_config)
        config[key] = default if value is None else value
    config["tokenizer_files"] = [name for name in TOKENIZER_FILES if (tokenizer_dir / name).is_file()]
    config["tokenizer_info"] = detect_tokenizer_info(tokenizer_json)
    config["conv_template"] = conv
    config.update(token_ids)
    return config


def _check_windows(context_window_size: int, sliding_window_size: int, prefill_chunk_size: int):
    """Reject sizes WebLLM would refuse only after the whole download."""
    if prefill_chunk_size <= 0:
        raise WebslmError(f"prefill_chunk_size must be > 0, got {prefill_chunk_size}")
    if context_window_size != -1 and sliding_window_size != -1:
        raise WebslmError(
            "WebLLM accepts either a context window or a sliding window, not both "
            f"(context_window_size={context_window_size}, sliding_window_size={sliding_window_size})",
            fix="set context_window_size to -1 for sliding-window models",
        )
    if context_window_size == -1 and sliding_window_size == -1:
        raise WebslmError("one of context_window_size and sliding_window_size must be set")


def write_chat_config(config: dict, out_dir: Path) -> Path:
    """Write mlc-chat-config.json the way MLC-LLM does (2-space indent, ASCII-escaped)."""
    path = Path(out_dir) / CHAT_CONFIG
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path
