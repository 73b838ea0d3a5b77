"""The README's screenshots, taken from real runs so they stay true to the pages: the chat page
answering with SmolLM2-135M on WebLLM (forced with ?engine=webllm: on a machine without a GPU
the page would rightly pick WASM over SwiftShader's WebGPU), the same in the dark scheme and at
phone width, and the form demo filled by the ONNX build on WASM (a browser without WebGPU).

    .venv/bin/webslm build smollm2-135m --out dist     # both builds (make demo does this)
    .venv/bin/python docs/screenshots/capture.py dist  # writes docs/screenshots/*.png

Nothing is staged: the model loads over `webslm serve`'s app and answers what is asked here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webslm.bench.chromium import chromium_page
from webslm.bench.server import running
from webslm.serve.app import create_app
from webslm.serve.layout import default_web_root

HERE = Path(__file__).resolve().parent
QUESTION = "Give me three tips for a good night's sleep."
ANSWER_TOKENS = 48
# name -> (page, width, height, colour scheme); the README shows each of these files.
SHOTS = {
    "chat.png": ("chat", 1280, 860, "light"),
    "chat-dark.png": ("chat", 1280, 860, "dark"),
    "phone.png": ("chat", 375, 740, "light"),
    "form.png": ("form", 1280, 900, "light"),
}
WAIT_MS = 20 * 60 * 1000  # SwiftShader decodes a token a second or so


def wait_state(page, *states: str):
    page.wait_for_function("(s) => s.includes(document.getElementById('app').dataset.state)",
                           arg=[*states, "error"], polling=500, timeout=WAIT_MS)
    state = page.evaluate("() => document.getElementById('app').dataset.state")
    if state not in states:
        raise SystemExit(f"the page shows an error: {page.text_content('#error')}")


def chat_answered(page):
    """The chat page after one greedy answer."""
    page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    page.evaluate("""(n) => { const set = (id, v) => { const el = document.getElementById(id);
        el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); };
        set('temperature', 0); set('max-tokens', n); }""", ANSWER_TOKENS)
    page.click("#load-button")
    wait_state(page, "ready")
    page.fill("#prompt", QUESTION)
    page.press("#prompt", "Enter")
    page.wait_for_function("() => document.getElementById('app').dataset.state === 'generating'")
    wait_state(page, "ready")
    return page


def form_filled(page):
    """The form demo after filling from its example text."""
    page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    page.click("#example")
    page.click("#fill")
    wait_state(page, "filled")
    return page


def shoot(page, out: Path, names: list[str]):
    for name in names:
        _, width, height, scheme = SHOTS[name]
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("() => document.activeElement?.blur()")  # no focus ring in the picture
        if width < 600:  # a phone shows the conversation, not the model picker above it
            page.evaluate("() => document.querySelector('.message.assistant')?.scrollIntoView({block: 'center'})")
        page.screenshot(path=str(out / name))
        print(f"wrote {out / name}", flush=True)


def capture(dist: Path, out: Path):
    builds = sorted(p for p in dist.iterdir() if (p / "webslm-manifest.json").is_file())
    if not any((p / "mlc-chat-config.json").is_file() for p in builds) or not any((p / "onnx").is_dir() for p in builds):
        raise SystemExit(f"{dist} needs a WebLLM build and an ONNX build: "
                         "run `webslm build smollm2-135m --out DIST` first")
    out.mkdir(parents=True, exist_ok=True)
    by_page = {kind: [n for n, shot in SHOTS.items() if shot[0] == kind] for kind in ("chat", "form")}
    # The page picks the engine and build: WebLLM where WebGPU is, the ONNX build where not.
    log: list[str] = []
    with running(create_app(builds, default_web_root())) as url:
        with chromium_page(url + "?engine=webllm", gpu=False, log=log) as page:
            shoot(chat_answered(page), out, by_page["chat"])
        with chromium_page(url + "form.html", gpu=False, log=log, webgpu=False) as page:
            shoot(form_filled(page), out, by_page["form"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dist", type=Path, help="a dist/ with SmolLM2's WebLLM and ONNX builds")
    ap.add_argument("--out", type=Path, default=HERE, help="where the PNGs go (default: here)")
    args = ap.parse_args(argv)
    capture(args.dist, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
