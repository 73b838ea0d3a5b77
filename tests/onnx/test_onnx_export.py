"""The ONNX backend in Python: `webslm build --backend cpu` writes the layout transformers.js
reads; onnxruntime runs it like transformers.js feeds it; fp32 matches transformers token for
token over 32 greedy steps; the quantized dtypes (q4, q8) pass `webslm verify` (their logits
against transformers running the weights they store)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from tokenizers import Tokenizer

from tiny_sources import ONNX_TINY
from webslm.artifacts.manifest import read_manifest
from webslm.cli import main
from webslm.onnx.graph import KEEP_LOGITS_INPUT
from webslm.onnx.runner import OnnxLM
from webslm.quantize.onnx_dtypes import ONNX_DTYPES
from webslm.resources import TRANSFORMERS_JS, npm_pin
from webslm.source import open_source
from webslm.verify.onnx_check import verify_onnx_artifact

pytestmark = pytest.mark.slow
PROMPT = "The lighthouse keeper climbed the spiral stairs at dusk, counting every step."
STEPS = 32


@torch.no_grad()
def torch_greedy(model, ids: list[int], steps: int) -> list[int]:
    """Greedy ids by full recomputation (no cache, no stop token): the plainest reference."""
    seq = list(ids)
    for _ in range(steps):
        seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    return seq[len(ids):]


def prompt_ids(artifact) -> list[int]:
    return Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(PROMPT).ids


@pytest.mark.parametrize("name", ONNX_TINY)
def test_tiny_fp32_export_matches_transformers_for_32_greedy_steps(name, tiny_builds):
    artifact, model = tiny_builds[name]
    ids = prompt_ids(artifact)
    assert OnnxLM(artifact / "onnx" / "model.onnx").greedy(ids, STEPS) == torch_greedy(model, ids, STEPS)


def test_smollm2_fp32_export_matches_transformers_for_32_greedy_steps(smollm2_onnx_dist, smollm2):
    artifact = smollm2_onnx_dist / "smollm2-135m-cpu"
    ids = prompt_ids(artifact)
    expected = torch_greedy(smollm2.load_reference_model(), ids, STEPS)
    assert OnnxLM(artifact / "onnx" / "model.onnx").greedy(ids, STEPS) == expected


@pytest.mark.parametrize("name", ONNX_TINY)
def test_generating_computes_only_the_last_positions_logits(name, tiny_builds):
    """transformers.js feeds num_logits_to_keep=1 while generating: one row of logits, the
    full run's last row (q8 too: its activations are scaled per token, so a row's logits do
    not depend on the rows beside it)."""
    artifact, _ = tiny_builds[name]
    ids = prompt_ids(artifact)
    for path in sorted((artifact / "onnx").glob("*.onnx")):
        lm = OnnxLM(path)
        every, _ = lm.forward(ids, lm._empty_cache(), 0)
        last, _ = lm.forward(ids, lm._empty_cache(), 0, keep=1)
        assert every.shape[0] == len(ids) and last.shape == (1, every.shape[1]), path.name
        np.testing.assert_allclose(last[0], every[-1], atol=1e-4, err_msg=path.name)


@pytest.mark.parametrize("name", ONNX_TINY)
def test_tiny_q4_export_verifies(name, tiny_builds):
    artifact, _ = tiny_builds[name]
    manifest = read_manifest(artifact)
    report = verify_onnx_artifact(artifact, open_source(str(artifact.parent.parent / f"{name}-source")),
                                  manifest, progress=lambda _m: None)
    assert report.passed, report.lines()
    q4 = next(d for d in report.dtypes if d.dtype == "q4")
    assert q4.max_abs_diff < ONNX_DTYPES["q4"].max_logit_diff


def test_smollm2_verify_cli_reports_every_dtype(smollm2_onnx_dist, capsys, tmp_path):
    """Also after `export-site` hard-linked the build's files (onnx.load refuses those)."""
    artifact = smollm2_onnx_dist / "smollm2-135m-cpu"
    assert main(["export-site", str(smollm2_onnx_dist), "--out", str(tmp_path / "site")]) == 0
    assert (artifact / "onnx" / "model_quantized.onnx_data").stat().st_nlink > 1
    assert main(["verify", str(artifact)]) == 0
    out = capsys.readouterr().out
    assert "onnx q4 " in out and "onnx q8 " in out and "onnx fp32" in out
    assert "gguf Q8_0 " in out  # the CPU engine's GGUF, read back through transformers
    assert out.rstrip().endswith("PASS")


def test_layout_is_what_transformers_js_reads(smollm2_onnx_dist):
    artifact = smollm2_onnx_dist / "smollm2-135m-cpu"
    config = json.loads((artifact / "config.json").read_text())
    tjs = config["transformers.js_config"]
    assert tjs["dtype"] == "q8"  # the CPU build first: transformers.js's default
    assert tjs["use_external_data_format"] == {"model_quantized.onnx": 1, "model_q4.onnx": 1,
                                               "model.onnx": 1}
    assert "chat_template" in json.loads((artifact / "tokenizer_config.json").read_text())
    for name in ("model_quantized.onnx", "model_q4.onnx", "model.onnx"):
        graph = onnx.load(str(artifact / "onnx" / name), load_external_data=False)
        locations = {e.value for t in graph.graph.initializer for e in t.external_data
                     if e.key == "location"}
        assert locations == {f"{name}_data"}  # the file name transformers.js fetches
        assert "GatherBlockQuantized" not in {n.op_type for n in graph.graph.node}
        past = [i for i in graph.graph.input if i.name == "past_key_values.0.key"][0]
        assert past.type.tensor_type.shape.dim[3].dim_value == 64  # head dim, not a symbol
        assert KEEP_LOGITS_INPUT in {i.name for i in graph.graph.input}
    manifest = read_manifest(artifact)
    assert manifest["build"]["engine"] == "transformers.js"
    assert set(manifest["files"]) >= {"onnx/model_q4.onnx", "onnx/model_q4.onnx_data",
                                      "config.json", "tokenizer.json"}
    assert manifest["toolchain"]["transformers_js"] == npm_pin(TRANSFORMERS_JS)


def test_an_architecture_without_a_cpu_build(capsys, tmp_path, make_hf_dir, monkeypatch):
    """An architecture outside the exporter's list and without a GGUF layout (nor a GGUF
    source): the default (--backend all) builds what it has and says why the CPU build is
    missing; --backend cpu asks for exactly that and gets a clear error, with nothing left
    behind."""
    import dataclasses

    from webslm.arch import ARCHITECTURES

    llama = ARCHITECTURES["LlamaForCausalLM"]
    monkeypatch.setitem(ARCHITECTURES, "LlamaForCausalLM",
                        dataclasses.replace(llama, onnx_refusal="(a refusal made up by the test)",
                                            gguf=None))
    source = make_hf_dir()
    shape = ["--context-window", "128", "--prefill-chunk", "32"]
    out = tmp_path / "dist"
    assert main(["build", "smollm2-135m", "--q4f32", "--source", str(source), "--out", str(out),
                 *shape]) == 0
    assert "no CPU build: (a refusal made up by the test)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["smollm2-135m-q4f32_asym"]
    assert (out / "smollm2-135m-q4f32_asym" / "webslm-manifest.json").is_file()

    cpu = tmp_path / "cpu"
    code = main(["build", "smollm2-135m", "--q4f32", "--backend", "cpu", "--source", str(source),
                 "--out", str(cpu), *shape])
    err = capsys.readouterr().err
    assert code == 2
    assert "ONNX exporter cannot handle the architecture LlamaForCausalLM" in err
    assert "webslm lacks llama.cpp's layout of LlamaForCausalLM" in err
    assert "--backend webgpu" in err
    assert not cpu.exists() or not list(cpu.iterdir())
