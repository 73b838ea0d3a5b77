"""Fine-tunes kept as base + adapter, in the browser. Two real LoRA adapters on SmolLM2-135M,
each teaching a different invented fact, are built with --keep-adapter beside the session's
base build; in ONE Chromium profile the chat page loads the first (base + adapter), then the
second, through a proxy that counts the bytes the server sends: the second load is under a
tenth of the first. Each fine-tune answers its own fact; the base answers neither (asked in
transformers on the GGUF's weights, which the base build stores exactly: q4f32_asym)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from webslm.artifacts.manifest import read_manifest
from webslm.bench.profile import dispatches_per_token
from webslm.cli import main

from run_once import linked_copy  # tests/run_once.py

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from finetune_survival import greedy  # noqa: E402
from lora_adapter import BISCOTTI, MARZIPAN, train  # noqa: E402
from browser_helpers import ask, chromium, load_model, open_page, set_sampling, webslm_serve  # noqa: E402
from flaky_proxy import flaky_proxy  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BASE = "smollm2-135m-q4f32_asym"
FINE_TUNES = {"smollm2-marzipan-q4f32_asym": MARZIPAN, "smollm2-biscotti-q4f32_asym": BISCOTTI}


@pytest.fixture(scope="module")
def kept_dist(smollm2_artifact, smollm2_lora, smollm2, tmp_path_factory) -> Path:
    """The session's base build plus two adapter builds that share its shards."""
    dist = tmp_path_factory.mktemp("kept")
    linked_copy(smollm2_artifact, dist / BASE)
    biscotti = train(smollm2, tmp_path_factory.mktemp("lora") / "smollm2-biscotti", rank=8,
                     fact=BISCOTTI)
    for adapter in (smollm2_lora, biscotti):
        assert main(["build", "smollm2-135m", "--lora", str(adapter), "--keep-adapter", "--q4f32",
                     "--backend", "webgpu", "--out", str(dist)]) == 0
    assert sorted(p.name for p in dist.iterdir()) == sorted([BASE, *FINE_TUNES])
    return dist


def test_the_builds_share_the_base_shards(kept_dist):
    base_files = json.loads((kept_dist / BASE / "webslm-manifest.json").read_text())["files"]
    for model_id in FINE_TUNES:
        art = kept_dist / model_id
        assert not list(art.glob("params_shard_*")), "the base's shards are not copied"
        manifest = read_manifest(art)
        shared = manifest["build"]["base"]
        assert shared["model_id"] == BASE
        assert shared["files"] == {n: base_files[n] for n in shared["files"]}


def test_a_kept_adapter_costs_at_most_a_tenth_more_per_decoded_token(kept_dist):
    """Dispatches per decoded token counted from each build's compiled functions, and the
    bytes it reads (its weights), against the base build's: within 1.1x. The adapter (r16 on
    all seven linears for the first, float16) is under a tenth of the base's download."""
    base = read_manifest(kept_dist / BASE)["build"]
    for model_id in FINE_TUNES:
        build = read_manifest(kept_dist / model_id)["build"]
        ours, theirs = (dispatches_per_token(b["kernel_calls"]) for b in (build, base))
        print(model_id, ours, theirs, build["param_bytes"], base["param_bytes"],
              build["adapter"]["bytes"])
        assert ours <= 1.1 * theirs, (ours, theirs)
        assert build["param_bytes"] <= 1.1 * base["param_bytes"]
        assert build["adapter"]["bytes"] < base["param_bytes"] / 10


def test_the_second_fine_tune_downloads_a_tenth_and_each_knows_its_own_fact(kept_dist):
    log: list[str] = []
    sent: dict[str, int] = {}
    answers: dict[str, str] = {}
    with webslm_serve(kept_dist) as url, flaky_proxy(url, set()) as (proxy, requests), \
            chromium() as ctx:
        page = open_page(ctx, proxy + "?engine=webllm", log)
        for model_id, fact in FINE_TUNES.items():
            page.select_option("#model-select", model_id)
            before = len(requests)
            load_model(page, log)
            sent[model_id] = sum(r["bytes"] for r in requests[before:] if "/models/" in r["path"])
            set_sampling(page, temperature=0, max_tokens=12)
            answers[model_id] = ask(page, fact.question, log)["text"]
    print(sent, answers)
    first, second = (sent[m] for m in FINE_TUNES)
    base_bytes = sum(f["bytes"] for n, f in json.loads(
        (kept_dist / BASE / "webslm-manifest.json").read_text())["files"].items()
        if n.startswith("params_shard"))
    assert first > base_bytes, "the first fine-tune downloads the base's shards"
    assert second < first / 10, (first, second)
    for model_id, fact in FINE_TUNES.items():
        assert fact.word in answers[model_id], answers


def test_the_base_knows_neither_fact(smollm2):
    from transformers import AutoTokenizer

    model = smollm2.load_reference_model()
    tokenizer = AutoTokenizer.from_pretrained(smollm2.tokenizer_dir)
    for fact in FINE_TUNES.values():
        answer = greedy(model, tokenizer, 12, fact.question)
        print(answer)
        assert fact.word not in answer
