"""Helpers for the serve tests: small fake artifacts in the real manifest format, a fake web
root, a way to send raw request paths that no HTTP client would normalise, and the static
server docs/EMBEDDING.md documents."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from webslm.artifacts.manifest import model_record, write_manifest
from webslm.artifacts.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]

SECRET = "TOP-SECRET-7f3a9c"  # written next to the dist; must never appear in any response
_OPENED: list[str] | None = None


def _audit(event, args):
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


class OpenedFiles:
    """Every path the process opens while the block runs (sys.audit 'open' events)."""

    def __enter__(self):
        global _OPENED
        _OPENED = self.paths = []
        return self

    def __exit__(self, *exc):
        global _OPENED
        _OPENED = None


def make_artifact(dist: Path, model_id: str, *, f16: bool = False) -> Path:
    out = dist / model_id
    out.mkdir(parents=True)
    quant = model_id.rsplit("-", 1)[-1]
    (out / "mlc-chat-config.json").write_text(json.dumps(
        {"model_type": "llama", "quantization": quant, "context_window_size": 1024}, indent=2))
    (out / "tensor-cache.json").write_text(json.dumps(
        {"records": [{"dataPath": "params_shard_0.bin", "name": f"w{i}"} for i in range(40)]}))
    (out / "params_shard_0.bin").write_bytes(bytes(range(256)) * 400)
    (out / "tokenizer.json").write_text(json.dumps({"vocab": {f"tok{i}": i for i in range(500)}}))
    (out / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    lib = f"{model_id}-webgpu.wasm"
    (out / lib).write_bytes(b"\0asm\x01\0\0\0" + bytes(5000))
    write_manifest(out, toolchain={"tvm": "test"},
                   build={"model": "tiny", "model_id": model_id, "quantization": quant,
                          "context_window": 1024, "model_lib": lib},
                   source={"spec": "test"},
                   record=model_record(model_id, lib, f16, 123.4, 1024))
    return out


def make_adapter_artifact(dist: Path, model_id: str, base: Path) -> Path:
    """A fake fine-tune built as "base + adapter" over the fake build in `base`: its own
    library, configs, tokenizer and adapter_shard_0.bin; its tensor cache reads the base's
    params_shard_0.bin through the relative name WebLLM resolves against its folder."""
    from webslm.artifacts.files import base_file_ref

    base_manifest = read_manifest(base)
    base_id = base_manifest["build"]["model_id"]
    out = dist / model_id
    out.mkdir(parents=True)
    quant = model_id.rsplit("-", 1)[-1]
    (out / "mlc-chat-config.json").write_text(json.dumps(
        {"model_type": "llama", "quantization": quant, "context_window_size": 1024}, indent=2))
    shard = base_file_ref(base_id, "params_shard_0.bin")
    (out / "tensor-cache.json").write_text(json.dumps({"records": [
        {"dataPath": shard, "records": [{"name": f"w{i}"} for i in range(40)]},
        {"dataPath": "adapter_shard_0.bin", "records": [{"name": "lora_A"}, {"name": "lora_B"}]}]}))
    (out / "adapter_shard_0.bin").write_bytes(bytes(range(7, 71)) * 50)
    (out / "tokenizer.json").write_text(json.dumps({"vocab": {f"tok{i}": i for i in range(500)}}))
    lib = f"{model_id}-webgpu.wasm"
    (out / lib).write_bytes(b"\0asm\x01\0\0\0" + bytes(3000))
    write_manifest(out, toolchain={"tvm": "test"},
                   build={"model": "tiny-tuned", "model_id": model_id, "quantization": quant,
                          "context_window": 1024, "model_lib": lib,
                          "base": {"model_id": base_id, "files": {
                              "params_shard_0.bin": base_manifest["files"]["params_shard_0.bin"]}},
                          "adapter": {"targets": ["q_proj", "v_proj"], "rank": 8, "dtype": "float16",
                                      "bytes": 3200, "source": "tuned-adapter"}},
                   source={"spec": "test"},
                   record=model_record(model_id, lib, False, 125.0, 1024))
    return out


def make_onnx_artifact(dist: Path, model_id: str = "tiny-cpu") -> Path:
    """A fake ONNX (transformers.js) artifact: config, tokenizer, onnx/model_q4.onnx(+_data)."""
    from webslm.artifacts.manifest import write_onnx_manifest

    out = dist / model_id
    (out / "onnx").mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (out / "tokenizer.json").write_text("{}")
    (out / "onnx" / "model_q4.onnx").write_bytes(b"onnx-graph" * 100)
    (out / "onnx" / "model_q4.onnx_data").write_bytes(bytes(range(256)) * 40)
    write_onnx_manifest(out, toolchain={"onnxruntime_genai": "test"},
                        build={"model": "tiny", "model_id": model_id, "engine": "transformers.js",
                               "quantization": "onnx", "dtypes": ["q4"], "f16_dtypes": [],
                               "context_window": 1024},
                        source={"spec": "test"})
    return out


def make_web_root(root: Path) -> Path:
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "index.html").write_text(
        "<!doctype html><title>chat</title><p>webslm {{ version }}</p>"
        "{% for m in models %}<li data-id='{{ m.id }}'>{{ m.quantization }}</li>{% endfor %}"
        + "<!-- padding so gzip applies -->" * 30)
    (root / "static").mkdir()
    (root / "static" / "app.css").write_text("body { color: black; }\n" * 100)
    (root / "static" / "sub").mkdir()
    (root / "static" / "sub" / "x.js").write_text("export const x = 1;\n")
    (root / "static" / ".hidden").write_text("hidden")
    (root / "webslm.js").write_text("export function createChat() {}\n" * 50)
    lib = root / "node_modules" / "@mlc-ai" / "web-llm" / "lib"
    lib.mkdir(parents=True)
    (lib / "index.js").write_text("export const webllm = true;\n" * 100)
    (lib / "index.d.ts").write_text("export {};\n")
    return root


def raw_get(app, raw_path: bytes, headers: dict[str, str] | None = None):
    """Call the ASGI app with this exact request target, as uvicorn would pass it:
    path percent-decoded, raw_path untouched. Returns (status, headers, body)."""
    from urllib.parse import unquote_to_bytes

    target = raw_path.split(b"?", 1)[0]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "server": ("127.0.0.1", 8000),
             "client": ("127.0.0.1", 5000), "root_path": "",
             "path": unquote_to_bytes(target).decode("latin-1"), "raw_path": target,
             "query_string": raw_path.partition(b"?")[2],
             "headers": [(k.lower().encode(), v.encode())
                         for k, v in (headers or {}).items()]}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def cpu_engine_order() -> dict:
    """web/static/cpu-engine-order.js's data: {"order": {task: [engine, ...]}, "measured": ...}."""
    source = (REPO / "web" / "static" / "cpu-engine-order.js").read_text()
    return json.loads(source.split("export const CPU_ENGINE_ORDER = ", 1)[1].rstrip().rstrip(";"))


def run_node_checks(tmp_path: Path, script: str, replace: dict[str, str] | None = None) -> None:
    """Run `script` (an ES module that imports ./webslm.js and prints "ok") under Node, on a
    copy of web/webslm.js and web/static (Node reads .js as CommonJS without a package.json);
    `replace` gives files of that copy other contents ({"static/x.js": source})."""
    import shutil
    import subprocess

    import pytest

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (it comes with npm, which `make install` needs)")
    web = Path(__file__).resolve().parents[2] / "web"
    shutil.copy(web / "webslm.js", tmp_path / "webslm.js")
    shutil.copytree(web / "static", tmp_path / "static")
    for name, source in (replace or {}).items():
        (tmp_path / name).write_text(source)
    (tmp_path / "package.json").write_text(json.dumps({"type": "module"}))
    (tmp_path / "check.mjs").write_text(script)
    run = subprocess.run([node, "check.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def documented_static_server_code() -> str:
    """The Python snippet from docs/EMBEDDING.md's hosting section, as written."""
    hosting = (REPO / "docs" / "EMBEDDING.md").read_text().split("## Hosting a static export", 1)[1]
    return re.search(r'python3 -c "\n(.*?)"\n```', hosting, re.S).group(1)


@contextmanager
def documented_static_server(root: Path, ready_path: str = ""):
    """Run that snippet in `root` on a free port; yields the base URL once `ready_path` answers."""
    port = free_port()
    code = documented_static_server_code().replace("8080", str(port))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + ready_path, timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)

