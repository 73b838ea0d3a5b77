"""Every architecture with a tiny test model (Qwen2, Phi-3, ...; Llama is the real SmolLM2
elsewhere) in the unmodified WebLLM engine: a tiny random-weight build of each, made by
`webslm build` from an HF folder with a real tokenizer, in q4f32 and q4f16 (Qwen3 also in
q0f16: its plain f16 matmul is the one kernel q4f16 lacks), gives on the dawn rig (Node, Dawn over lavapipe: WebGPU WITH shader-f16) the greedy token ids of its CPU
twin, the same stored weights in f32 arithmetic. So the f16 kernels execute; an f16 run may
leave the twin's path only at a near-tie (tests/browser/greedy_agreement.py says how near).

A prompt longer than one prefill chunk makes a later chunk merge its attention over its own
tokens with its attention over the cache (compile/merge_state.py; TVM's merge kernel raced).
The tiny Phi-3 keeps a short prompt: it has LongRoPE with a 16-token original context, and
its run crosses from the short to the long factors while it decodes. The tiny Gemma 3's run
is longer than its sliding layers' cache holds (a 16-token window and 16-token chunks: 64
positions and TVM's spare page), so it completes only if that windowed cache frees what
slides out; its prompt is three chunks, the later ones reading the window across the one
before.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from webslm.artifacts.manifest import read_manifest
from webslm.cli import main
from webslm.compile.cpu_model import CpuModel
from webslm.compile.spec import WEBLLM_PAGE_SIZE, BuildShape, window_cache_tokens
from webslm.verify.twin import load_cpu_twin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
from tiny_sources import TINY, save_source  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SHAPE = BuildShape(256, 32)
PROMPT = "The lighthouse keeper climbed the spiral stairs at dusk, counting every step."
CASES = {name: arch.model_type for name, arch in TINY.items()}  # models.yaml name -> model_type
SCHEMES = ("q4f32_1", "q4f16_1")
Q0F16 = "qwen3-0.6b"
RUNS = {"phi-3.5-mini": (12, 16), "gemma-3-270m": (40, 48)}  # (prompt, generated) tokens
RUN = (40, 16)  # the others: chunks of 32 and 8


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_builds_in_webllm_match_the_cpu_twin(name, tmp_path):
    from greedy_agreement import F16_TIE, agreement
    from harness import run_webllm
    from tokenizers import Tokenizer

    source, _ = save_source(name, tmp_path)
    dist = tmp_path / "dist"
    schemes = SCHEMES + (("q0f16",) if name == Q0F16 else ())
    assert main(["build", name, "--quantization", ",".join(schemes), "--backend", "webgpu",
                 "--source", str(source), "--out", str(dist),
                 "--context-window", str(SHAPE.context_window),
                 "--prefill-chunk", str(SHAPE.prefill_chunk)]) == 0
    failures = []
    for scheme in schemes:
        model_id = f"{name}-{scheme}"
        artifact = dist / model_id
        chat = json.loads((artifact / "mlc-chat-config.json").read_text())
        assert (chat["model_type"], chat["sliding_window_size"]) == (CASES[name], -1)
        record = read_manifest(artifact)["webllm_model_record"]
        n_prompt, n_tokens = RUNS.get(name, RUN)
        prompt_ids = Tokenizer.from_file(str(artifact / "tokenizer.json")).encode(
            " ".join([PROMPT] * 4)).ids[:n_prompt]
        if name == "gemma-3-270m":
            window = json.loads((source / "config.json").read_text())["sliding_window"]
            held = window_cache_tokens(window, 1, chat["prefill_chunk_size"], WEBLLM_PAGE_SIZE)
            assert n_prompt + n_tokens > held + WEBLLM_PAGE_SIZE
        result = run_webllm(artifact, artifact / f"{model_id}-webgpu.wasm", model_id, prompt=None,
                            token_ids_prompt=prompt_ids, n_tokens=n_tokens, timeout=600,
                            rig="dawn", required_features=record.get("required_features"))
        assert result["error"] is None, f"{model_id}: " + "\n".join(result["log"][-30:])

        twin = load_cpu_twin(artifact)
        found = agreement(CpuModel(twin.compiled, twin.stored), prompt_ids, result["token_ids"])
        print(f"{model_id} on dawn: {found}")
        exact = "f32" in scheme  # f32 kernels: the same arithmetic up to summation order
        if found.gap is not None and (exact or found.gap > F16_TIE):
            failures.append(f"{model_id}: {found}")
    assert not failures, failures
