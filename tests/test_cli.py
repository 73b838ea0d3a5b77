"""Bad input: each gets a clear message naming the problem and the fix, a non-zero exit,
and leaves nothing half-written."""

from __future__ import annotations

import json
import shutil

import pytest

from webslm.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_models_lists_the_registry(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    for name in ("smollm2-135m", "llama-3.2-1b", "qwen2.5-1.5b", "phi-3.5-mini"):
        assert name in out


def test_unknown_model_lists_known_ones(capsys, tmp_path):
    code, _, err = run(capsys, "build", "gpt-17", "--out", str(tmp_path))
    assert code == 2
    assert "unknown model 'gpt-17'" in err and "smollm2-135m" in err
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_without_force(capsys, tmp_path):
    existing = tmp_path / "smollm2-135m-q4f32_asym"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "build", "smollm2-135m", "--q4f32", "--out", str(tmp_path))
    assert code == 2 and "already exists" in err and "--force" in err
    assert (existing / "keep.txt").read_text() == "mine"


def test_unsupported_architecture_is_named(capsys, tmp_path, make_hf_dir):
    src = make_hf_dir()
    cfg = json.loads((src / "config.json").read_text())
    cfg["architectures"] = ["GPT2LMHeadModel"]
    (src / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "dist"
    code, _, err = run(capsys, "build", "smollm2-135m", "--q0f32", "--source", str(src),
                       "--out", str(out))
    assert code == 2
    assert "GPT2LMHeadModel" in err and "LlamaForCausalLM" in err
    assert not out.exists() or list(out.iterdir()) == []


def test_corrupt_weight_file_is_named(capsys, tmp_path, make_hf_dir):
    src = make_hf_dir()
    (src / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    out = tmp_path / "dist"
    code, _, err = run(capsys, "build", "smollm2-135m", "--q0f32", "--source", str(src),
                       "--out", str(out))
    assert code == 2 and "model.safetensors" in err
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_tokenizer_is_named(capsys, tmp_path, make_hf_dir):
    src = make_hf_dir()
    (src / "tokenizer.json").unlink()
    code, _, err = run(capsys, "build", "smollm2-135m", "--q0f32", "--source", str(src),
                       "--out", str(tmp_path / "dist"))
    assert code == 2 and "tokenizer" in err


def test_offline_without_local_source_explains_the_way_out(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code, _, err = run(capsys, "build", "llama-3.2-1b", "--q4f32", "--out", str(tmp_path / "d"))
    assert code == 2
    assert "--source" in err and "HF_HUB_OFFLINE" in err


def test_missing_emscripten_says_how_to_install(capsys, tmp_path, monkeypatch):
    python_dir = shutil.which("python3")
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = run(capsys, "build", "smollm2-135m", "--q4f32", "--out", str(tmp_path))
    assert python_dir  # the test itself still runs under the venv's interpreter
    assert code == 2 and "emscripten" in err and "apt-get install" in err
    assert list(tmp_path.iterdir()) == []


def test_verify_rejects_a_non_artifact(capsys, tmp_path):
    code, _, err = run(capsys, "verify", str(tmp_path))
    assert code == 2 and "webslm-manifest.json" in err


@pytest.mark.parametrize("flag", ["--q4f16", "--q4f32", "--q0f16", "--q0f32"])
def test_quantization_flags_parse(flag):
    from webslm.cli import make_parser

    args = make_parser().parse_args(["build", "smollm2-135m", flag])
    assert getattr(args, flag[2:])


@pytest.mark.parametrize("model, argv, expected", [
    ("smollm2-135m", ["--q4f16", "--q0f32"], ["q4f16_asym", "q0f32"]),  # models.yaml's own q4
    ("smollm2-135m", [], ["q4f16_asym", "q4f32_asym"]),
    ("llama-3.2-1b", ["--q4f32"], ["q4f32_1"]),
    ("smollm2-135m", ["--q4f32", "--quantization", "q4f32_1,q0f16"], ["q4f32_1", "q0f16"]),
])
def test_quantization_flags_pick_the_models_scheme(model, argv, expected):
    from webslm.cli import _quantizations, make_parser
    from webslm.registry import get_model

    args = make_parser().parse_args(["build", model, *argv])
    assert _quantizations(args, get_model(model)) == expected


def test_unknown_quantization_name_lists_the_known_ones(capsys, tmp_path):
    code, _, err = run(capsys, "build", "smollm2-135m", "--quantization", "q3f16_1",
                       "--out", str(tmp_path))
    assert code == 2 and "q4f16_asym" in err and not any(tmp_path.iterdir())
