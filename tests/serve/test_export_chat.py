"""`webslm export-site` output on a plain static file server (the Python snippet documented
in docs/EMBEDDING.md), mounted under /webslm/ of a host "app" the way an existing web app
would embed it: the exported chat page answers, and the copy-paste example from
docs/EMBEDDING.md, at another path of that app, works as written. Real SmolLM2, real
browser; one model load per page, a few tokens per answer."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from browser_helpers import WEBSLM, ask, attach_log, chromium, load_model, open_page, set_sampling
from serve_helpers import documented_static_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]
REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "EMBEDDING.md"


def doc_example() -> str:
    """The first ```html block of the quick start in docs/EMBEDDING.md, as written."""
    quick = DOC.read_text().split("## Quick start", 1)[1]
    return re.search(r"```html\n(.*?)```", quick, re.S).group(1)


@pytest.fixture(scope="module")
def host(smollm2_dist, tmp_path_factory):
    """http://127.0.0.1:<port>/ serving {webslm/: the export, app/index.html: the doc example}."""
    root = tmp_path_factory.mktemp("host-app")
    subprocess.run([str(WEBSLM), "export-site", str(smollm2_dist), "--out", str(root / "webslm")],
                   check=True, capture_output=True, text=True)
    (root / "app").mkdir()
    (root / "app" / "index.html").write_text(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>An existing app</title>"
        "<link rel=icon href='data:,'></head>\n<body>\n<h1>An existing app</h1>\n"
        + doc_example() + "\n</body></html>\n")
    with documented_static_server(root, "webslm/") as base, chromium() as ctx:
        yield base, ctx


def test_exported_chat_page_answers_under_a_sub_path(host):
    base, ctx = host
    log: list[str] = []
    page = open_page(ctx, base + "webslm/", log)
    try:
        load_model(page, log)
        set_sampling(page, temperature=0, max_tokens=12)
        answer = ask(page, "What is the capital of France?", log)
        assert "Paris" in answer["text"] and answer["chunks"] > 1, (answer, log[-20:])
        requested = page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
        assert all(u.startswith(base) for u in requested), "everything comes from the static host"
    finally:
        page.close()  # frees its worker and GPU memory before the next page loads a model


def test_docs_example_works_from_another_path(host):
    base, ctx = host
    log: list[str] = []
    page = ctx.new_page()
    attach_log(page, log)
    page.goto(base + "app/")
    # The drop-in element is defined and rendered (it loads its model only on a message).
    assert page.wait_for_function(
        "() => document.querySelector('webslm-chat')?.shadowRoot?.querySelector('textarea') != null")
    page.click("#ask")
    try:
        page.wait_for_function("() => document.getElementById('answer').textContent.includes('Paris')",
                               polling=1000, timeout=900_000)
    except Exception as err:
        raise AssertionError(page.text_content("#status") + "\n" + "\n".join(log[-30:])) from err
    assert page.text_content("#status") == "Ready: smollm2-135m-q4f32_asym"
    assert not [line for line in log if line.startswith(("pageerror", "http 4", "http 5"))], log
