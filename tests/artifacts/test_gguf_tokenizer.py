"""The GGUF writer's SentencePiece vocabulary (tokenizer.ggml.model "llama": pieces, scores,
types, byte fallback), against two independent readers: transformers' GGUF tokenizer (it
rebuilds merges from the scores) gives Hugging Face's ids on multilingual, code and emoji
text; and, made from the tokenizer.json of Gemma 3's real GGUF, it is what llama.cpp's
converter wrote into that GGUF. (wllama itself runs the vocabulary in
tests/serve/test_wllama_cpu_builds.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from webslm.artifacts.files import gguf_filename
from webslm.artifacts.gguf_file import write_gguf
from webslm.artifacts.gguf_tokenizer import write_tokenizer
from webslm.source import open_source

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
from tiny_sources import TINY, tiny_transformers  # noqa: E402
from tokenizer_dirs import copy_tokenizer, npm_tokenizer  # noqa: E402

# multilingual, code, emoji (with a skin tone and a ZWJ sequence), whitespace runs, and text
# around special tokens: what SentencePiece's byte fallback and merge order decide
TEXTS = (
    "Hello world",
    "  leading spaces,\ttabs\n\nand newlines  ",
    "Größe, naïve café — 東京タワー、こんにちは。Привет, мир! مرحبا بالعالم",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)  # O(2^n)\n",
    "emoji 🤖🧠 ✨ 👍🏽 👩‍💻 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
)


def test_phi3_vocabulary_reads_back_with_the_same_ids(tmp_path):
    """Phi-3.5's tokenizer (Llama 2's SentencePiece pieces plus its chat tokens) written to a
    GGUF: transformers' GGUF tokenizer tokenizes every text to the source tokenizer's ids."""
    from transformers import AutoTokenizer

    arch = TINY["phi-3.5-mini"]
    folder = tmp_path / "source"
    tiny_transformers(arch).save_pretrained(folder)
    copy_tokenizer(npm_tokenizer(arch.tiny.tokenizer, tmp_path), folder)
    source = open_source(str(folder))
    [path] = write_gguf(source, arch.config_from_hf(source.config), arch.gguf, qtype="Q8_0",
                        tokenizer_pre="default", name="phi", out=tmp_path / gguf_filename("Q8_0"))
    back = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    reference = AutoTokenizer.from_pretrained(folder)
    for text in TEXTS:
        assert back(text).input_ids == reference(text).input_ids, text
    assert reference(TEXTS[4]).input_ids.count(reference.convert_tokens_to_ids("<0xF0>")) >= 3


@pytest.mark.slow
def test_gemma3_vocabulary_is_llama_cpps(gemma3_source):
    """Made from the tokenizer.json that Gemma 3's real GGUF yields, the vocabulary is what
    llama.cpp's converter wrote: every piece and type, special ids, add_bos, no space
    prefix, and scores in the same order. The 30 whitespace-run pieces are the exception:
    llama.cpp marks them user-defined from the SentencePiece model, which tokenizer.json
    lists as ordinary pieces."""
    import numpy as np
    from gguf import GGUFReader, GGUFWriter, TokenType

    class TokenizerOnly:  # the same tokenizer files, no GGUF to copy from
        files: list = []
        tokenizer_dir = gemma3_source.tokenizer_dir

    writer = GGUFWriter(None, "gemma3")
    write_tokenizer(writer, TokenizerOnly(), gemma3_source.config["vocab_size"], "default")
    ours = {k: v.value for k, v in writer.kv_data[0].items()}
    real = {k: f.contents() for k, f in GGUFReader(gemma3_source.files[0]).fields.items()}
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token",
                "tokenizer.ggml.add_space_prefix"):
        assert ours[key] == real[key], key
    tokens, types = ours["tokenizer.ggml.tokens"], [int(t) for t in ours["tokenizer.ggml.token_type"]]
    real_tokens, real_types = real["tokenizer.ggml.tokens"], real["tokenizer.ggml.token_type"]
    assert len(tokens) == len(real_tokens) == 262144
    apart = [i for i in range(len(tokens)) if (tokens[i], types[i]) != (real_tokens[i], real_types[i])]
    assert len(apart) == 30 and all(set(real_tokens[i]) == {" "} for i in apart), apart[:5]
    assert types.count(TokenType.BYTE) == 256
    normal = [i for i, t in enumerate(real_types) if t == TokenType.NORMAL and i not in apart]
    ours_scores = np.array(ours["tokenizer.ggml.scores"])[normal]
    by_real = np.argsort(-np.array(real["tokenizer.ggml.scores"])[normal], kind="stable")
    inversions = np.mean(np.diff(ours_scores[by_real]) > 0)
    assert inversions < 1e-4, inversions  # llama.cpp merges by score: the order is what counts
