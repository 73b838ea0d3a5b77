"""The tokenizer.* metadata of the GGUF the CPU engine runs, as llama.cpp's converter writes it.

A GGUF source's own tokenizer is copied exactly (a fine-tune's own chat template replacing
the GGUF's). Otherwise it is made from tokenizer.json, in
one of llama.cpp's two vocabularies:
- "gpt2": byte-level BPE (Llama 3, Qwen, SmolLM2): tokens, types and merges;
- "llama": SentencePiece BPE with byte fallback (Llama 2, Phi-3, Gemma): tokens, types and
  scores. llama.cpp merges the adjacent pair whose joined piece scores highest, where Hugging
  Face applies the lowest-ranked merge; a piece's score is minus the rank of the first merge
  that makes it, so both pick the same pair. <0xXX> pieces are byte tokens (the fallback for
  characters outside the vocabulary), and a normalizer that prepends "▁" is llama.cpp's
  add_space_prefix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from webslm.errors import WebslmError

_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")
# llama.cpp's score for pieces no merge makes and for added tokens (its converter's too)
_UNMERGED_SCORE = -1000.0


def write_tokenizer(writer, source, vocab_size: int, pre: str) -> None:
    """The tokenizer.* metadata: a GGUF source's own, exactly; else made from tokenizer.json
    (`pre`: llama.cpp's pre-tokenizer name, models.yaml gguf_tokenizer; "default" for SPM)."""
    ggufs = [f for f in source.files if Path(f).suffix == ".gguf"]
    if ggufs:
        copy_tokenizer(writer, ggufs[0], chat_template=source.chat_template)
        return
    tokenizer_json = Path(source.tokenizer_dir) / "tokenizer.json"
    data = json.loads(tokenizer_json.read_text())
    model = data["model"]
    if model.get("type") != "BPE":
        raise WebslmError(f"{tokenizer_json}: a {model.get('type')} tokenizer, not BPE",
                          "webslm writes GGUF tokenizers for byte-level BPE and SentencePiece "
                          "BPE (byte fallback) models only")
    if model.get("byte_fallback"):
        _write_sentencepiece(writer, source.tokenizer_dir, data, vocab_size)
    else:
        _write_byte_level_bpe(writer, source.tokenizer_dir, vocab_size, pre)


def _vocabulary(tokenizer_dir: Path, vocab_size: int):
    """(tokenizer, id -> piece, id -> added token, number of ids) of tokenizer.json."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    by_id = {i: t for t, i in tokenizer.get_vocab(with_added_tokens=True).items()}
    return tokenizer, by_id, tokenizer.get_added_tokens_decoder(), max(vocab_size, len(by_id))


def _write_byte_level_bpe(writer, tokenizer_dir: Path, vocab_size: int, pre: str) -> None:
    import gguf

    tokenizer, by_id, added, count = _vocabulary(tokenizer_dir, vocab_size)
    tokens, types = [], []
    for i in range(count):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    _write_special(writer, tokenizer, tokenizer_dir, len(tokens), merges=True)


def _write_sentencepiece(writer, tokenizer_dir: Path, data: dict, vocab_size: int) -> None:
    import gguf

    tokenizer, by_id, added, count = _vocabulary(tokenizer_dir, vocab_size)
    first_made = {}
    for rank, merge in enumerate(data["model"]["merges"]):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        first_made.setdefault(left + right, rank)
    unk = data["model"].get("unk_token")
    tokens, scores, types = [], [], []
    for i in range(count):
        piece = by_id.get(i)
        if piece is None:
            tokens.append(f"[PAD{i}]")
            scores.append(_UNMERGED_SCORE)
            types.append(gguf.TokenType.UNUSED)
            continue
        if i in added:  # as llama.cpp's converter: special ones are control tokens
            control = added[i].special
            tokens.append(piece if control else piece.replace("▁", " "))
            scores.append(_UNMERGED_SCORE)
            types.append(gguf.TokenType.CONTROL if control else gguf.TokenType.USER_DEFINED)
            continue
        tokens.append(piece)
        if piece == unk:
            scores.append(0.0)
            types.append(gguf.TokenType.UNKNOWN)
        elif _BYTE_PIECE.fullmatch(piece):
            scores.append(0.0)
            types.append(gguf.TokenType.BYTE)
        else:
            rank = first_made.get(piece)
            scores.append(_UNMERGED_SCORE if rank is None and len(piece) > 1 else -float(rank or 0))
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_add_space_prefix(_prepends_space(data))
    _write_special(writer, tokenizer, tokenizer_dir, len(tokens), merges=False)


def _prepends_space(data: dict) -> bool:
    """Whether the tokenizer puts "▁" before the text (SentencePiece's add_dummy_prefix): a
    Prepend normalizer (Llama 2, Phi-3) or a Metaspace pre-tokenizer that prepends."""
    if any(s.get("type") == "Prepend" and s.get("prepend") == "▁" for s in _steps(data.get("normalizer"))):
        return True
    return any(s.get("type") == "Metaspace" and s.get("prepend_scheme", "always") != "never"
               for s in _steps(data.get("pre_tokenizer")))


def _steps(part: dict | None) -> list[dict]:
    """A normalizer's or pre-tokenizer's steps, Sequences flattened."""
    if not part:
        return []
    inner = part.get("normalizers") or part.get("pretokenizers")
    return [step for p in inner for step in _steps(p)] if inner else [part]


def _write_special(writer, tokenizer, tokenizer_dir: Path, n_vocab: int, merges: bool) -> None:
    """Special ids, add_bos/add_eos and the chat template (gguf-py reads tokenizer_config),
    plus BPE merges; add_bos from what the tokenizer does where the config does not say."""
    import gguf

    special = gguf.SpecialVocab(tokenizer_dir, load_merges=merges, n_vocab=n_vocab)
    special.add_to_gguf(writer, quiet=True)
    if "bos" in special.special_token_ids and "tokenizer.ggml.add_bos_token" not in writer.kv_data[0]:
        # what the tokenizer does, not what its config says (Llama 3 adds BOS in its template)
        first = tokenizer.encode("a").ids[:1]
        writer.add_add_bos_token(first == [special.special_token_ids["bos"]])


def copy_tokenizer(writer, path: Path, chat_template: str | None = None) -> None:
    """The GGUF's tokenizer.* metadata; `chat_template` (a fine-tune's own, saved with its
    adapter: what it was trained in) replaces the GGUF's, or adds one to a base that has none
    (Gemma 3 270M), so llama.cpp's chat formats prompts as the fine-tune expects."""
    from gguf import GGUFValueType, Keys

    from webslm.source.gguf import open_gguf_reader

    reader = open_gguf_reader(path)
    if isinstance(chat_template, str):
        writer.add_chat_template(chat_template)
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer.") or (key == Keys.Tokenizer.CHAT_TEMPLATE
                                                and isinstance(chat_template, str)):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), kind, sub_type=sub)
