"""Drive the benchmark: pick the artifact (and the GGUF for wllama), serve them, run every
engine in a fresh headless Chromium per run, and return the raw runs for report.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

from webslm.artifacts.files import (CHAT_CONFIG, MANIFEST, cpu_build_id, model_folder,
                                    onnx_data_filename, onnx_filename, webgpu_build_id)
from webslm.artifacts.gguf_file import CPU_GGUF
from webslm.artifacts.manifest import read_manifest
from webslm.bench.chromium import WEBGPU_LABELS, chromium_page, run_bench_page, webgpu_name
from webslm.bench.server import PAGE_URL, bench_app, gguf_url, running
from webslm.errors import WebslmError
from webslm.quantize.schemes import SCHEMES
from webslm.source.gguf import gguf_shards
from webslm.verify import EVAL_TEXT

ENGINES = ("webllm", "wllama", "transformersjs")


@dataclasses.dataclass
class BenchRequest:
    target: str                        # a model name (looked up in --dist) or an artifact dir
    engines: list[str]
    contexts: list[int]
    new_tokens: int = 32
    runs: int = 3
    gpu: bool = False
    software: str = "swiftshader"      # without --gpu: the CPU WebGPU (bench/chromium.py)
    dist: Path = Path("dist")
    gguf: Path | None = None
    threads: int | None = None         # WASM threads (default: each engine's own choice)
    timeout_s: float = 1800
    onnx_dtype: str = "q8"             # the ONNX model transformers.js runs
    onnx_device: str = "wasm"          # transformers.js on "wasm" (the CPU) or "webgpu"
    onnx_plain_wasm: bool = True       # False: transformers.js's default (asyncify) WASM build

    @property
    def webgpu(self) -> str:
        """The WebGPU it runs on: gpu, swiftshader or lavapipe."""
        return webgpu_name(self.gpu, self.software)


def find_artifact(target: str, dist: Path, gpu: bool) -> Path:
    """An artifact dir as given, else NAME's build in dist: f16 first on a GPU, f32 on a
    software WebGPU (SwiftShader has no shader-f16; lavapipe's numbers stay comparable)."""
    path = Path(target)
    if (path / MANIFEST).is_file():
        return path
    order = bench_order(gpu)
    for quant in order:
        if (dist / webgpu_build_id(target, quant) / MANIFEST).is_file():
            return dist / webgpu_build_id(target, quant)
    raise WebslmError(f"no {'/'.join(order)} build of {target!r} in {dist}",
                      f"build it first: webslm build {target} --out {dist} (or pass an "
                      "artifact directory)")


def bench_order(gpu: bool) -> list[str]:
    """find_artifact's order: by bench_rank, the f16 schemes first, and only on a GPU."""
    ranked = [s for s in SCHEMES.values()
              if s.bench_rank is not None and (gpu or not s.needs_shader_f16)]
    return [s.name for s in sorted(ranked, key=lambda s: (not s.needs_shader_f16, s.bench_rank))]


def _cpu_build(manifest: dict, dist: Path, artifact: Path) -> tuple[Path, dict] | None:
    """The same model's CPU build (ONNX + GGUF) and its manifest: next to the artifact, or
    in dist."""
    name = cpu_build_id(manifest["build"]["model"])
    for folder in (artifact.parent / name, dist / name):
        if (folder / MANIFEST).is_file():
            return folder, read_manifest(folder)
    return None


def find_onnx(manifest: dict, dist: Path, artifact: Path, dtype: str) -> Path:
    """The ONNX model of the same model's CPU build."""
    found = _cpu_build(manifest, dist, artifact)
    if found is None:
        name = cpu_build_id(manifest["build"]["model"])
        raise WebslmError(f"no CPU build {name} next to {artifact} or in {dist}",
                          f"build it: webslm build {manifest['build']['model']} --backend cpu "
                          f"--out {artifact.parent}")
    folder, cpu = found
    if dtype not in cpu["build"].get("dtypes", []):
        raise WebslmError(f"{folder} has no {dtype} model",
                          "rebuild it with the matching flag, or pass --onnx-dtype")
    return folder


def find_gguf(manifest: dict, given: Path | None, dist: Path, artifact: Path) -> Path:
    """The GGUF wllama runs: --gguf, else the one the model's CPU build carries for the CPU
    engine (CPU_GGUF, what the pages run there), else a GGUF source (the same weights)."""
    if given is not None:
        if not Path(given).is_file():
            raise WebslmError(f"{given} does not exist", "pass an existing .gguf file to --gguf")
        return Path(given)
    found = _cpu_build(manifest, dist, artifact)
    if found is not None and CPU_GGUF in found[1]["build"].get("gguf", {}):
        return found[0] / found[1]["build"]["gguf"][CPU_GGUF]["file"]
    from webslm.source.packaged import resolve_spec

    spec = resolve_spec(manifest["source"]["spec"])
    if spec.endswith(".gguf") and Path(spec).is_file():
        return Path(spec)
    raise WebslmError(f"the build's source {manifest['source']['spec']} is not a GGUF, which "
                      "wllama needs", "pass --gguf FILE made from the same weights, or drop "
                      "wllama from --engines")


def prompts(artifact: Path, contexts: list[int]) -> tuple[list[int], list[str]]:
    """The first max(contexts) tokens of a fixed text (repeated if short), the same ids for
    every engine, and each context's prefix decoded back to text for engines that need text."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    ids = tokenizer.encode(EVAL_TEXT.read_text(encoding="utf-8"), add_special_tokens=False).ids
    while len(ids) < max(contexts):
        ids = ids + ids
    ids = ids[:max(contexts)]
    return ids, [tokenizer.decode(ids[:c], skip_special_tokens=False) for c in contexts]


def usable_contexts(contexts: list[int], window: int, new_tokens: int,
                    say: Callable[[str], None]) -> list[int]:
    keep = [c for c in contexts if c + new_tokens <= window]
    for c in sorted(set(contexts) - set(keep)):
        say(f"skipping context {c}: {c} + {new_tokens} new tokens exceed the build's "
            f"{window}-token window")
    if not keep:
        raise WebslmError(f"no context length fits the {window}-token window",
                          "pass smaller --contexts or fewer --new-tokens")
    return keep


def run_bench(req: BenchRequest, say: Callable[[str], None] = print) -> dict:
    if req.new_tokens < 1 or req.runs < 1:
        raise WebslmError(f"--new-tokens {req.new_tokens} and --runs {req.runs} must be at least 1",
                          "pass positive values (decode speed needs --new-tokens 2 or more)")
    for engine in req.engines:
        if engine not in ENGINES:
            raise WebslmError(f"unknown engine {engine!r}", f"choose from {', '.join(ENGINES)}")
    artifact = find_artifact(req.target, req.dist, req.gpu)
    manifest = read_manifest(artifact)
    chat = json.loads((artifact / CHAT_CONFIG).read_text())
    contexts = usable_contexts(req.contexts, manifest["build"]["context_window"],
                               req.new_tokens, say)
    gguf = find_gguf(manifest, req.gguf, req.dist, artifact) if "wllama" in req.engines else None
    onnx = (find_onnx(manifest, req.dist, artifact, req.onnx_dtype)
            if "transformersjs" in req.engines else None)
    ids, texts = prompts(artifact, contexts)
    app = bench_app([artifact, *([onnx] if onnx else [])], gguf)
    model = app.state.models[0]
    record = model.webllm_record()
    # the CPU build's file table: the transformers.js worker checks every file against it
    onnx_files = next(m.files() for m in app.state.models if m.dir == onnx.resolve()) if onnx else None
    runs = []
    with running(app) as base:
        page_url = base + PAGE_URL
        common = {
            "model_id": model.id, "model_url": base + record["model"],
            "lib_url": base + record["model_lib"],
            "required_features": record.get("required_features"),
            "webllm_url": base + "vendor/web-llm/index.js",
            "wllama_url": base + "bench/wllama/index.js",
            "wllama_wasm_url": base + "bench/wllama/wasm/wllama.wasm",
            "gguf_url": gguf and base + gguf_url(gguf), "n_ctx": max(contexts) + req.new_tokens + 16,
            "threads": req.threads, "prompt_ids": ids, "prompt_texts": texts, "contexts": contexts,
            "new_tokens": req.new_tokens,
            "tjs_client_url": base + "static/tjs-client.js",
            "onnx": onnx and {"id": onnx.name, "url": f"{base}models/{model_folder(onnx.name)}",
                             "files": onnx_files, "dtype": req.onnx_dtype, "device": req.onnx_device, "plain": req.onnx_plain_wasm},
        }
        for engine in req.engines:
            for run in range(req.runs):
                say(f"{engine}: run {run + 1}/{req.runs} ({WEBGPU_LABELS[req.webgpu]})")
                cfg = {**common, "engine": engine, "measure_bandwidth": not runs}
                runs.append({"run": run, **_one_run(page_url, cfg, req)})
    return {
        "model": model.id, "artifact": str(artifact), "quantization": model.summary()["quantization"],
        "gpu": req.gpu, "webgpu": req.webgpu, "contexts": contexts, "new_tokens": req.new_tokens,
        "weight_bytes": {"webllm": manifest["build"]["param_bytes"],
                         "wllama": sum(p.stat().st_size for p in gguf_shards(gguf)) if gguf else None,
                         "transformersjs": _onnx_weight_bytes(onnx, req.onnx_dtype)},
        "kv_dtypes": {"transformersjs": "float16" if "f16" in req.onnx_dtype else "float32"},
        "onnx": onnx and {"dtype": req.onnx_dtype, "device": req.onnx_device, "plain": req.onnx_plain_wasm},
        "model_config": chat["model_config"], "toolchain": manifest.get("toolchain"),
        "runs": runs,
    }


def _onnx_weight_bytes(onnx: Path | None, dtype: str) -> int | None:
    if onnx is None:
        return None
    return sum((onnx / "onnx" / name).stat().st_size
               for name in (onnx_filename(dtype), onnx_data_filename(dtype)))


def _one_run(url: str, cfg: dict, req: BenchRequest) -> dict:
    log: list[str] = []
    with chromium_page(url, req.gpu, log, software=req.software) as page:
        result = run_bench_page(page, "webslmBench", cfg, req.timeout_s, cfg["engine"],
                                "pass a larger --timeout, fewer --contexts or fewer --new-tokens", log)
    if result.get("error"):
        raise WebslmError(f"{cfg['engine']} failed in the browser: {result['error'].splitlines()[0]}",
                          "browser log:\n" + "\n".join(log[-20:] + [result["error"]]))
    return result
