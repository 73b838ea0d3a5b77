"""Web runtime build, its cache, and linking model libraries that WebLLM can load. Fast tests use a
fake emcc; slow ones build the real runtime once into the user cache and link a tiny model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from webslm.compile.webruntime import ensure_runtime_objects, link_model_library, toolchain_versions
from webslm.compile.webruntime import runtime, toolchain, wasm
from webslm.errors import WebslmError

REPO = Path(__file__).resolve().parents[2]
WEBLLM_BUNDLE = REPO / "web" / "node_modules" / "@mlc-ai" / "web-llm" / "lib" / "index.js"

FAKE_EMCC = """#!{python}
import pathlib, sys, time
with open({log!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if "--version" in sys.argv:
    print("emcc (Emscripten fake) {version} ()")
    sys.exit(0)
if {fail!r} and any({fail!r} in a for a in sys.argv):
    sys.stderr.write("lots of output\\nfatal error: 'tvm/support/io.h' file not found\\n")
    sys.exit(1)
time.sleep({sleep})
pathlib.Path(sys.argv[sys.argv.index("-o") + 1]).write_bytes(b"object")
"""


def install_fake_emcc(tmp_path, monkeypatch, version="9.9.9", fail="", sleep=0.0) -> Path:
    """Put a fake emcc first on PATH and point the cache at tmp_path; return its call log."""
    bin_dir, log = tmp_path / "bin", tmp_path / "emcc.log"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "emcc"
    script.write_text(FAKE_EMCC.format(python=sys.executable, log=str(log), version=version,
                                       fail=fail, sleep=sleep))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    toolchain._emcc_version_line.cache_clear()
    return log


def compile_calls(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "--version" not in line]


def test_missing_emcc_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no emcc anywhere
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WebslmError, match="emcc was not found") as err:
        ensure_runtime_objects()
    assert "apt-get install emscripten" in err.value.fix
    with pytest.raises(WebslmError, match="emcc was not found"):
        link_model_library(type("Exe", (), {"export_library": None})(), tmp_path / "m.wasm")
    assert toolchain_versions()["emscripten"] is None
    assert not (tmp_path / "cache").exists()


def test_cache_key_names_the_toolchain(tmp_path, monkeypatch):
    install_fake_emcc(tmp_path, monkeypatch, version="9.9.9")
    versions = toolchain_versions()
    assert versions["emscripten"] == "9.9.9"
    key = runtime.cache_key()
    assert key.startswith(f"tvm-{versions['tvm']}_ffi-{versions['tvm_ffi']}_emcc-9.9.9_")
    assert runtime.runtime_dir() == tmp_path / "cache" / "runtime" / key
    install_fake_emcc(tmp_path / "other", monkeypatch, version="9.9.10")
    assert runtime.cache_key() != key


def test_runtime_objects_are_built_once_and_cached(tmp_path, monkeypatch):
    log = install_fake_emcc(tmp_path, monkeypatch)
    messages = []
    objects = ensure_runtime_objects(progress=messages.append)
    assert [p.name for p in objects] == ["wasm_runtime.o", "tvmjs_support.o", "webgpu_runtime.o",
                                         "windowed_kv_cache.o"]  # TVM's three, then webslm's
    assert all(p.parent == runtime.runtime_dir() and p.is_file() for p in objects)
    calls = compile_calls(log)
    assert len(calls) == 4 and all("-std=c++17" in c and " -c " in f" {c} " for c in calls)
    assert any("compiling" in m for m in messages)
    assert json.loads((runtime.runtime_dir() / "build.json").read_text())["toolchain"]["emscripten"]
    assert ensure_runtime_objects() == objects  # cached: emcc is not run again
    assert len(compile_calls(log)) == 4


def test_failed_compile_leaves_no_cache_entry(tmp_path, monkeypatch):
    install_fake_emcc(tmp_path, monkeypatch, fail="webgpu_runtime")  # the others succeed
    (tmp_path / "cache" / "runtime" / f"{runtime.cache_key()}.tmp-killed").mkdir(parents=True)
    with pytest.raises(WebslmError) as err:
        ensure_runtime_objects()
    assert "webgpu_runtime.cc" in err.value.problem
    assert "file not found" in err.value.problem  # the tail of emcc's stderr
    leftovers = [p.name for p in (tmp_path / "cache" / "runtime").iterdir()]
    assert leftovers == [f"{runtime.cache_key()}.lock"]  # no entry, no temp dirs (ours or stale)


def test_concurrent_builds_compile_once(tmp_path, monkeypatch):
    log = install_fake_emcc(tmp_path, monkeypatch, sleep=0.5)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two builds at once, each with its own lock fd
        results = list(pool.map(lambda _: ensure_runtime_objects(), range(2)))
    assert results[0] == results[1]
    assert len(compile_calls(log)) == len(runtime.RUNTIME_SOURCES)


def _leb(n: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low first, high bit set on all but the last byte."""
    groups = [(n >> shift) & 0x7F for shift in range(0, max(n.bit_length(), 1), 7)]
    return bytes(g | 0x80 for g in groups[:-1]) + bytes(groups[-1:])


def _name(s: str) -> bytes:
    return _leb(len(s)) + s.encode()


def test_wasm_reader_on_a_hand_built_module(tmp_path):
    imports = (_leb(3)
               + _name("env") + _name("f") + b"\x00" + _leb(0)
               + _name("env") + _name("memory") + b"\x02\x01" + _leb(1) + _leb(300)
               + _name("wasi_snapshot_preview1") + _name("fd_write") + b"\x00" + _leb(1))
    exports = _leb(2) + _name("memory") + b"\x02" + _leb(0) + _name("g") + b"\x00" + _leb(200)
    custom = _name("name") + b"x" * 200  # a long section: its size needs a 2-byte LEB128
    module = b"\0asm\x01\0\0\0" + b"".join(
        bytes([i]) + _leb(len(b)) + b for i, b in [(0, custom), (2, imports), (7, exports)])
    path = tmp_path / "m.wasm"
    path.write_bytes(module)
    assert wasm.read_imports(path) == [("env", "f", "func"), ("env", "memory", "memory"),
                                       ("wasi_snapshot_preview1", "fd_write", "func")]
    assert wasm.read_exports(path) == [("memory", "memory"), ("g", "func")]
    assert wasm.imports_tvmjs_lacks(path) == ["env.f", "env.memory"]
    path.write_bytes(b"not wasm")
    with pytest.raises(ValueError):
        wasm.read_imports(path)


@pytest.mark.skipif(not WEBLLM_BUNDLE.is_file(), reason="web/node_modules not installed")
def test_tvmjs_imports_match_webllm_bundle():
    """TVMJS_IMPORTS must be what the npm WebLLM bundle's tvmjs runtime really provides."""
    found = re.search(r"var wasmImports=\{([^}]*)\}", WEBLLM_BUNDLE.read_text())
    assert found, "tvmjs import table not found in the WebLLM bundle"
    names = {entry.split(":")[0] for entry in found.group(1).split(",")}
    assert names == wasm.TVMJS_IMPORTS


ENV_IMPORTS = ["TVMFFIWasmSafeCall", "TVMFFIWasmFunctionDeleter", "emscripten_notify_memory_growth"]
WASI_IMPORTS = ["clock_time_get", "proc_exit", "fd_write", "fd_read", "fd_close", "fd_seek",
                "environ_sizes_get", "environ_get"]
EXPECTED_IMPORTS = {("env", n) for n in ENV_IMPORTS} | {("wasi_snapshot_preview1", n)
                                                        for n in WASI_IMPORTS}
# What tvmjs calls on a model library (found in the WebLLM bundle), plus the system-lib hook.
EXPECTED_EXPORTS = {
    "memory", "_initialize", "TVMWasmAllocSpace", "TVMWasmFreeSpace", "TVMFFIWasmGetLastError",
    "TVMFFIWasmFunctionCreate", "TVMFFIFunctionCall", "TVMFFIFunctionGetGlobal",
    "TVMFFIFunctionSetGlobal", "TVMFFIObjectIncRef", "TVMFFIObjectDecRef",
    "TVMFFIAnyViewToOwnedAny", "TVMFFIGetTypeInfo", "TVMFFITypeKeyToIndex",
    "TVMFFIErrorSetRaisedFromCStr", "TVMFFIDataTypeToString", "TVMFFIEnvModRegisterSystemLibSymbol",
}


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory):
    """A matmul + add model built for WebGPU and linked; returns (executable, wasm path)."""
    import tvm
    from tvm import relax
    from tvm.relax.frontend import nn

    class Tiny(nn.Module):
        def forward(self, x: nn.Tensor, w: nn.Tensor, b: nn.Tensor):
            return nn.op.add(nn.op.matmul(x, w), b)

    spec = {"forward": {"x": nn.spec.Tensor([4, 8], "float32"),
                        "w": nn.spec.Tensor([8, 16], "float32"),
                        "b": nn.spec.Tensor([4, 16], "float32")}}
    mod, _ = Tiny().export_tvm(spec=spec)
    target = tvm.target.Target({"kind": "webgpu"},
                               host={"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm"})
    executable = relax.build(mod, target)
    out = tmp_path_factory.mktemp("lib") / "tiny.wasm"
    assert link_model_library(executable, out, progress=print) == out
    return executable, out


@pytest.mark.slow
def test_linked_library_is_wasm_with_only_tvmjs_imports(tiny_library):
    _, path = tiny_library
    assert path.read_bytes()[:4] == b"\0asm"
    assert not list(path.parent.glob(".*"))  # the temp file was renamed away
    imports = wasm.read_imports(path)
    assert {(module, name) for module, name, _ in imports} == EXPECTED_IMPORTS
    assert len(imports) == 11 and all(kind == "func" for *_, kind in imports)
    exports = dict(wasm.read_exports(path))
    assert EXPECTED_EXPORTS <= exports.keys()
    assert exports["memory"] == "memory"


SMOKE_JS = r"""
// Load a model library with the import object tvmjs uses, then read back what the runtime
// deserialized: the VM executable (as text) and the WebGPU function table and shader.
const [wasmPath, shaderName] = process.argv.slice(2);
let ex;
const dv = () => new DataView(ex.memory.buffer);
const text = (p, n) => Buffer.from(new Uint8Array(ex.memory.buffer, p, n)).toString();
const cstr = (p) => { let n = 0; while (dv().getUint8(p + n)) n++; return text(p, n); };
const u32 = (p, v) => (v === undefined ? dv().getUint32(p, true) : dv().setUint32(p, v, true));
const env = {
  TVMFFIWasmSafeCall: () => -1, TVMFFIWasmFunctionDeleter: () => {},
  emscripten_notify_memory_growth: () => {}, fd_read: () => 8, fd_close: () => 0, fd_seek: () => 70,
  clock_time_get: (id, precision, out) => { dv().setBigUint64(out, 0n, true); return 0; },
  proc_exit: (code) => { throw new Error(`proc_exit(${code})`); },
  fd_write: (fd, iov, count, written) => {  // the runtime's stderr (error messages)
    let total = 0;
    for (let i = 0; i < count; i++, iov += 8) { process.stderr.write(text(u32(iov), u32(iov + 4))); total += u32(iov + 4); }
    u32(written, total); return 0;
  },
  environ_get: () => 0, environ_sizes_get: (c, s) => { u32(c, 0); u32(s, 0); return 0; },
};
const check = (rc) => { if (rc !== 0) throw new Error(cstr(ex.TVMFFIWasmGetLastError())); };
function byteArray(s) {  // a TVMFFIByteArray* over a NUL-terminated copy of s
  const b = Buffer.from(s + "\0"), p = ex.TVMWasmAllocSpace(b.length), ba = ex.TVMWasmAllocSpace(8);
  new Uint8Array(ex.memory.buffer, p, b.length).set(b);
  u32(ba, p); u32(ba + 4, b.length - 1); return { ba, p };
}
function global(name) {
  const out = ex.TVMWasmAllocSpace(8);
  check(ex.TVMFFIFunctionGetGlobal(byteArray(name).ba, out)); return u32(out);
}
function call(fn, args = []) {  // args: [type_index, payload]; returns the TVMFFIAny result
  const a = ex.TVMWasmAllocSpace(16 * args.length + 16), r = ex.TVMWasmAllocSpace(16);
  args.forEach(([type, value], i) => {
    dv().setBigUint64(a + 16 * i, BigInt(type), true); dv().setBigUint64(a + 16 * i + 8, BigInt(value), true);
  });
  dv().setBigUint64(r, 0n, true); dv().setBigUint64(r + 8, 0n, true);
  check(ex.TVMFFIFunctionCall(fn, a, args.length, r));
  return { type: dv().getInt32(r, true), len: u32(r + 4), ptr: u32(r + 8), at: r };
}
function str(any) {  // a small string (inline) or a String object {header[24], data, size}
  if (any.type === 11) return text(any.at + 8, any.len);
  if (any.type === 65) return text(u32(any.ptr + 24), u32(any.ptr + 28));
  throw new Error(`expected a string, got type index ${any.type}`);
}
WebAssembly.instantiate(require("fs").readFileSync(wasmPath), { env, wasi_snapshot_preview1: env }).then(({ instance }) => {
  ex = instance.exports;
  ex._initialize();
  const out = ex.TVMWasmAllocSpace(8);  // WebGPU modules look this up when they load
  check(ex.TVMFFIWasmFunctionCreate(0, out));
  check(ex.TVMFFIFunctionSetGlobal(byteArray("wasm.WebGPUCreateShader").ba, u32(out), 1));
  const lib = call(global("ffi.SystemLib"));
  const fn = (name, imports) =>
    call(global("ffi.ModuleGetFunction"), [[lib.type, lib.ptr], [8, byteArray(name).p], [2, imports ? 1 : 0]]).ptr;
  console.log(JSON.stringify({
    kind: str(call(global("ffi.ModuleGetKind"), [[lib.type, lib.ptr]])),
    as_text: str(call(fn("as_text", false))),
    fmap: JSON.parse(str(call(fn("webgpu.get_fmap", true)))),
    shader: str(call(fn("webgpu.get_shader", true), [[8, byteArray(shaderName).p]])),
  }));
}).catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_library_loads_like_tvmjs_and_reads_back_the_model(tiny_library, tmp_path):
    """Checks webslm's serializer headers against what the TVM compiler wrote."""
    executable, path = tiny_library
    webgpu = executable.mod.imports[0].imports[0]
    kernel = "fused_matmul_add_kernel"
    assert f"fn {kernel}" in webgpu.inspect_source()
    script = tmp_path / "smoke.cjs"
    script.write_text(SMOKE_JS)
    proc = subprocess.run(["node", str(script), str(path), kernel], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout)
    assert loaded["kind"] == "relax.VMExecutable"
    assert loaded["as_text"] == executable.as_text()
    info = loaded["fmap"][kernel]
    assert info["name"] == kernel and info["arg_types"] == ["handle"] * 4
    assert "threadIdx.x" in info["launch_param_tags"]
    assert f"fn {kernel}(" in loaded["shader"] and loaded["shader"] in webgpu.inspect_source()
