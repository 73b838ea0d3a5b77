"""The compiled-library cache: a rebuild of the same model, quantization and shape (a fine-tune
trained further, say) takes its library from webslm's cache and writes the same artifact a
fresh compile writes; anything the library is compiled from is part of its key, and a damaged
entry is compiled again rather than used."""

from __future__ import annotations

from pathlib import Path

import pytest

from webslm.arch import find_architecture
from webslm.artifacts.manifest import read_manifest
from webslm.cli import main
from webslm.compile.library_cache import find_library, store_library
from webslm.compile.library_key import library_key
from webslm.compile.spec import BuildShape
from webslm.compile.spec import LoraLinear, LoraPlan
from webslm.hashing import sha256_file
from webslm.quantize.schemes import get_scheme


def _key(hf: dict, scheme="q4f32_1", shape=BuildShape(256, 64), lora=None, target="webgpu"):
    arch = find_architecture(hf)
    return library_key(arch.model_type, arch.config_from_hf(hf), get_scheme(scheme), shape, lora,
                       target)


def test_the_key_is_what_the_library_is_compiled_from(tiny_llama_factory):
    hf = tiny_llama_factory().config.to_dict()
    plan = LoraPlan(linears={"model.layers.0.self_attn.qkv_proj": LoraLinear(8, ((0, 0),))})
    base = _key(hf)
    assert _key(hf) == base  # no time, path or process in it
    deeper = tiny_llama_factory(num_hidden_layers=3).config.to_dict()
    variants = [_key(deeper), _key(hf, scheme="q4f32_asym"), _key(hf, shape=BuildShape(512, 64)),
                _key(hf, lora=plan), _key(hf, target="webgpu -x")]
    assert base not in variants and len(set(variants)) == len(variants)
    # the weights are not: a fine-tune shares its base's library
    assert _key({**hf, "_name_or_path": "my-fine-tune"}) == base


def test_a_damaged_entry_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    wasm = tmp_path / "model.wasm"
    wasm.write_bytes(b"\0asm" + bytes(100))
    metadata = {"params": [{"name": "w", "shape": [2, 3], "dtype": "float32"}], "kernel_calls": {}}
    store_library("k", wasm, metadata, say=print)
    found = find_library("k", config=None)
    assert found is not None and found.wasm.read_bytes() == wasm.read_bytes()
    assert [(p.name, p.shape, p.dtype) for p in found.compiled.params] == [("w", (2, 3), "float32")]
    with found.wasm.open("r+b") as f:  # a disk error, an editor, a half-copied backup
        f.truncate(50)
    assert find_library("k", config=None) is None
    assert not (tmp_path / "cache" / "libraries" / "k").exists()


def _hashes(artifact: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(artifact.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_a_rebuild_takes_the_library_from_the_cache_and_writes_the_same_artifact(
        make_hf_dir, tmp_path, capsys):
    source = make_hf_dir()
    common = ["build", "smollm2-135m", "--source", str(source), "--q0f32", "--backend", "webgpu",
              "--context-window", "256", "--prefill-chunk", "64"]
    assert main([*common, "--recompile", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "b")]) == 0
    printed = capsys.readouterr()
    assert "in webslm's cache" in printed.out
    assert "link " not in printed.err  # no emcc run
    (first,), (second,) = (list((tmp_path / d).iterdir()) for d in "ab")
    assert _hashes(first) == _hashes(second)
    manifest = read_manifest(second)
    assert find_library(manifest["build"]["library_key"], config=None) is not None
