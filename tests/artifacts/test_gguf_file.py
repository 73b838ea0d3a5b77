"""The GGUF writer against llama.cpp's own converter output (the SmolLM2 GGUF is one) and,
read back through transformers' independent GGUF loader, against the model it came from."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from webslm.arch import find_architecture
from webslm.artifacts.files import gguf_filename
from webslm.artifacts.gguf_file import llama3_rope_factors, write_gguf
from webslm.source import open_source, smollm2_gguf_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
from tiny_sources import TINY, tiny_transformers  # noqa: E402
from tokenizer_dirs import copy_tokenizer, npm_tokenizer  # noqa: E402


@pytest.fixture(autouse=True)
def each_gguf_parsed_once(monkeypatch):
    """gguf-py parses a GGUF file once per test, however many readers ask for it.

    A read-back asks three times: transformers' GGUF loader once for the config and once for
    the tokenizer, webslm's GGUF writer or reader once more; on a 150k-262k-token vocabulary
    each parse took 10-20 s on 2 cores. Every caller still runs its own code (transformers'
    loader included) on gguf-py's GGUFReader of the file; they share one, keyed by the file's
    size and mtime, whose arrays are read-only views of the file (webslm's gguf_reader: plain
    arrays over the mapping, about 3.5 times faster to parse than gguf-py's memmap slices)."""
    import gguf

    from webslm.source.gguf import gguf_reader

    parsed: dict = {}

    def reader(path, mode="r"):
        stat = Path(path).stat()
        key = (Path(path).resolve(), stat.st_size, stat.st_mtime_ns, mode)
        if key not in parsed:
            parsed[key] = gguf_reader(path, mode)
        return parsed[key]

    monkeypatch.setattr(gguf, "GGUFReader", reader)


def _write(source, name: str, qtype: str, out: Path, pre: str) -> list[Path]:
    arch = find_architecture(source.config)
    return write_gguf(source, arch.config_from_hf(source.config), arch.gguf, qtype=qtype,
                      tokenizer_pre=pre, name=name, out=out / gguf_filename(qtype))


@pytest.mark.slow
def test_smollm2_q8_0_is_llama_cpps_own_file_requantized(smollm2, tmp_path, monkeypatch):
    """Every tensor (names, q/k row order, bytes) is what re-quantizing llama.cpp's own file
    to Q8_0 gives, and every hyperparameter llama.cpp wrote is written the same. Written in
    shards (as a 1B model's is) that webslm's GGUF reader takes back as one model."""
    from gguf import GGMLQuantizationType, GGUFReader, dequantize, quantize

    from webslm.artifacts import gguf_file

    monkeypatch.setattr(gguf_file, "SHARD_BYTES", 64 * 2**20)
    paths = _write(smollm2, "smollm2-135m", "Q8_0", tmp_path, "smollm")
    assert [p.name for p in paths] == [f"model.Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    source, ours = GGUFReader(smollm2_gguf_path()), GGUFReader(paths[0])
    written = {t.name: t for p in paths for t in GGUFReader(p).tensors}
    assert sorted(written) == sorted(t.name for t in source.tensors)
    for t in source.tensors:
        weights = dequantize(t.data, t.tensor_type)
        if t.tensor_type != GGMLQuantizationType.F32:
            weights = dequantize(quantize(weights, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0)
        got = written[t.name]
        assert np.array_equal(dequantize(got.data, got.tensor_type), weights), t.name
    for key, field in source.fields.items():
        if key.startswith(("llama.", "tokenizer.")):
            assert ours.fields[key].contents() == field.contents(), key
    back = open_source(str(paths[0]))
    assert back.files == paths and back.tensor_names() == smollm2.tensor_names()
    last = back.tensor_names()[-1]  # in the last shard
    np.testing.assert_allclose(back.get_tensor(last), smollm2.get_tensor(last), atol=0.02)


def test_a_split_gguf_is_opened_by_its_first_shard_whole(tmp_path):
    from webslm.errors import WebslmError
    from webslm.source.gguf import gguf_shards

    shards = [tmp_path / f"m-0000{i}-of-00002.gguf" for i in (1, 2)]
    shards[0].write_bytes(b"GGUF")
    with pytest.raises(WebslmError, match="missing: m-00002-of-00002.gguf"):
        gguf_shards(shards[0])
    shards[1].write_bytes(b"GGUF")
    assert gguf_shards(shards[0]) == shards
    with pytest.raises(WebslmError, match="pass its first shard, m-00001-of-00002.gguf"):
        gguf_shards(shards[1])
    assert gguf_shards(tmp_path / "plain.gguf") == [tmp_path / "plain.gguf"]


def test_tokenizer_from_tokenizer_json_matches_llama_cpps(smollm2):
    """Without a GGUF to copy from, tokens, their types, merges and special ids are made
    from tokenizer.json: for SmolLM2 exactly what llama.cpp's converter wrote."""
    from gguf import GGUFReader, GGUFWriter

    from webslm.artifacts.gguf_tokenizer import write_tokenizer as _write_tokenizer

    class HfOnly:  # the same tokenizer files, no GGUF among the source files
        files: list = []
        tokenizer_dir = smollm2.tokenizer_dir

    writer = GGUFWriter(None, "llama")
    _write_tokenizer(writer, HfOnly(), smollm2.config["vocab_size"], "smollm")
    ours = {k: v.value for k, v in writer.kv_data[0].items()}
    reference = GGUFReader(smollm2_gguf_path()).fields
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                "tokenizer.ggml.add_bos_token", "tokenizer.chat_template"):
        assert list(ours[key]) == reference[key].contents() if isinstance(ours[key], list) \
            else ours[key] == reference[key].contents(), key
    assert [int(t) for t in ours["tokenizer.ggml.token_type"]] == reference["tokenizer.ggml.token_type"].contents()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n, a in TINY.items() if a.gguf))
def test_f32_gguf_reads_back_as_the_same_model(name, tmp_path):
    """transformers' GGUF loader (its own name table and q/k row order) rebuilds the model
    from an F32 file: the same logits as the model it was written from. (That loader reads
    no attention.key_length: the model takes the head_dim its config class defaults to; nor
    Phi-3's LongRoPE factors, so Phi-3 is written without them here and
    test_phi3_longrope_is_llama_cpps checks them.)"""
    from tiny_sources import transformers_classes

    arch = TINY[name]
    shape = {k: arch.tiny.config[k] for k in ("hidden_size", "num_attention_heads")}
    default = getattr(transformers_classes(arch)[1](**shape), "head_dim", None)
    plain_rope = {"rope_scaling": None} if arch.tiny.config.get("rope_scaling") else {}
    # llama.cpp's Gemma 3 scales attention by head_dim^-0.5 (GgufLayout.assumed)
    scalar = {"query_pre_attn_scalar": default} if "query_pre_attn_scalar" in arch.tiny.config else {}
    model = tiny_transformers(arch, **({"head_dim": default} if default else {}), **plain_rope,
                              **scalar)
    folder = tmp_path / "source"
    model.save_pretrained(folder)
    copy_tokenizer(npm_tokenizer(arch.tiny.tokenizer, tmp_path), folder)
    [path] = _write(open_source(str(folder)), name, "F32", tmp_path, "qwen2")
    back = open_source(str(path)).load_reference_model()
    ids = torch.tensor([[1, 17, 400, 9, 3000, 42]])
    with torch.no_grad():
        expected, got = model(ids).logits, back(ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_llama3_rope_factors_match_transformers():
    """rope_freqs divides the plain frequencies into transformers' Llama 3 ones."""
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    rope = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    config = LlamaConfig(hidden_size=2048, num_attention_heads=32, rope_scaling=rope,
                         rope_theta=500000.0, max_position_embeddings=131072)
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
    plain = 1.0 / 500000.0 ** (torch.arange(0, 64, 2, dtype=torch.float64) / 64)
    np.testing.assert_allclose(llama3_rope_factors(rope, 500000.0, 64),
                               (plain / scaled.double()).numpy(), rtol=1e-5)


def test_phi3_longrope_is_llama_cpps(tmp_path):
    """Phi-3's GGUF as llama.cpp's converter writes it: fused attn_qkv / ffn_up, LongRoPE as
    rope_factors_long / _short tensors with the original context and the attention factor
    transformers uses (sqrt(1 + ln(scale) / ln(original))), and the SentencePiece vocabulary."""
    from gguf import GGUFReader, TokenType

    arch = TINY["phi-3.5-mini"]
    model = tiny_transformers(arch)
    folder = tmp_path / "source"
    model.save_pretrained(folder)
    copy_tokenizer(npm_tokenizer(arch.tiny.tokenizer, tmp_path), folder)
    [path] = _write(open_source(str(folder)), "phi", "Q8_0", tmp_path, "default")
    reader = GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    rope = arch.tiny.config["rope_scaling"]
    for kind in ("long", "short"):
        np.testing.assert_array_equal(tensors[f"rope_factors_{kind}.weight"].data,
                                      np.float32(rope[f"{kind}_factor"]))
    assert {"blk.0.attn_qkv.weight", "blk.0.ffn_up.weight"} <= set(tensors)
    assert "blk.0.attn_q.weight" not in tensors and "blk.0.ffn_gate.weight" not in tensors
    fields = {k: f.contents() for k, f in reader.fields.items()}
    original = arch.tiny.config["original_max_position_embeddings"]
    scale = arch.tiny.config["max_position_embeddings"] / original
    assert fields["phi3.rope.scaling.original_context_length"] == original
    assert fields["phi3.rope.scaling.attn_factor"] == pytest.approx(
        np.sqrt(1 + np.log(scale) / np.log(original)))
    assert fields["phi3.rope.dimension_count"] == 32
    assert fields["tokenizer.ggml.model"] == "llama"
    types = fields["tokenizer.ggml.token_type"]
    assert types[1] == types[32000] == TokenType.CONTROL  # <s>, <|endoftext|>
    assert types[3] == TokenType.BYTE and fields["tokenizer.ggml.tokens"][3] == "<0x00>"
