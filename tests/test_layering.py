"""The dependency rules docs/ARCHITECTURE.md states, held by reading the imports: records,
the ONNX backend, verify and serve read what they need without TVM; serve never reaches the
compiler; the compiler reads architecture records without importing them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "webslm"

# where no module imports TVM itself (arch/<name>/model.py is the compiler's and may)
TVM_FREE = ("arch", "onnx", "verify", "convert", "serve", "artifacts", "source", "quantize",
            "registry.py")


def _imports(path: Path, type_checking: bool = False) -> list[tuple[str, int]]:
    """Modules a file imports (dotted, with the line), leaving out `if TYPE_CHECKING:` blocks
    unless asked for them."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    if not type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
    return found


def _files(top: str) -> list[Path]:
    path = PACKAGE / top
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def test_records_onnx_verify_and_serve_import_no_tvm_themselves():
    offenders = [
        f"{f.relative_to(PACKAGE)}:{line} imports {mod}"
        for top in TVM_FREE for f in _files(top)
        # an architecture's TVM model and its kernels, imported only by the compiler
        if not (top == "arch" and f.name in ("model.py", "kernels.py"))
        for mod, line in _imports(f) if mod.split(".")[0] in ("tvm", "tvm_ffi")]
    assert not offenders, "\n".join(offenders)


def test_serve_never_imports_the_compiler():
    offenders = [f"{f.relative_to(PACKAGE)}:{line} imports {mod}"
                 for f in _files("serve") for mod, line in _imports(f)
                 if mod.startswith(("webslm.compile", "webslm.pipeline", "webslm.arch"))]
    assert not offenders, "\n".join(offenders)


def test_the_compiler_reads_records_without_importing_them():
    offenders = [f"{f.relative_to(PACKAGE)}:{line} imports {mod}"
                 for f in _files("compile") for mod, line in _imports(f)
                 if mod.startswith("webslm.arch")]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("module", ["webslm.arch", "webslm.registry", "webslm.serve.app",
                                    "webslm.onnx.export", "webslm.convert.kept_adapter",
                                    "webslm.artifacts.manifest", "webslm.cli"])
def test_importing_leaves_tvm_unloaded(module):
    """Reading a record (or starting the CLI, or the server) must not pay for TVM's import."""
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'tvm'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"{module} loads TVM"


def test_every_architecture_folder_is_listed():
    """ALL lists the folders explicitly; a folder missing from it would be silently unbuilt."""
    import webslm.arch as arch

    folders = {p.name for p in (PACKAGE / "arch").iterdir() if (p / "__init__.py").is_file()}
    listed = {a.model.split(":")[0].split(".")[2] for a in arch.ALL}
    assert listed == folders
