"""`webslm bench --profile`: what each phase of a real WebLLM run costs a GPU, counted in
headless Chromium (web/bench/profile.js), and set against the compiled model's own list of
kernel calls (the build manifest's `kernel_calls`).

Dispatches are counted exactly. Bytes are modeled from the buffers each dispatch binds
(read-only bindings as read, writable ones as written):
- a weight buffer (written from the weight shards at load) counts its whole size, except
  in `embed`'s kernels, a gather, which read one row per token;
- a KV cache page buffer (the one buffer per layer the cache's kernels bind, all of one
  size) counts the positions in use at that step when bound read-only (attention reads
  keys and values up to the current position) and the step's tokens when writable (their
  new keys and values);
- buffers sized for a whole prefill chunk (the KV cache's scratch, and the prefill
  function's planned activations) count the share the step's tokens fill;
- any other buffer counts its whole bound size, an upper bound (a tensor placed in a larger
  planned storage buffer counts at the storage's size).
"""

from __future__ import annotations

import collections
import json
import math
import re
from typing import Callable

from webslm.artifacts.files import CHAT_CONFIG
from webslm.artifacts.manifest import read_manifest
from webslm.bench.chromium import WEBGPU_LABELS, chromium_page, run_bench_page
from webslm.bench.roofline import KV_BYTES, build_kv_dtype
from webslm.bench.runner import BenchRequest, find_artifact, prompts, usable_contexts
from webslm.bench.server import PAGE_URL, bench_app, running
from webslm.errors import WebslmError
from webslm.source.config import head_dim as config_head_dim

SAMPLERS = ("softmax_with_temperature", "argsort_probs", "sample_with_top_p",
            "apply_penalty_inplace", "apply_logit_bias_inplace", "apply_bitmask_inplace")


def kernel_function(entry: str) -> str:
    """TVM names a PrimFunc's WGSL entry point NAME_kernel (NAME_kernel_N for more kernels)."""
    return re.sub(r"_kernel(_\d+)?$", "", entry)


def run_profile(req: BenchRequest, say: Callable[[str], None] = print) -> dict:
    artifact = find_artifact(req.target, req.dist, req.gpu)
    manifest = read_manifest(artifact)
    if "kernel_calls" not in manifest["build"]:
        raise WebslmError(f"{artifact} records no kernel calls (built before the profile existed)",
                          "rebuild it with this version of webslm")
    chat = json.loads((artifact / CHAT_CONFIG).read_text())
    (context,) = usable_contexts(req.contexts[:1], manifest["build"]["context_window"],
                                 req.new_tokens, say)
    ids, _ = prompts(artifact, [context])
    app = bench_app([artifact], None)
    model = app.state.models[0]
    record = model.webllm_record()
    log: list[str] = []
    with running(app) as base:
        cfg = {"model_id": model.id, "model_url": base + record["model"],
               "lib_url": base + record["model_lib"],
               "required_features": record.get("required_features"),
               "webllm_url": base + "vendor/web-llm/index.js",
               "prompt_ids": ids, "new_tokens": req.new_tokens}
        say(f"profiling webllm ({WEBGPU_LABELS[req.webgpu]}): {context} prompt tokens, "
            f"{req.new_tokens} decoded, greedy and at temperature 0.7 / top-p 0.9")
        with chromium_page(base + PAGE_URL, req.gpu, log, software=req.software) as page:
            result = run_bench_page(page, "webslmProfile", cfg, req.timeout_s, "the profile",
                                    "pass a larger --timeout or fewer --new-tokens", log)
    if result.get("error"):
        raise WebslmError(f"the profile failed in the browser: {result['error'].splitlines()[0]}",
                          "browser log:\n" + "\n".join(log[-20:] + [result["error"]]))
    return {"model": model.id, "artifact": str(artifact), "gpu": req.gpu, "webgpu": req.webgpu,
            "quantization": manifest["build"]["quantization"],
            "param_bytes": manifest["build"]["param_bytes"],
            "prefill_chunk": manifest["build"]["prefill_chunk"],
            "kernel_calls": manifest["build"]["kernel_calls"],
            "model_config": chat["model_config"], "toolchain": manifest.get("toolchain"),
            "context": context, "new_tokens": req.new_tokens, **result}


def expected_dispatches(kernel_calls: dict[str, list[str]]) -> dict:
    """Per decoded token, from the compiled functions WebLLM calls: embed + decode (each
    PrimFunc call one dispatch; each KV cache attention call runs the cache's own kernels,
    counted per call), and the sampler (softmax_with_temperature, argsort_probs,
    sample_with_top_p: WebLLM 0.2.86 samples on the GPU at every temperature, clamping 0 to
    1e-6)."""
    forward = kernel_calls["embed"] + kernel_calls["decode"]
    sampler = [k for f in SAMPLERS[:3] for k in kernel_calls[f]]
    return {"model_kernels": collections.Counter(k for k in forward if not k.startswith("packed:")),
            "attention_calls": sum(map(is_attention_call, forward)),
            "sampler_kernels": collections.Counter(sampler)}


def is_attention_call(call: str) -> bool:
    """A KV cache call that runs the cache's kernels (attention_with_fused_qkv, self_ or
    cross_attention), not one that only reads its state on the host
    (get_query_positions, which a model that rotates q and k itself calls once a step)."""
    prefix = "packed:vm.builtin.attention_kv_cache_"
    return call.startswith(prefix) and "attention" in call[len(prefix):]


def kernels_between_attention(calls: list[str]) -> int | None:
    """The model's own kernels between two attention calls in a compiled function's call list
    (the most common gap): a layer's, whatever its kernels are named (a K-quant build's layers
    call differently named GEMVs where their grids differ, and Gemma 3's sliding and global
    layers differently named qkv kernels). None with fewer than two calls."""
    return most_common_gap([("boundary" if is_attention_call(c) else
                             "skip" if c.startswith("packed:") else "count") for c in calls])


def most_common_gap(marks: list[str]) -> int | None:
    """marks: "boundary", "count" or "skip" per item; the most common number of "count" items
    between two runs of boundaries (consecutive boundaries are one run). None without two."""
    gaps, run, seen, last = collections.Counter(), 0, False, None
    for mark in marks:
        if mark == "boundary":
            if seen and last != "boundary":
                gaps[run] += 1
            seen, run = True, 0
        elif mark == "count":
            run += 1
        if mark != "skip":
            last = mark
    return gaps.most_common(1)[0][0] if gaps else None


def per_layer_share(count: int, layers: int) -> int:
    """A kernel's runs a token as runs a layer, to the nearest (a half down): one that runs in
    all layers but the first (Gemma 3's qkv GEMV with the previous layer's norms) is a
    layer's, one that runs once a token is not."""
    return (2 * count + layers - 1) // (2 * layers)


# The KV cache's own kernels per attention call in WebLLM 0.2.86 (rotary, append, attention),
# as `webslm bench --profile` measured them on an f32 build.
KV_CACHE_KERNELS = 3


def dispatches_per_token(kernel_calls: dict[str, list[str]],
                         kv_kernels: int = KV_CACHE_KERNELS) -> int:
    """Dispatches per decoded token, from a build's compiled functions alone (no browser)."""
    want = expected_dispatches(kernel_calls)
    return (sum(want["model_kernels"].values()) + sum(want["sampler_kernels"].values())
            + kv_kernels * want["attention_calls"])


def _kv_page_buffers(phases: list[dict], model_fns: set[str], weights: set[int],
                     layers: int) -> set[int]:
    """The KV cache's page buffers: bound by the cache's own kernels, one per layer, all of
    one size (the largest such group)."""
    by_size = collections.defaultdict(set)
    for p in phases:
        for d in p["dispatches"]:
            if kernel_function(d["kernel"]) in model_fns:
                continue
            for b in d["buffers"]:
                if b["id"] not in weights and b["access"] != "uniform":
                    by_size[b["size"]].add(b["id"])
    sizes = [s for s, ids in by_size.items() if len(ids) == layers]
    return by_size[max(sizes)] if sizes else set()


def summarize_phases(raw: dict) -> list[dict]:
    """Per recorded call: dispatches (forward, sampling, per layer), kernels by name with their
    counts and modeled bytes, and the floor (weights + KV cache read)."""
    mc = raw["model_config"]
    layers = mc["num_hidden_layers"]
    head_dim = config_head_dim(mc)
    kv_dtype = build_kv_dtype(raw["quantization"])
    kv_position_layer = 2 * mc["num_key_value_heads"] * head_dim * KV_BYTES[kv_dtype]
    calls = raw["kernel_calls"]
    called = {k for ks in calls.values() for k in ks}
    sampler_fns = {k for f in SAMPLERS for k in calls.get(f, [])}
    gathers = set(calls["embed"])
    weights = set(raw["weight_buffers"])
    pages = _kv_page_buffers(raw["phases"], called, weights, layers)
    out = []
    position = 0
    for p in raw["phases"]:
        position = p["tokens"] if p["phase"] == "prefill" else position + 1
        kernels: dict[str, dict] = {}
        weight_ids = set()
        for d in p["dispatches"]:
            fn = kernel_function(d["kernel"])
            role = ("sampling" if fn in sampler_fns else "model" if fn in called else "kv cache")
            k = kernels.setdefault(d["kernel"], {"role": role, "count": 0, "read": 0, "written": 0,
                                                 "workgroups": 0})
            k["count"] += 1
            k["workgroups"] += d["workgroups"] or 0
            bound = {(b["id"], b["access"]): b for b in d["buffers"]}  # once, if bound twice
            for b in bound.values():
                if b["access"] == "uniform":
                    continue
                if b["id"] in pages:
                    size = (position if b["access"] == "read-only-storage" else p["tokens"]) \
                        * kv_position_layer
                elif b["id"] in weights:
                    weight_ids.add(b["id"])
                    size = b["size"] * (p["tokens"] / mc["vocab_size"] if fn in gathers else 1)
                elif role == "kv cache" or (role == "model" and p["phase"] == "prefill"):
                    size = b["size"] * min(1, p["tokens"] / raw["prefill_chunk"])
                else:
                    size = b["size"]
                k["read" if b["access"] == "read-only-storage" else "written"] += round(size)
        forward = sum(k["count"] for k in kernels.values() if k["role"] != "sampling")
        # the cache's kernels as one group: a sliding-window model's attention runs one
        # kernel on its sliding layers and another on its global ones (15 + 3 for Gemma 3)
        roles = [kernels[d["kernel"]]["role"] for d in p["dispatches"]]
        own = most_common_gap([{"kv cache": "boundary", "model": "count"}.get(r, "skip")
                               for r in roles])
        if own is None:
            own = sum(per_layer_share(k["count"], layers) for k in kernels.values()
                      if k["role"] == "model")
        per_layer = own + sum(k["count"] for k in kernels.values()
                              if k["role"] == "kv cache") // layers
        weight_bytes = _unique_weight_bytes(p["dispatches"], weight_ids)
        out.append({
            "phase": p["phase"], "sampling": p["sampling"], "tokens": p["tokens"],
            "chunks": math.ceil(p["tokens"] / raw["prefill_chunk"]),
            "positions": position, "seconds": p["seconds"],
            "dispatches": len(p["dispatches"]), "forward_dispatches": forward,
            "sampling_dispatches": len(p["dispatches"]) - forward,
            "dispatches_per_layer": per_layer,
            "outside_layers": len(p["dispatches"]) - per_layer * layers,
            "modeled_bytes": sum(k["read"] + k["written"] for k in kernels.values()),
            "floor_bytes": weight_bytes + position * layers * kv_position_layer,
            "weight_bytes": weight_bytes,
            "kernels": dict(sorted(kernels.items(), key=lambda kv: -(kv[1]["read"] + kv[1]["written"]))),
        })
    return out


def _unique_weight_bytes(dispatches: list[dict], weight_ids: set[int]) -> int:
    sizes = {}
    for d in dispatches:
        for b in d["buffers"]:
            if b["id"] in weight_ids:
                sizes[b["id"]] = b["size"]
    return sum(sizes.values())
