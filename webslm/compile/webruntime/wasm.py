"""Read a wasm module's imports and exports, to check a model library before anyone downloads it.

The link runs with ERROR_ON_UNDEFINED_SYMBOLS=0 (as TVM's does), so a symbol missing at link time
does not fail the link: it becomes an import, and the browser then fails to instantiate the
library after the whole model has been downloaded. WebLLM's bundled tvmjs runtime provides exactly
the functions in TVMJS_IMPORTS (the same object serves both import modules).
"""

from __future__ import annotations

from pathlib import Path

WASM_MAGIC = b"\0asm"
TVMJS_IMPORT_MODULES = frozenset({"env", "wasi_snapshot_preview1"})
TVMJS_IMPORTS = frozenset({
    "TVMFFIWasmSafeCall", "TVMFFIWasmFunctionDeleter", "emscripten_notify_memory_growth",
    "clock_time_get", "proc_exit", "fd_write", "fd_read", "fd_close", "fd_seek",
    "environ_sizes_get", "environ_get",
})
KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 integer at pos; return (value, next position)."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _name(data: bytes, pos: int) -> tuple[str, int]:
    size, pos = _uleb(data, pos)
    return data[pos:pos + size].decode("utf-8"), pos + size


def _section(data: bytes, wanted: int) -> bytes | None:
    """Body of the first section with id `wanted` (imports are 2, exports 7), or None."""
    if data[:4] != WASM_MAGIC:
        raise ValueError("not a wasm module (bad magic bytes)")
    pos = 8  # magic + version
    while pos < len(data):
        section_id = data[pos]
        size, pos = _uleb(data, pos + 1)
        if section_id == wanted:
            return data[pos:pos + size]
        pos += size
    return None


def _skip_limits(body: bytes, pos: int) -> int:
    flags = body[pos]
    _, pos = _uleb(body, pos + 1)  # minimum
    if flags & 1:
        _, pos = _uleb(body, pos)  # maximum
    return pos


def read_imports(path: Path) -> list[tuple[str, str, str]]:
    """(module, name, kind) of every import of the wasm file, in order."""
    body = _section(Path(path).read_bytes(), 2)
    if body is None:
        return []
    count, pos = _uleb(body, 0)
    imports = []
    for _ in range(count):
        module, pos = _name(body, pos)
        name, pos = _name(body, pos)
        kind = body[pos]
        pos += 1
        if kind == 0:  # function: type index
            _, pos = _uleb(body, pos)
        elif kind == 1:  # table: element type, limits
            pos = _skip_limits(body, pos + 1)
        elif kind == 2:  # memory: limits
            pos = _skip_limits(body, pos)
        elif kind == 3:  # global: value type, mutability
            pos += 2
        elif kind == 4:  # tag: attribute, type index
            _, pos = _uleb(body, pos + 1)
        else:
            raise ValueError(f"unknown wasm import kind {kind}")
        imports.append((module, name, KINDS[kind]))
    return imports


def read_exports(path: Path) -> list[tuple[str, str]]:
    """(name, kind) of every export of the wasm file, in order."""
    body = _section(Path(path).read_bytes(), 7)
    if body is None:
        return []
    count, pos = _uleb(body, 0)
    exports = []
    for _ in range(count):
        name, pos = _name(body, pos)
        kind = body[pos]
        _, pos = _uleb(body, pos + 1)
        exports.append((name, KINDS.get(kind, str(kind))))
    return exports


def imports_tvmjs_lacks(path: Path) -> list[str]:
    """The imports of the wasm file that WebLLM's tvmjs runtime does not provide, as module.name."""
    return [
        f"{module}.{name}"
        for module, name, kind in read_imports(path)
        if module not in TVMJS_IMPORT_MODULES or name not in TVMJS_IMPORTS or kind != "func"
    ]
