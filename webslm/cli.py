"""The `webslm` command line. Every WebslmError ends as a two-line message, not a trace."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from webslm.errors import WebslmError
from webslm.pipeline.backends import BACKENDS, canonical_backend
from webslm.quantize.onnx_dtypes import ONNX_DTYPES
from webslm.quantize.schemes import SCHEMES, flag_schemes, get_scheme


def _quantizations(args, entry) -> list[str]:
    """--quantization names schemes exactly; --q4f16 etc. pick the model's own scheme of that
    family from models.yaml (SmolLM2's Q4_1 source lists q4f16_asym), else MLC-LLM's; with
    neither, the model's models.yaml list."""
    if args.quantization:
        return [get_scheme(q.strip()).name for q in args.quantization.split(",") if q.strip()]
    own = {get_scheme(q).family: q for q in entry.quantizations}
    flags = [(f, s) for f, s in flag_schemes().items() if getattr(args, f)]
    return [own.get(f, s.name) for f, s in flags] or list(entry.quantizations)


def _schemes_help() -> str:
    """The schemes by grid, as the table describes them: q4f16_1, q4f32_1 (MLC-LLM's ...)."""
    grids: dict[str, list[str]] = {}
    for s in SCHEMES.values():
        grids.setdefault(s.about, []).append(s.name)
    return "; ".join(f"{', '.join(names)} ({about})" for about, names in grids.items())


def _onnx_help() -> str:
    """Which flag brings which ONNX dtypes: q4f16 for --q4f16, ..."""
    return ", ".join(f"{' + '.join(s.onnx)} for --{f}" for f, s in flag_schemes().items() if s.onnx)


def _cmd_models(_args) -> int:
    from webslm.registry import load_registry

    rows = [("name", "architecture", "source", "quantizations", "context")]
    for e in load_registry().values():
        rows.append((e.name, e.architecture, e.source, ",".join(e.quantizations),
                     str(e.context_window)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def _cmd_build(args) -> int:
    from webslm.pipeline.build import BuildRequest, build, check_before_download
    from webslm.pipeline.inputs import resolve_input

    # a kept adapter is a WebLLM build (the ONNX export merges)
    backend = args.backend or ("webgpu" if args.keep_adapter else "all")
    say = lambda m: print(f"[webslm] {m}", flush=True)  # noqa: E731
    target = resolve_input(args.model, lora=args.lora, base=args.base, source=args.source,
                           revision=args.revision, qlora_base=args.qlora_base,
                           chat_format=args.chat_format, name=args.name,
                           before_download=lambda entry: check_before_download(
                               entry, _quantizations(args, entry), backend, args.context_window),
                           say=say)
    quants = _quantizations(args, target.entry)
    req = BuildRequest(entry=target.entry, quantizations=quants, out_root=Path(args.out),
                       source_spec=target.spec, revision=target.revision,
                       context_window=args.context_window, prefill_chunk=args.prefill_chunk,
                       force=args.force, source=target.source,
                       backend=backend,
                       exact_quantizations=bool(args.quantization),
                       keep_adapter=args.keep_adapter, base_name=target.base_name,
                       recompile=args.recompile)
    for path in build(req, say=say):
        print(path)
    return 0


def _cmd_verify(args) -> int:
    from webslm.artifacts.manifest import read_manifest
    from webslm.verify.check import verify_artifact
    from webslm.verify.onnx_check import verify_onnx_artifact
    from webslm.verify.twin import open_manifest_source

    say = lambda m: print(f"[webslm] {m}", flush=True)  # noqa: E731
    manifest = read_manifest(Path(args.dir))
    if manifest["build"].get("engine") == "transformers.js":
        report = verify_onnx_artifact(Path(args.dir), open_manifest_source(manifest, args.source),
                                      manifest, progress=say)
        print("\n".join(report.lines()))
        print("PASS" if report.passed else "FAIL")
        return 0 if report.passed else 1
    report = verify_artifact(Path(args.dir), progress=lambda m: print(f"[webslm] {m}", flush=True),
                             source_spec=args.source)
    print("\n".join(report.lines()))
    print("PASS" if report.passed else "FAIL")
    return 0 if report.passed else 1


def _cmd_eval(args) -> int:
    import dataclasses
    import json

    from webslm.verify.perplexity import DEFAULT_TEXT, evaluate_artifacts

    reference = None
    if args.reference:
        from webslm.pipeline.inputs import resolve_input

        reference = resolve_input(args.reference).source
    reports = evaluate_artifacts([Path(d) for d in args.dirs],
                                 text_path=Path(args.text) if args.text else DEFAULT_TEXT,
                                 window=args.window, max_tokens=args.max_tokens,
                                 progress=lambda m: print(f"[webslm] {m}", flush=True),
                                 reference=reference)
    for r in reports:
        print(r.line())
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{**dataclasses.asdict(r), "increase": r.increase} for r in reports], indent=2) + "\n")
    return 0


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _cmd_bench(args) -> int:
    import shlex

    from webslm.bench.report import write_reports
    from webslm.bench.runner import BenchRequest, run_bench

    req = BenchRequest(target=args.model, engines=[e.strip() for e in args.engines.split(",")],
                       contexts=args.contexts, new_tokens=args.new_tokens, runs=args.runs,
                       gpu=args.gpu, software="lavapipe" if args.lavapipe else "swiftshader",
                       dist=Path(args.dist),
                       gguf=Path(args.gguf) if args.gguf else None, threads=args.threads,
                       onnx_dtype=args.onnx_dtype, onnx_device=args.onnx_device,
                       onnx_plain_wasm=not args.tjs_default_wasm,
                       timeout_s=args.timeout)
    say = lambda m: print(f"[webslm] {m}", flush=True)  # noqa: E731
    command = "webslm " + " ".join(map(shlex.quote, args.argv))
    if args.profile:
        from webslm.bench.costmodel import GPUS, GpuSpec
        from webslm.bench.profile import run_profile
        from webslm.bench.profile_report import write_profile_reports

        gpus = GPUS
        if args.bandwidth or args.dispatch_us:
            gpus = (*GPUS, GpuSpec("given", args.bandwidth or GPUS[0].bandwidth_gb_s,
                                   args.dispatch_us or GPUS[0].dispatch_us, "--bandwidth/--dispatch-us"))
        paths = write_profile_reports(run_profile(req, say), Path(args.out), command, gpus)
    else:
        from webslm.bench.decode_cost import static_cost

        raw = run_bench(req, say=say)
        raw["decode_cost"] = static_cost(Path(raw["artifact"]))  # beside what was measured
        paths = write_reports(raw, Path(args.out), command)
    print(paths["markdown"].read_text())
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _cmd_serve(args) -> int:
    from webslm.serve.app import create_app
    from webslm.serve.server import serve

    app = create_app(args.dist)
    say = lambda m: print(f"[webslm] {m}", flush=True)  # noqa: E731
    ids = [m.id for m in app.state.models]
    say(f"{len(ids)} model(s): {', '.join(ids)}" if ids else
        f"no built models in {' '.join(args.dist)}; run `webslm build smollm2-135m` first")
    serve(app, args.host, args.port, say=say)
    return 0


def _cmd_export_site(args) -> int:
    from webslm.serve.export import export_site

    site = export_site(args.dist, Path(args.out), force=args.force,
                       say=lambda m: print(f"[webslm] {m}", flush=True))
    print(site)
    return 0


def _cmd_doctor(_args) -> int:
    from webslm.doctor import report, run_checks

    lines, code = report(run_checks())
    print("\n".join(lines))
    return code


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webslm", description=__doc__)
    parser.add_argument("--models", metavar="FILE",
                        help="your own models file (models.yaml's format), merged over the "
                             "built-in one by name; same as $WEBSLM_MODELS")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("models", help="list the models webslm knows (models.yaml, plus --models)"
                   ).set_defaults(func=_cmd_models)

    b = sub.add_parser("build", help="compile a model into WebLLM artifacts and a CPU build (ONNX + GGUF)")
    b.add_argument("model", help="a name from `webslm models`, a model folder, a .gguf file, a hub "
                                 "id (owner/name) or a LoRA adapter folder")
    b.add_argument("--lora", metavar="DIR",
                   help="merge this LoRA/QLoRA/DoRA adapter (PEFT or torchtune folder) into the "
                        "model in float32 before quantizing")
    b.add_argument("--keep-adapter", action="store_true",
                   help="keep the LoRA adapter as its own weights over a shared base build "
                        "(built beside it when missing): a second fine-tune of the same base "
                        "downloads only its adapter")
    b.add_argument("--base", help="the base of an adapter folder, when its adapter_config.json "
                                  "does not name one webslm can find (name, folder or hub id)")
    b.add_argument("--qlora-base", metavar="nf4",
                   help="merge into the NF4 round trip of the base, as a QLoRA adapter was trained")
    b.add_argument("--chat-format", help="the conversation format, when the model's own chat "
                                         "template cannot be matched (a wrong name lists the known ones)")
    b.add_argument("--name", help="the build id prefix (default: the model name, or the folder, "
                                  "file or adapter name)")
    for flag, scheme in flag_schemes().items():
        b.add_argument(f"--{flag}", action="store_true",
                       help=f"build the model's {flag} scheme (models.yaml; else {scheme.name})")
    b.add_argument("--quantization", metavar="NAMES",
                   help="comma-separated scheme names, overriding the flags: "
                        f"{_schemes_help()}; f16 or f32 in a name: the kernels' float type")
    b.add_argument("--source", help="HF repo id, local HF directory or .gguf file")
    b.add_argument("--revision", help="hub revision (branch, tag or commit)")
    b.add_argument("--out", default="dist", help="output root (default: dist)")
    b.add_argument("--context-window", type=int, help="KV cache length in tokens")
    b.add_argument("--prefill-chunk", type=int, help="largest prefill step in tokens")
    b.add_argument("--force", action="store_true", help="replace existing artifacts")
    b.add_argument("--recompile", action="store_true",
                   help="compile the model library even when webslm's cache holds one for this "
                        "architecture, config, quantization and shape")
    b.add_argument("--backend", choices=BACKENDS, type=canonical_backend,
                   help="webgpu: WebLLM artifacts; cpu (or onnx): one CPU build, transformers.js "
                        f"ONNX ({_onnx_help()}) and wllama's GGUF; all: both (the default, but "
                        "webgpu with --keep-adapter)")
    b.set_defaults(func=_cmd_build)

    v = sub.add_parser("verify", help="check an artifact's numbers against PyTorch")
    v.add_argument("dir", help="an artifact directory written by `webslm build`")
    v.add_argument("--source", help="override the source recorded in the manifest")
    v.set_defaults(func=_cmd_verify)

    ev = sub.add_parser("eval", help="perplexity of builds on a fixed text, against their source")
    ev.add_argument("dirs", nargs="+", help="artifact directories written by `webslm build`")
    ev.add_argument("--text", help="UTF-8 text to score (default: tests/data/eval_text.txt)")
    ev.add_argument("--window", type=int, default=512,
                    help="tokens per window, each from an empty KV cache (default 512)")
    ev.add_argument("--max-tokens", type=int, help="score only the first N tokens of the text")
    ev.add_argument("--json", help="also write the results as JSON to this file")
    ev.add_argument("--reference", metavar="MODEL",
                    help="score against this model instead of each build's source: a name, "
                         "folder, .gguf, hub id or adapter folder (base + adapter, run by PEFT)")
    ev.set_defaults(func=_cmd_eval)

    bn = sub.add_parser("bench", help="in-browser speed of a build next to other engines")
    bn.add_argument("model", help="a model name (its build in --dist) or an artifact directory")
    bn.add_argument("--engines", default="webllm,wllama,transformersjs",
                    help="comma-separated: webllm, wllama, transformersjs (default: all)")
    where = bn.add_mutually_exclusive_group()
    where.add_argument("--gpu", action="store_true", help="use the machine's GPU (Vulkan)")
    where.add_argument("--swiftshader", action="store_true",
                       help="use SwiftShader's CPU WebGPU (the default)")
    where.add_argument("--lavapipe", action="store_true",
                       help="use Mesa's lavapipe, a CPU WebGPU with shader-f16 about four times "
                            "faster than SwiftShader (the tests' rig; needs make install's "
                            "Vulkan layer, from webslm's repository)")
    bn.add_argument("--contexts", type=_ints, default=[128, 1024, 4096],
                    help="prompt lengths in tokens (default 128,1024,4096; those that do not "
                         "fit the build's window are skipped)")
    bn.add_argument("--new-tokens", type=int, default=32, help="tokens decoded per prompt")
    bn.add_argument("--runs", type=int, default=3, help="browser launches per engine")
    bn.add_argument("--dist", default="dist", help="where named models are built")
    bn.add_argument("--gguf", help="the GGUF wllama runs (default: the CPU build's Q8_0 GGUF, else a GGUF source)")
    bn.add_argument("--threads", type=int,
                    help="WASM threads of wllama and transformers.js (default: their own)")
    bn.add_argument("--onnx-dtype", default="q8", choices=tuple(ONNX_DTYPES),
                    help="the ONNX model transformers.js runs (default: q8, the CPU build)")
    bn.add_argument("--onnx-device", default="wasm", choices=("wasm", "webgpu"),
                    help="transformers.js on WASM (the CPU, default) or on WebGPU")
    bn.add_argument("--tjs-default-wasm", action="store_true",
                    help="run transformers.js on its default (asyncify) WASM build, not webslm's")
    bn.add_argument("--timeout", type=float, default=1800, help="seconds per browser run")
    bn.add_argument("--out", default="results", help="report folder (default: results)")
    bn.add_argument("--profile", action="store_true",
                    help="WebLLM only: dispatches, kernels and modeled bytes per phase, and the "
                         "modeled tokens/s on published GPUs (uses the first --contexts value)")
    bn.add_argument("--bandwidth", type=float, metavar="GB/S",
                    help="with --profile: also model a GPU of this memory bandwidth")
    bn.add_argument("--dispatch-us", type=float, metavar="US",
                    help="with --profile: also model this per-dispatch cost (microseconds)")
    bn.set_defaults(func=_cmd_bench)

    s = sub.add_parser("serve", help="serve the chat page and built models (inference runs in "
                                      "the browser)")
    s.add_argument("dist", nargs="*", default=["dist"],
                   help="dist roots or artifact directories (default: dist)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks one)")
    s.set_defaults(func=_cmd_serve)

    e = sub.add_parser("export-site", help="write the served site as static files")
    e.add_argument("dist", nargs="*", default=["dist"],
                   help="dist roots or artifact directories (default: dist)")
    e.add_argument("--out", required=True, help="the site directory to write")
    e.add_argument("--force", action="store_true", help="replace an existing --out")
    e.set_defaults(func=_cmd_export_site)

    sub.add_parser("doctor", help="what build, serve and bench need here, what is missing, and "
                                  "how to install it (exit 1 when build cannot run)"
                   ).set_defaults(func=_cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)  # for reports: the exact command
    if args.models:  # the registry reads it from the environment, as do child processes
        from webslm.registry import USER_MODELS_ENV

        os.environ[USER_MODELS_ENV] = str(Path(args.models).expanduser().resolve())
    try:
        return args.func(args)
    except WebslmError as err:
        print(f"webslm: error: {err.problem}", file=sys.stderr)
        if err.fix:
            print(f"  fix: {err.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("webslm: interrupted; nothing was left half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
