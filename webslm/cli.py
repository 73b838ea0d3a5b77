"""The `webslm` command line. Every WebslmError ends as a two-line message, not a trace."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webslm.errors import WebslmError

QUANT_FLAGS = ("q4f16", "q4f32", "q0f16", "q0f32")
QUANT_NAMES = {"q4f16": "q4f16_1", "q4f32": "q4f32_1", "q0f16": "q0f16", "q0f32": "q0f32"}


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
    from webslm.pipeline.build import BuildRequest, build
    from webslm.registry import get_model

    entry = get_model(args.model)
    quants = [QUANT_NAMES[f] for f in QUANT_FLAGS if getattr(args, f)] or list(entry.quantizations)
    req = BuildRequest(entry=entry, quantizations=quants, out_root=Path(args.out),
                       source_spec=args.source, revision=args.revision,
                       context_window=args.context_window, prefill_chunk=args.prefill_chunk,
                       force=args.force)
    for path in build(req, say=lambda m: print(f"[webslm] {m}", flush=True)):
        print(path)
    return 0


def _cmd_verify(args) -> int:
    from webslm.verify.check import verify_artifact

    report = verify_artifact(Path(args.dir), progress=lambda m: print(f"[webslm] {m}", flush=True),
                             source_spec=args.source)
    print("\n".join(report.lines()))
    print("PASS" if report.passed else "FAIL")
    return 0 if report.passed else 1


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


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webslm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("models", help="list the models in models.yaml").set_defaults(func=_cmd_models)

    b = sub.add_parser("build", help="compile a model into WebLLM artifacts")
    b.add_argument("model", help="a name from `webslm models`")
    for flag in QUANT_FLAGS:
        b.add_argument(f"--{flag}", action="store_true", help=f"build {QUANT_NAMES[flag]}")
    b.add_argument("--source", help="HF repo id, local HF directory or .gguf file")
    b.add_argument("--revision", help="hub revision (branch, tag or commit)")
    b.add_argument("--out", default="dist", help="output root (default: dist)")
    b.add_argument("--context-window", type=int, help="KV cache length in tokens")
    b.add_argument("--prefill-chunk", type=int, help="largest prefill step in tokens")
    b.add_argument("--force", action="store_true", help="replace existing artifacts")
    b.set_defaults(func=_cmd_build)

    v = sub.add_parser("verify", help="check an artifact's numbers against PyTorch")
    v.add_argument("dir", help="an artifact directory written by `webslm build`")
    v.add_argument("--source", help="override the source recorded in the manifest")
    v.set_defaults(func=_cmd_verify)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
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
