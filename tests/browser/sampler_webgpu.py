"""Run single functions of a WebGPU model library in headless Chromium (SwiftShader) through
tvmjs, the runtime inside the WebLLM bundle, with NumPy inputs and outputs.

WebLLM does not export tvmjs, so the served tree holds a copy of its index.js with one export
line appended (the bundle's own tvmjs object, found by the name WebLLM calls instantiate on).
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import numpy as np

try:  # imported as tests.browser.sampler_webgpu
    from .harness import WEBLLM_LIB, HarnessError, browser_page
    from .static_server import StaticServer
except ImportError:  # tests/browser on sys.path (tests/conftest.py)
    from harness import WEBLLM_LIB, HarnessError, browser_page
    from static_server import StaticServer

HERE = Path(__file__).resolve().parent


def tvmjs_shim(webllm_js: str) -> str:
    """WebLLM's bundle plus `export { <its tvmjs object> as webslmTvmjs }`."""
    # str.find, not a regex: the bundle embeds megabytes of base64 that make `[\w$]+\.x`
    # backtrack for about a minute.
    end = webllm_js.find(".instantiate(wasm.buffer")
    if end < 0:
        raise HarnessError("cannot find tvmjs inside the WebLLM bundle (instantiate call moved)")
    start = end
    while start > 0 and (webllm_js[start - 1].isalnum() or webllm_js[start - 1] in "_$"):
        start -= 1
    return f"{webllm_js}\nexport {{ {webllm_js[start:end]} as webslmTvmjs }};\n"


def _arg(a: np.ndarray) -> dict:
    """An array for the page: base64 of its bytes (Playwright serialises number lists slowly)."""
    a = np.ascontiguousarray(a)
    assert a.dtype in (np.float32, np.int32, np.uint32), a.dtype
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "b64": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def _array(o: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(o["b64"]), np.dtype(o["dtype"]).newbyteorder("<")
                         ).astype(o["dtype"]).reshape(o["shape"])


def case(fn: str, *args: np.ndarray, inplace: bool = False, tuple_out: bool = False) -> dict:
    """One call of `fn` (float32 / int32 / uint32 arrays, WebLLM's argument order)."""
    return {"fn": fn, "args": [_arg(a) for a in args], "inplace": inplace, "tuple": tuple_out}


def _shared(cases: list[dict]) -> tuple[list[dict], list[dict]]:
    """(arrays, cases) with each array that cases pass unedited sent once, by reference (the
    DevTools pipe holds 100 MB: a model's weights passed to many cases would overflow it)."""
    arrays, index = [], {}
    out = []
    for c in cases:
        args = []
        for i, a in enumerate(c["args"]):
            if c["inplace"] and i == 0:
                args.append(a)
                continue
            key = (a["dtype"], tuple(a["shape"]), a["b64"])
            if key not in index:
                index[key] = len(arrays)
                arrays.append(a)
            args.append({"ref": index[key]})
        out.append(c | {"args": args})
    return arrays, out


def run_kernels(lib_path: Path, cases: list[dict], timeout: float = 180) -> tuple[list, str, list]:
    """Load lib_path on WebGPU and run the cases; return (outputs per case as lists of NumPy
    arrays, the adapter's name, the browser log). Raises RuntimeError with the log on failure."""
    log: list[str] = []
    with tempfile.TemporaryDirectory(prefix="webslm-sampler-") as root:
        root = Path(root)
        (root / "tvmjs.js").write_text(tvmjs_shim((WEBLLM_LIB / "index.js").read_text()))
        for name in ("sampler_page.html", "sampler_page.js"):
            (root / name).symlink_to(HERE / name)
        (root / "lib.wasm").symlink_to(Path(lib_path).resolve())
        with StaticServer(root) as server:
            arrays, cases = _shared(cases)
            cfg = {"tvmjs_url": "/tvmjs.js", "lib_url": "/lib.wasm", "arrays": arrays,
                   "cases": cases}
            with browser_page(server.url + "/sampler_page.html", log, timeout=timeout) as page:
                page.set_default_timeout(timeout * 1000)
                report = page.evaluate("(cfg) => window.webslmRunKernels(cfg)", cfg)
    if report.get("error"):
        raise RuntimeError(report["error"] + "\n" + "\n".join(log[-30:]))
    gpu_errors = [line for line in log if "GPUUncapturedErrorEvent" in line]
    if gpu_errors:  # an invalid shader leaves its outputs as they were: never a result
        raise RuntimeError(f"{len(gpu_errors)} WebGPU errors\n" + "\n".join(log[-30:]))
    outputs = [[_array(o) for o in outs]
               for outs in report["results"]]
    log.append(f"timings (ms since start): {report.get('timings')}")
    return outputs, report["adapter"], log
