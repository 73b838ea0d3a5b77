"""The npm package `webslm` (web/package.json), checked without a browser: what `npm pack`
ships, the pins, the declarations against the module's real exports, and the two patterns
bundlers need (literal module workers, bare engine specifiers)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from npm_helpers import WEB, pack_listing

ENGINES = {"@mlc-ai/web-llm": "0.2.86", "@huggingface/transformers": "4.3.1", "@wllama/wllama": "3.13.0"}
# The one worker pattern bundlers follow (after "new Worker(").
WORKER = re.compile(r'new URL\("\./[\w-]+\.js", import\.meta\.url\), \{ type: "module" \}\)')
# Relative module references: static and dynamic imports, re-exports, worker URLs.
RELATIVE = re.compile(r"""(?:from\s+|import\s*\(\s*|import\s+|new URL\(\s*)["'](\.{1,2}/[^"']+\.js)["']""")


def code(path: Path) -> str:
    """A module's source without its comments (they quote the patterns checked here)."""
    source = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
    return re.sub(r"(^|\s)//[^\n]*", r"\1", source)


def reachable_modules(entry: Path) -> set[str]:
    """Every module file reachable from `entry` by relative references, relative to web/."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        rel = path.resolve().relative_to(WEB).as_posix()
        if rel in seen:
            continue
        seen.add(rel)
        todo += [(path.parent / ref) for ref in RELATIVE.findall(code(path))]
    return seen


def test_package_json_is_the_npm_package():
    manifest = json.loads((WEB / "package.json").read_text())
    assert manifest["name"] == "webslm" and not manifest.get("private")
    assert manifest["type"] == "module"
    assert manifest["exports"]["."] == {"types": "./webslm.d.ts", "default": "./webslm.js"}
    assert manifest["dependencies"] == ENGINES, "users get exactly the engines webslm builds for"
    assert "@wllama/wllama" not in manifest.get("devDependencies", {}), "wllama is a CPU engine of webslm.js"
    lock = json.loads((WEB / "package-lock.json").read_text())
    root = lock["packages"][""]
    assert (root["dependencies"], root["devDependencies"]) == (manifest["dependencies"], manifest["devDependencies"]), \
        "package-lock.json is stale: run `npm install --package-lock-only` in web/"


def test_pack_ships_the_library_and_nothing_else():
    listing = pack_listing()
    files = {f["path"] for f in listing["files"]}
    missing = reachable_modules(WEB / "webslm.js") - files
    assert not missing, f"modules webslm.js needs but the tarball lacks: {sorted(missing)}"
    assert {"package.json", "webslm.js", "webslm.d.ts"} <= files
    unexpected = [f for f in files if f.startswith(("node_modules/", "templates/", "bench/"))
                  or not f.endswith((".js", ".d.ts", ".json", ".md"))]
    assert not unexpected, f"no model, engine or page files in the package: {unexpected}"
    assert listing["size"] < 100_000, listing["size"]


def test_workers_and_engines_are_bundler_friendly():
    for path in sorted((WEB / "static").glob("*.js")):
        source = code(path)
        # Vite and webpack bundle a worker only from this literal pattern.
        for call in re.findall(r"new (?:Shared)?Worker\(([^\n]*)", source):
            assert WORKER.match(call) or call.startswith("URL.createObjectURL("), (path.name, call)
        # The engines come through engine-modules.js only: bare specifiers for bundlers.
        assert "../vendor/" not in source or path.name in {"engine-modules.js", "offline-sw.js"}, path.name
    modules = (WEB / "static" / "engine-modules.js").read_text()
    for name in ENGINES:
        assert f'import("{name}")' in modules, name


def test_declarations_cover_every_export(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run([node, "--input-type=module", "-e",
                          f"console.log(JSON.stringify(Object.keys(await import({json.dumps((WEB / 'webslm.js').as_uri())}))))"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    exported = set(json.loads(out))
    declared = set(re.findall(r"^export (?:declare )?(?:function|const|class|let) (\w+)", (WEB / "webslm.d.ts").read_text(), re.M))
    assert exported == declared, {"undeclared": sorted(exported - declared), "declared, not exported": sorted(declared - exported)}
