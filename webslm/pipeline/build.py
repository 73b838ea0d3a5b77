"""`webslm build`: source -> (quantize, compile, link) -> one WebLLM artifact directory per
quantization, plus (backend cpu) one CPU build: the ONNX dtypes transformers.js loads and the
GGUF wllama runs. Each is written into a temporary directory and renamed into place only when
complete."""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path
from typing import Callable

from webslm.arch import find_architecture, published_config
from webslm.artifacts.chat_config import make_chat_config, write_chat_config
from webslm.artifacts.conv_templates import build_conv_template, completion_prefix
from webslm.artifacts.files import cpu_build_id, model_library, webgpu_build_id
from webslm.artifacts.manifest import model_record, vram_estimate_mb, write_manifest
from webslm.artifacts.tensor_cache import TensorCacheWriter, largest_tensor_bytes
from webslm.compile.compiler import compile_model, export_module
from webslm.compile.library_cache import find_library, store_library
from webslm.compile.library_key import library_key
from webslm.compile.lowering import webgpu_target
from webslm.compile.spec import DEFAULT_BINDING_BYTES, BuildShape
from webslm.compile.webruntime import ensure_runtime_objects, link_model_library, toolchain_versions
from webslm.compile.webruntime.toolchain import find_emcc
from webslm.convert.kept_adapter import KeptAdapter, check_base_build, kept_schemes
from webslm.convert.weights import convert
from webslm.errors import WebslmError
from webslm.hashing import file_entry
from webslm.onnx import onnx_dtypes_for
from webslm.onnx.export import check_exportable
from webslm.pipeline.backends import BACKENDS, canonical_backend
from webslm.pipeline.finetune import Choice, choose_builds
from webslm.pipeline.onnx_build import (cpu_build_possible, exports_onnx, gguf_route,
                                        onnx_expected_bytes, wasm_fit, write_onnx_artifact)
from webslm.progress import count, stage
from webslm.quantize.schemes import QuantScheme, get_scheme
from webslm.quantize.source_grids import resolve_grids
from webslm.registry import ModelEntry
from webslm.source import open_source
from webslm.source.base import ModelSource
from webslm.source.merged import MergedSource
from webslm.source.packaged import resolve_spec
from webslm.source.tokenizer import TOKENIZER_FILES
from webslm.user_cache import write_atomically


@dataclasses.dataclass
class BuildRequest:
    entry: ModelEntry
    quantizations: list[str]
    out_root: Path
    source_spec: str | None = None      # overrides entry.source
    revision: str | None = None
    context_window: int | None = None
    prefill_chunk: int | None = None
    force: bool = False
    backend: str = "all"
    source: ModelSource | None = None   # already opened (pipeline.inputs); else opened here
    exact_quantizations: bool = False   # named by --quantization: never swapped for a fine-tune
    keep_adapter: bool = False          # a fine-tune as base build + adapter build (--keep-adapter)
    base_name: str | None = None        # the base's build id prefix (keep_adapter)
    recompile: bool = False             # compile the library even when the cache holds it

    @property
    def webgpu(self) -> bool:
        return self.backend in ("webgpu", "all")

    @property
    def cpu(self) -> bool:
        return self.backend in ("cpu", "all")

    @property
    def shape(self) -> BuildShape:
        return BuildShape(self.context_window or self.entry.context_window,
                          self.prefill_chunk or self.entry.prefill_chunk)


def build(req: BuildRequest, say: Callable[[str], None] = print) -> list[Path]:
    """Build every requested quantization for every requested backend; returns the artifact
    directories. With --backend all, an ONNX export failure is reported after the WebGPU
    artifacts are in place (they do not depend on it), and the command still fails."""
    req.backend = canonical_backend(req.backend)
    if req.backend not in BACKENDS:
        raise WebslmError(f"unknown backend {req.backend!r}", f"choose one of: {', '.join(BACKENDS)}")
    if req.webgpu:
        find_emcc()  # fail before any heavy work when the toolchain is missing
    if req.source is None and req.source_spec is None:
        check_before_download(req.entry, req.quantizations, req.backend, req.shape.context_window)
    source = req.source or _open(req)
    arch = find_architecture(source.config)
    if req.cpu and not cpu_build_possible(req.entry, arch, source):
        no_gguf = gguf_route(req.entry, arch, source)[1]
        if req.backend == "cpu":
            try:
                check_exportable(source.config)
            except WebslmError as err:  # says why, and what to build instead
                raise WebslmError(f"{err.problem}; and {no_gguf}", err.fix) from None
        say(f"no CPU build: {arch.onnx_refusal}, and {no_gguf}; building for WebGPU")
        req.backend = "webgpu"
    limit = arch.config_from_hf(source.config).max_prefill_chunk
    if limit is not None and req.shape.prefill_chunk > limit:
        say(f"prefill chunk {req.shape.prefill_chunk} -> {limit} tokens: the model's sliding "
            "attention is exact only for chunks that fit its window")
        req.prefill_chunk = limit
    build_conv_template(req.entry.chat_format, source.tokenizer_dir)  # before, not after, compiling
    say(f"source {source.id}: {arch.model_type}, {len(source.tensor_names())} tensors")
    schemes = [resolve_grids(get_scheme(q), source.tensor_names(), source.tensor_shape,
                             source.tensor_type, arch.weight_map) for q in req.quantizations]
    kept = _kept_adapter(req, source, arch)
    if kept is not None:
        choices = [Choice(s, True, {}) for s in
                   kept_schemes(kept.source, schemes, req.exact_quantizations, say)]
    elif req.webgpu:  # a fine-tune: the build that answers like it (the ONNX export merges)
        choices = choose_builds(source, arch, schemes, req.exact_quantizations, say,
                                can_keep=bool(req.base_name))
        if any(c.kept for c in choices):
            kept = KeptAdapter.of(source, arch)
    else:
        choices = [Choice(s, False, {}) for s in schemes]
    targets = ([req.out_root / webgpu_build_id(req.entry.name, c.scheme.name) for c in choices]
               if req.webgpu else [])
    onnx_target = req.out_root / cpu_build_id(req.entry.name) if req.cpu else None
    for target in [*targets, *([onnx_target] if onnx_target else [])]:
        if target.exists() and not req.force:
            raise WebslmError(f"{target} already exists",
                              "pass --force to replace it, or --out to write elsewhere")
    built = []
    if req.webgpu:
        ensure_runtime_objects(progress=say)
    for choice, target in zip(choices, targets):
        started = time.time()
        scheme = choice.scheme
        if choice.kept:
            built.append(_base_build(req, kept, scheme, say))
        build_one(req, source, arch, scheme, target, say, choice.manifest,
                  kept if choice.kept else None)
        say(f"built {target} in {time.time() - started:.0f}s")
        built.append(target)
    if onnx_target is not None:
        started = time.time()
        try:
            write_atomically(onnx_target, lambda out: write_onnx_artifact(
                req.entry, source, req.quantizations, out, onnx_target.name,
                _source_record(req, source), req.shape.context_window, say),
                need_bytes=lambda: onnx_expected_bytes(source, req.quantizations))
        except WebslmError as err:
            if not built:
                raise
            done = ", ".join(str(p) for p in built)
            raise WebslmError(f"{err.problem}\n  (the WebGPU artifacts are complete: {done})",
                              err.fix) from err
        say(f"built {onnx_target} in {time.time() - started:.0f}s")
        built.append(onnx_target)
    return built


def check_before_download(entry: ModelEntry, quantizations: list[str], backend: str,
                          context_window: int | None) -> None:
    """Refuse what the models.yaml model's released config already rules out (ONNX builds
    too large for a browser's WASM memory) before its weights are downloaded."""
    released = published_config(entry.name)
    if not released or canonical_backend(backend) not in ("cpu", "all"):
        return
    arch = find_architecture(released)
    route = gguf_route(entry, arch)[0]
    onnx = exports_onnx(entry, arch, route) and bool(onnx_dtypes_for(quantizations))
    gguf = route is not None
    if onnx or gguf:
        wasm_fit(released, quantizations, context_window or entry.context_window,
                 onnx=onnx, gguf=gguf)


def _open(req: BuildRequest) -> ModelSource:
    spec = resolve_spec(req.source_spec or req.entry.source)
    revision = None if Path(spec).exists() else (req.revision or req.entry.revision)
    return open_source(spec, revision)


def build_one(req: BuildRequest, source: ModelSource, arch, scheme: QuantScheme, target: Path,
              say: Callable[[str], None], finetune: dict | None = None,
              kept: KeptAdapter | None = None) -> None:
    """finetune: the manifest's build fields on how a fine-tune's build was chosen."""
    write_atomically(target, lambda out: _write_artifact(req, source, arch, scheme, out,
                                                          target.name, say, finetune, kept),
                need_bytes=lambda: expected_bytes(source, scheme))


def _kept_adapter(req: BuildRequest, source: ModelSource, arch) -> KeptAdapter | None:
    if not req.keep_adapter:
        return None
    if not isinstance(source, MergedSource):
        raise WebslmError("--keep-adapter applies to fine-tunes", "add --lora ADAPTER_DIR")
    if req.backend != "webgpu":
        raise WebslmError("--keep-adapter builds WebLLM artifacts only (the ONNX export merges)",
                          "drop --backend, or build the ONNX export without --keep-adapter")
    return KeptAdapter.of(source, arch)


def _base_build(req: BuildRequest, kept: KeptAdapter, scheme: QuantScheme,
                say: Callable[[str], None]) -> Path:
    """The base build the fine-tune's records point at: reused when it holds exactly the base's
    weights, else built now (it is also the base model's own chat build)."""
    target = _base_target(req, scheme)
    if target.exists():
        compiled_params = _base_param_specs(kept, scheme, req.shape)
        check_base_build(target, scheme.name, kept.source, compiled_params)
        say(f"sharing the base weights of {target}")
        return target
    entry = dataclasses.replace(req.entry, name=req.base_name)
    base_req = dataclasses.replace(req, entry=entry, source=kept.source.base, keep_adapter=False)
    started = time.time()
    build_one(base_req, kept.source.base, kept.arch, scheme, target, say)
    say(f"built the base {target} in {time.time() - started:.0f}s")
    return target


def _base_target(req: BuildRequest, scheme: QuantScheme) -> Path:
    return req.out_root / webgpu_build_id(req.base_name, scheme.name)


def _base_param_specs(kept: KeptAdapter, scheme: QuantScheme, shape: BuildShape):
    """The base model's parameters as this webslm declares them: those of the base's compiled
    library in webslm's cache (the base build just compiled or took it), else exported (no
    kernels; a SmolLM2 export takes seconds)."""
    config = kept.arch.config_from_hf(kept.source.base.config)
    key = library_key(kept.arch.model_type, config, scheme, shape, None, webgpu_target())
    cached = find_library(key, config)
    if cached is not None:
        return cached.compiled.params
    _mod, params, _cfg = export_module(kept.arch, kept.source.base.config, scheme,
                                       webgpu_target(), shape)
    return params


def expected_bytes(source: ModelSource, scheme: QuantScheme) -> int:
    """Rough size of a WebGPU artifact: the weights at the bits of the scheme's widest linear
    grid (codes, scales and minimums), plus the library and tokenizer files (a few MB)."""
    elements = sum(math.prod(source.tensor_shape(n)) for n in source.tensor_names())
    float_bits = 16 if scheme.act_dtype == "float16" else 32
    grids = [scheme.weight_grid, *(g for _param, g in scheme.linear_grids)]
    bits = max(g.bits_per_weight(scheme.act_dtype) for g in grids) if scheme.quantized else float_bits
    tokenizer = sum((source.tokenizer_dir / n).stat().st_size for n in TOKENIZER_FILES
                    if (source.tokenizer_dir / n).is_file())
    return int(elements * bits / 8) + tokenizer + 5_000_000


def _write_artifact(req: BuildRequest, source: ModelSource, arch, scheme: QuantScheme,
                    out: Path, model_id: str, say: Callable[[str], None],
                    finetune: dict | None, kept: KeptAdapter | None = None) -> None:
    shape = req.shape
    lora = kept.plan if kept else None
    config = arch.config_from_hf(source.config)
    key = library_key(arch.model_type, config, scheme, shape, lora, webgpu_target())
    cached = None if req.recompile else find_library(key, config)
    if cached is not None:
        say(f"{model_id}: the compiled library for this architecture, quantization and shape "
            "is in webslm's cache (--recompile compiles it again)")
        compiled = cached.compiled
    else:
        with stage(f"compile {model_id} for WebGPU"):
            compiled = compile_model(arch, source.config, scheme, webgpu_target(), shape,
                                     lora=lora)
    param_count = _unquantized_param_count(compiled.params, scheme.group_size)
    extra: dict = {}
    if kept is not None:
        base_dir = _base_target(req, scheme)
        with stage("write the adapter's weights"):
            cache = kept.write(out, base_dir, param_count)
        extra = kept.manifest_fields(base_dir, cache)
    else:
        writer = TensorCacheWriter(out)
        with count("convert weights", len(source.tensor_names()), "tensor") as bar:
            convert(source.tensors(), compiled.params, arch.weight_map, scheme,
                    tied_embeddings=bool(getattr(compiled.config, "tie_word_embeddings", False)),
                    emit=writer.add, on_tensor=lambda _n: bar.update(), exact=source.on_grid)
        cache = writer.finish(param_count=param_count)

    lib_name = model_library(model_id)
    if cached is not None:
        shutil.copyfile(cached.wasm, out / lib_name)
    else:
        with stage(f"link {lib_name}"):
            link_model_library(compiled.executable, out / lib_name)
        store_library(key, out / lib_name, compiled.metadata, say)

    for name in TOKENIZER_FILES:
        shutil.copy2(source.tokenizer_dir / name, out / name)
    chat_config = make_chat_config(
        model_type=arch.model_type, quantization=scheme.name,
        model_config=dataclasses.asdict(compiled.config), vocab_size=compiled.config.vocab_size,
        context_window_size=shape.context_window, prefill_chunk_size=shape.prefill_chunk,
        chat_format=req.entry.chat_format, tokenizer_dir=out,
        generation_config=source.generation_config, hf_config=source.config)
    write_chat_config(chat_config, out)

    param_bytes = cache["metadata"]["ParamBytes"]
    kv_bytes = 2 if scheme.act_dtype == "float16" else 4
    largest = largest_tensor_bytes(cache)
    if largest > DEFAULT_BINDING_BYTES:
        say(f"note: {model_id}'s largest weight is {largest / 2**20:.1f} MiB, one GPU buffer above "
            f"WebGPU's default {DEFAULT_BINDING_BYTES // 2**20} MiB binding limit: GPUs that keep "
            "that limit (many phones, lavapipe) cannot run it, and webslm's pages say so before "
            "downloading it")
    write_manifest(
        out,
        toolchain=toolchain_versions(),
        build={"model": req.entry.name, "model_id": model_id, "quantization": scheme.name,
               "context_window": shape.context_window, "prefill_chunk": shape.prefill_chunk,
               "max_batch_size": shape.max_batch_size, "model_lib": lib_name,
               **scheme.build_fields(),  # per-linear grids a q4f*_k build resolved
               "library_key": key,  # compile/library_cache.py: what the library is compiled from
               "param_bytes": param_bytes,
               # one GPU buffer per tensor: the binding a GPU's maxStorageBufferBindingSize
               # must allow (web/static/gpu.js refuses before download where it does not)
               "largest_tensor_bytes": largest,
               "bits_per_weight": cache["metadata"]["BitsPerParam"],
               # per entry function, its kernel calls in order (webslm bench --profile)
               "kernel_calls": compiled.metadata["kernel_calls"],
               **(finetune or {}), **_completion_fields(req.entry, chat_config, out), **extra},
        source=_source_record(req, source),
        record=model_record(model_id, lib_name, scheme.needs_shader_f16,
                            vram_estimate_mb(compiled.metadata, param_bytes, kv_bytes,
                                             compiled.config.kv_positions(
                                                 shape.context_window, shape.prefill_chunk)),
                            shape.context_window),
    )


def _completion_fields(entry: ModelEntry, chat_config: dict, out: Path) -> dict:
    """A base model's manifest says so, with the text its completions start with (the page
    continues text for it instead of chatting)."""
    if not entry.completion_only:
        return {}
    return {"completion_only": True,
            "completion_prefix": completion_prefix(chat_config["conv_template"], out)}


def _source_record(req: BuildRequest, source: ModelSource) -> dict:
    record = {"spec": req.source_spec or req.entry.source, "id": source.id,
              "revision": source.revision,
              "files": {p.name: file_entry(p) for p in source.files}}
    if isinstance(source, MergedSource):
        record["adapter"] = {**source.adapter.summary(), "qlora_base": source.qlora_base}
    return record


def _unquantized_param_count(params, group_size: int) -> int:
    """Weights of the original model (for bits per weight): one group per stored scale."""
    count = 0
    for p in params:
        n = 1
        for d in p.shape:
            n *= d
        if p.name.endswith(".q_scale"):
            count += n * group_size
        elif not p.name.endswith((".q_weight", ".q_min")):
            count += n
    return count
