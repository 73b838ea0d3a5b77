"""`webslm doctor`: every row, the exit status, and the install command for what is missing."""

from __future__ import annotations

import pytest

from webslm.cli import main
from webslm.compile.webruntime import toolchain


def doctor(capsys):
    code = main(["doctor"])
    return code, capsys.readouterr().out


@pytest.fixture(autouse=True)
def fresh_emcc_version():
    toolchain._emcc_version_line.cache_clear()
    yield
    toolchain._emcc_version_line.cache_clear()


def test_doctor_reports_every_need(capsys):
    code, out = doctor(capsys)
    for row in ("TVM", "Python packages", "emscripten", "cache root", "default model", "WebLLM",
                "transformers.js", "wllama", "Chromium", "Playwright"):
        assert f"  {row}  " in out, row
    assert "GiB free" in out
    last = out.strip().splitlines()[-1]
    assert code == (1 if "NOT ready" in last else 0) and last.startswith("webslm build: ")


def test_without_emcc_build_is_not_ready(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no emcc anywhere
    code, out = doctor(capsys)
    assert code == 1
    assert "fix: install Debian package emscripten: apt-get install emscripten" in out
    assert "NOT ready, missing emscripten" in out


def test_an_untested_emcc_only_warns(capsys, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "emcc"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'emcc (Emscripten gcc/clang-like replacement) 9.9.9 ()'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    code, out = doctor(capsys)
    assert "WARN     emscripten" in out and "emcc 9.9.9" in out and "tested: 3.1.6" in out
    assert "not compiled for this toolchain yet" in out
    assert "missing emscripten" not in out


def test_missing_engines_name_the_npm_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSLM_WEB_ROOT", str(tmp_path / "web"))
    code, out = doctor(capsys)
    assert "MISSING  WebLLM" in out and "fix: run `cd web && npm ci --ignore-scripts`" in out
    assert "WebLLM" not in out.strip().splitlines()[-1]  # serve needs it, build does not


def test_a_missing_python_dependency_gets_its_pip_command(capsys, monkeypatch):
    import importlib.metadata

    real = importlib.metadata.version

    def version(dist):
        if dist == "gguf":
            raise importlib.metadata.PackageNotFoundError(dist)
        return "0.0.1" if dist == "apache-tvm" else real(dist)

    monkeypatch.setattr(importlib.metadata, "version", version)
    code, out = doctor(capsys)
    assert code == 1
    assert "gguf not installed" in out and "fix: pip install 'gguf>=" in out
    assert "apache-tvm 0.0.1" in out and "fix: pip install 'apache-tvm==" in out
    assert "NOT ready, missing TVM, Python packages" in out
