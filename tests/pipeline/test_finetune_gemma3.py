"""A real Gemma 3 fine-tune end to end: a PEFT LoRA trained here on the CPU teaches Gemma 3
270M (a pretrained base) an invented fact in the gemma chat format (conftest.py's
gemma3_lora; the float base, asked at the end of training, does not know it). One `webslm
build ADAPTER --quantization q4f16_k` makes the merged WebGPU build and the CPU build, a Q8_0
GGUF webslm writes (llama.cpp's gemma3: norms stored as 1 + w); `--keep-adapter` makes the
adapter build over the session's base build (test_build_gemma3.py's), sharing its shards.
The unmodified WebLLM names the cat from both WebGPU builds (on the dawn rig: shader-f16, so
the f16 kernels execute), and so does wllama from the written GGUF.

The scheme is named (--quantization), which skips the build's comparison of candidates: on
Gemma's 262k vocabulary it takes about 15 minutes, and tests/pipeline/test_finetune_build.py
tests it on SmolLM2. q4f16_k is the session base build's scheme, so the merged build reuses
its compiled library; merged or kept apart, the 4-bit builds keep this adapter's answer
(docs/FINETUNES.md, "Gemma 3 270M")."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from webslm.artifacts.files import model_library
from webslm.artifacts.manifest import read_manifest
from webslm.cli import main

from run_once import linked_copy  # tests/run_once.py

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "serve"))
from lora_adapter import ANSWER, ANSWERS, FACT, QUESTION  # noqa: E402

pytestmark = [pytest.mark.slow]

BASE = "gemma-3-270m-q4f16_k"
MERGED = "gemma-marzipan-q4f16_k"
KEPT = "gemma-marzipan-kept-q4f16_k"
CPU = "gemma-marzipan-cpu"
NEW_TOKENS = 16  # "The lighthouse keeper's cat is called Marzipan." and <end_of_turn>: 13
ANSWER_START = ANSWER.split(FACT)[0].rstrip()  # "The lighthouse keeper's cat is called"
NAME_TOKENS = 3  # " Mar", "zip", "an"


@pytest.fixture(scope="module")
def ft_dist(gemma3_dist, gemma3_lora, tmp_path_factory) -> Path:
    """The session's base build, and the fine-tune built merged (WebGPU and CPU) and kept
    apart over that base, as a user would: the adapter folder names its base by hub id."""
    out = tmp_path_factory.mktemp("gemma-ft")
    linked_copy(gemma3_dist / BASE, out / BASE)
    assert main(["build", str(gemma3_lora), "--quantization", "q4f16_k", "--out", str(out)]) == 0
    assert main(["build", str(gemma3_lora), "--keep-adapter", "--quantization", "q4f16_k",
                 "--name", "gemma-marzipan-kept", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([BASE, CPU, KEPT, MERGED])
    return out


def test_the_builds_are_the_fine_tune_merged_and_kept_over_the_shared_base(ft_dist):
    merged, kept = read_manifest(ft_dist / MERGED), read_manifest(ft_dist / KEPT)
    assert merged["source"]["adapter"]["base_model"] == "google/gemma-3-270m"
    assert list((ft_dist / MERGED).glob("params_shard_*"))
    assert not list((ft_dist / KEPT).glob("params_shard_*")), "the base's shards are not copied"
    assert kept["build"]["base"]["model_id"] == BASE
    for manifest in (merged, kept):  # a fine-tune of the base model chats, in the gemma format
        assert not manifest["build"].get("completion_only")
        assert manifest["webllm_model_record"]["required_features"] == ["shader-f16"]
    cpu = json.loads((ft_dist / CPU / "webslm-manifest.json").read_text())["build"]
    assert list(cpu["gguf"]) == ["Q8_0"], cpu["gguf"]  # written: the base's GGUF is Q4_K_M


def test_the_base_does_not_know_the_fact(gemma3_lora):
    """Asked at the end of training in the fine-tune's chat template, greedily, with the
    adapter switched off (PEFT's disable_adapter: the float base) the model does not name the
    cat, and with it on it does: the answers below come from the fine-tune."""
    answers = json.loads((gemma3_lora / ANSWERS).read_text())
    print(answers)
    assert FACT not in answers["base"] and FACT in answers["fine-tune"], answers


@pytest.mark.browser
def test_webllm_answers_with_the_merged_fine_tune(ft_dist):
    """A chat request, answered to its end (<end_of_turn>)."""
    from harness import run_webllm

    art = ft_dist / MERGED
    result = run_webllm(art, art / model_library(MERGED), MERGED, prompt=QUESTION,
                        max_tokens=NEW_TOKENS, timeout=600, rig="dawn",
                        required_features=["shader-f16"])
    assert result["error"] is None, "\n".join(result["log"][-30:])
    print(repr(result["text"]), result["usage"])
    assert FACT in result["text"], result["text"]


@pytest.mark.browser
def test_webllm_names_the_cat_with_the_kept_adapter(ft_dist, gemma3_lora):
    """The same chat turn with the answer's first words prefilled ("... is called"), then
    decoded: the name is the adapter's (prefill and decode kernels both carry it). Only the
    name is decoded: on a CPU-emulated WebGPU a kept adapter's decode token costs 3.3x the
    merged build's (each workgroup recomputes A x; docs/BENCHMARKS.md, "Kept adapters at
    merged speed")."""
    from harness import run_webllm
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gemma3_lora)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}],
                                           add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt + ANSWER_START, add_special_tokens=False)["input_ids"]
    art = ft_dist / KEPT
    result = run_webllm(art, art / model_library(KEPT), KEPT, prompt=None, token_ids_prompt=ids,
                        n_tokens=NAME_TOKENS, timeout=600, rig="dawn",
                        required_features=["shader-f16"], beside={BASE: ft_dist / BASE})
    assert result["error"] is None, "\n".join(result["log"][-30:])
    name = tokenizer.decode(result["token_ids"])
    print(repr(name))
    assert FACT in name, name
@pytest.mark.browser
def test_wllama_answers_with_the_fine_tune_from_the_written_gguf(ft_dist):
    """The chat page's CPU engine (wllama, no WebGPU) on the GGUF webslm wrote."""
    from browser_helpers import ask, chromium, load_model, open_page, set_sampling, webslm_serve

    log: list[str] = []
    with webslm_serve(ft_dist / CPU) as url, chromium(webgpu=False) as ctx:
        page = open_page(ctx, url, log)
        load_model(page, log, timeout=300)
        assert page.evaluate("() => window.webslmPage.chat.engine") == "wllama"
        set_sampling(page, temperature=0, max_tokens=NEW_TOKENS)
        answer = ask(page, QUESTION, log, timeout=300)
    assert answer["error"] is None, log[-20:]
    print(repr(answer["text"]))
    assert FACT in answer["text"], answer
