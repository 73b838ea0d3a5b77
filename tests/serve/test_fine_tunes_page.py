"""The chat page with a base build and a fine-tune of it ("base + adapter", fake builds: they
list, nothing loads): the picker shows the fine-tune with its base and sizes it by what it
adds; the storage panel counts the shared shards once, under the base; deleting the fine-tune
keeps them, and each deletion says what it frees and what downloads again."""

from __future__ import annotations

import pytest

from browser_helpers import chromium, open_page, wait_state, webslm_serve
from serve_helpers import make_adapter_artifact, make_artifact
from test_layout_a11y import check_axe, check_layout

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BASE, TUNED = "tiny-q4f32_1", "tiny-tuned-q4f32_1"

# Every file of every listed build, downloaded and verified by integrity.js into WebLLM's
# cache: what a load of each would leave behind.
FILL_CACHE = """async () => {
    const { downloadVerified } = await import('./static/integrity.js');
    const cache = await caches.open('webllm/model');
    for (const m of window.webslmPage.listing.models) {
        for (const [name, f] of Object.entries(m.files)) {
            await downloadVerified(cache, { name, url: new URL(name, m.record.model).href, sha256: f.sha256, bytes: f.bytes });
        }
    }
    await window.webslmPage.cache.refresh();
}"""
ROWS = """() => Object.fromEntries([...document.querySelectorAll('#cached-models li')].map((li) =>
    [li.dataset.model, {bytes: Number(li.dataset.bytes), cached: li.dataset.cached, text: li.textContent}]))"""
CACHED_URLS = """async () => (await (await caches.open('webllm/model')).keys()).map((r) => r.url)"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    dist = tmp_path_factory.mktemp("pair")
    make_adapter_artifact(dist, TUNED, make_artifact(dist, BASE))
    with webslm_serve(dist) as url, chromium(bypass_csp=True) as ctx:  # axe-core is injected
        yield url, ctx


def test_picker_and_storage_panel_show_shared_weights_once(site):
    url, ctx = site
    log: list[str] = []
    page = open_page(ctx, url, log)
    wait_state(page, "idle", log, 30)
    listing = page.evaluate("() => window.webslmPage.listing.models.map((m) => "
                            "({id: m.id, base: m.base, size: m.size_bytes, shared: m.shared_bytes, "
                            "files: m.files, folder: m.record.model}))")
    base, tuned = (next(m for m in listing if m["id"] == i) for i in (BASE, TUNED))
    assert tuned["base"] == BASE and base["base"] is None

    picker = page.evaluate("""() => [...document.getElementById('model-select').children].map((c) =>
        c.tagName === 'OPTGROUP' ? [c.label, [...c.children].map((o) => [o.value, o.textContent])]
                                 : [c.value, c.textContent])""")
    assert [p[0] for p in picker] == ["tiny", "tiny-tuned", "Specific builds", f"Fine-tunes of {BASE}"]
    assert picker[1][1].startswith("tiny-tuned, fine-tune of tiny ")
    assert [o[0] for o in picker[2][1]] == [BASE]  # the base once
    (value, label), = picker[3][1]
    size = page.evaluate("async (n) => (await import('./webslm.js')).formatBytes(n)", tuned["size"])
    assert value == TUNED and label == f"{TUNED} · adds {size} to {BASE}"  # what it adds

    # integrity.js keys the fine-tune's file table by new URL(name, folder): its shared shard
    # is checked at the base's URL, the one WebLLM fetches (new URL(dataPath, modelUrl)).
    keys = page.evaluate("""async (id) => { const { buildFiles } = await import('./static/build-cache.js');
        const { listing } = window.webslmPage;
        return [...buildFiles(listing.models.find((m) => m.id === id), listing.base).keys()]; }""", TUNED)
    assert base["folder"] + "params_shard_0.bin" in keys and tuned["folder"] + "adapter_shard_0.bin" in keys

    table = page.evaluate("() => [...document.querySelectorAll('.model-table tbody tr')].map((r) => r.cells[0].textContent + ' | ' + r.cells[2].textContent)")
    assert table[1].startswith(f"{TUNED} (fine-tune of {BASE}) | +"), table  # what it adds

    page.select_option("#model-select", TUNED)
    status = page.text_content("#gpu-status")
    assert f"of {BASE}'s weights unless they are already cached" in status, status

    page.evaluate(FILL_CACHE)
    rows = page.evaluate(ROWS)
    base_own = sum(f["bytes"] for n, f in base["files"].items() if n != "tokenizer_config.json")
    assert rows[BASE]["bytes"] == base_own and rows[BASE]["cached"] == "true"
    assert rows[TUNED]["bytes"] == tuned["size"] and rows[TUNED]["cached"] == "true"  # own files only
    assert f"fine-tune of {BASE}" in rows[TUNED]["text"] and "counted there" in rows[TUNED]["text"]
    # The panel's rows add up to what is stored: the shared shard once.
    stored = len(set(page.evaluate(CACHED_URLS)))
    assert stored == len(base["files"]) + len(tuned["files"]) - 1

    check_layout(page, "chat", "fine-tune picker")
    check_axe(page, "fine-tune picker", widths=(320, 1280))

    # Deleting the fine-tune frees its own files; the base's shard stays, for the base.
    shard = base["folder"] + "params_shard_0.bin"
    page.click("#delete-cache")
    page.wait_for_function(f"() => document.querySelector(\"#cached-models li[data-model='{TUNED}']\")"
                           "?.dataset.cached === 'false'")
    assert f"shares with {BASE} stay cached" in page.text_content("#cache-status")
    urls = page.evaluate(CACHED_URLS)
    assert shard in urls and not [u for u in urls if u.startswith(tuned["folder"])]
    assert page.evaluate(ROWS)[BASE]["cached"] == "true"

    # Deleting the base says its fine-tune downloads the shared weights again.
    page.select_option("#model-select", BASE)
    page.click("#delete-cache")
    page.wait_for_function(f"() => document.querySelector(\"#cached-models li[data-model='{BASE}']\")"
                           "?.dataset.cached === 'false'")
    assert f"Its fine-tunes {TUNED} use the same weights" in page.text_content("#cache-status")
    assert shard not in page.evaluate(CACHED_URLS)
    page.close()
