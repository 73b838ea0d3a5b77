"""Nothing corrupt reaches the model (web/static/integrity.js), in headless Chromium.

Each test serves a copy of a real SmolLM2-135M build (hard links, so the session's build is
never touched: a file is corrupted by replacing it) and damages one file while the server
runs, as a broken upload or a stale CDN would. The load must fail naming the file and both
hashes, through createChat and through the chat page, and succeed once the good copy is
back, with nothing cleared in the browser. The WebLLM site sits behind a proxy that breaks
the first download of the first shard off half-way: the successful load must resume it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from browser_helpers import chromium, open_page, page_summary, webslm_serve
from flaky_proxy import flaky_proxy

from webslm.artifacts.manifest import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LOAD_S = 900

CREATE_CHAT = """async ([model, opts]) => {
    const { createChat } = await import('/webslm.js');
    try {
        const chat = await createChat({ model, ...opts });
        await chat.unload();
        return { ok: true };
    } catch (e) {
        return { ok: false, name: e.name, message: e.message, file: e.file, expected: e.expected,
                 actual: e.actual, needed: e.needed };
    }
}"""


def linked_copy(artifact: Path, into: Path) -> Path:
    """The artifact again, every file hard-linked (cheap, and the original stays intact)."""
    copy = into / artifact.name
    shutil.copytree(artifact, copy, copy_function=os.link)
    return copy


def manifest_files(artifact: Path) -> dict:
    return read_manifest(artifact)["files"]


@contextmanager
def damaged(path: Path, data: bytes):
    """Replace `path` by `data` (a new inode: the hard-linked original is untouched), then
    put the good copy back."""
    good = path.with_name(path.name + ".good")
    os.replace(path, good)
    path.write_bytes(data)
    try:
        yield
    finally:
        os.replace(good, path)


def flipped(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    return bytes(data)


def create_chat(ctx, url: str, model: str, **opts) -> dict:
    page = open_page(ctx, url, [])
    try:
        return page.evaluate(CREATE_CHAT, [model, opts])
    finally:
        page.close()


def chat_page_error(ctx, url: str, query: str = "") -> str:
    log: list[str] = []
    page = open_page(ctx, url + query, log)
    try:
        page.click("#load-button")
        page.wait_for_function("() => document.getElementById('app').dataset.state === 'error'",
                               polling=250, timeout=LOAD_S * 1000)
        return page.text_content("#error")
    finally:
        page.close()


def assert_caught(result: dict, name: str, files: dict, actual: str | None):
    assert result["ok"] is False and result["name"] == "IntegrityError", result
    assert result["file"] == name and name in result["message"], result
    assert result["expected"] == files[name]["sha256"] and files[name]["sha256"] in result["message"]
    if actual:
        assert result["actual"] == actual and actual in result["message"], result


# --- WebLLM -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def webllm_site(smollm2_artifact, tmp_path_factory):
    artifact = linked_copy(smollm2_artifact, tmp_path_factory.mktemp("integrity-dist"))
    shards = sorted(n for n in manifest_files(artifact) if n.startswith("params_shard_"))
    with webslm_serve(artifact) as upstream, flaky_proxy(upstream, cut={shards[0]}) as (url, log):
        yield artifact, url, log, shards


def test_storage_too_small_says_how_much_is_needed(webllm_site):
    """A quota smaller than the build fails with the megabytes the build needs, naming the
    file the browser refused. (Chromium's estimate() ignores a quota set through DevTools, so
    this is the refusal at Cache.put; the check before downloading reads the same estimate.)"""
    artifact, url, _log, _shards = webllm_site
    with chromium() as ctx:
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        origin = url.rstrip("/")
        cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 4 * 2**20})
        page.goto(url)
        page.wait_for_function("() => document.getElementById('app')?.dataset.ready === 'true'")
        # The site's offline service worker takes over the page, so WebLLM's module comes
        # through it: a copy it cannot store (quota full) must not fail the page's request.
        page.wait_for_function("() => !!navigator.serviceWorker.controller", timeout=30_000)
        result = page.evaluate(CREATE_CHAT, [artifact.name, {}])
    assert result["ok"] is False and result["name"] == "StorageFullError", result
    total = sum(f["bytes"] for f in manifest_files(artifact).values())
    assert result["needed"] == total, result
    assert f"{total / 2**20:.1f} MB" in result["message"] and "Delete cached models" in result["message"]
    assert result["file"] in manifest_files(artifact) and result["file"] in result["message"]


def test_flipped_byte_in_a_shard_is_caught_and_a_good_copy_then_loads(webllm_site):
    artifact, url, log, shards = webllm_site
    files = manifest_files(artifact)
    bad = artifact / shards[-1]
    data = flipped(bad)
    with chromium() as ctx:
        with damaged(bad, data):
            result = create_chat(ctx, url, artifact.name)
            assert_caught(result, bad.name, files, hashlib.sha256(data).hexdigest())
            error = chat_page_error(ctx, url)
            assert bad.name in error and files[bad.name]["sha256"] in error, error
        # The good copy is back: the next load works, nothing cleared by hand.
        assert create_chat(ctx, url, artifact.name) == {"ok": True}
        # Resumed: the shard cut off half-way was asked for again from where it stopped.
        first = [e for e in log if e["path"].endswith(shards[0])]
        assert first[0]["cut"] and any(e["status"] == 206 and e["range"] for e in first[1:]), first
        # Verified once: a later load reads the verified cache and does not fetch again
        # (the server now holding a bad copy would fail it otherwise).
        with damaged(bad, data):
            assert create_chat(ctx, url, artifact.name) == {"ok": True}
        page = open_page(ctx, url, [])
        verified = page.evaluate("""async ([url, sha256]) => {
            const { isVerified } = await import('/static/integrity.js');
            return isVerified(await (await caches.open('webllm/model')).match(url), { url, sha256 });
        }""", [url + f"models/{artifact.name}/resolve/main/{bad.name}", files[bad.name]["sha256"]])
        assert verified is True, page_summary(page)


def test_truncated_shard_is_caught(webllm_site):
    artifact, url, _log, shards = webllm_site
    files = manifest_files(artifact)
    bad = artifact / shards[len(shards) // 2]
    data = bad.read_bytes()[: files[bad.name]["bytes"] // 3]
    with chromium() as ctx, damaged(bad, data):
        result = create_chat(ctx, url, artifact.name)
        assert_caught(result, bad.name, files, hashlib.sha256(data).hexdigest())
        assert f"({len(data)} bytes)" in result["message"]
        error = chat_page_error(ctx, url)
        assert bad.name in error, error


EVICTING_LOAD = """async (model) => {
    const { createChat } = await import('/webslm.js');
    let evicted = 0;
    let evicting = null;
    // The browser evicts storage under pressure: here, every cached file of the build goes
    // the moment WebLLM starts copying weights from the cache to the GPU.
    const onProgress = (p) => {
        if (p.stage !== 'load' || evicting) return;
        evicting = caches.open('webllm/model').then(async (cache) => {
            for (const request of await cache.keys()) evicted += (await cache.delete(request)) ? 1 : 0;
        });
    };
    const chat = await createChat({ model, onProgress });
    await evicting;
    const reply = await chat.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }],
                                                       max_tokens: 2, temperature: 0 });
    await chat.unload();
    return { evicted, answered: reply.choices[0].message.content.length > 0 };
}"""


def test_cache_evicted_mid_load_is_downloaded_again_verified(webllm_site):
    artifact, url, _log, _shards = webllm_site
    with chromium() as ctx:
        page = open_page(ctx, url, [])
        result = page.evaluate(EVICTING_LOAD, artifact.name)
        assert result["evicted"] > 0 and result["answered"], result
        files = manifest_files(artifact)
        stored = page.evaluate("""async ([folder, files]) => {
            const { isVerified } = await import('/static/integrity.js');
            const cache = await caches.open('webllm/model');
            return Promise.all((await cache.keys()).filter((r) => r.url.startsWith(folder))
                .map(async (r) => [r.url.slice(folder.length), await isVerified(await cache.match(r),
                    { url: r.url, sha256: files[r.url.slice(folder.length)].sha256 })]));
        }""", [url + f"models/{artifact.name}/resolve/main/", files])
    assert stored and all(ok for _name, ok in stored), stored


# --- transformers.js (ONNX) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_site(smollm2_onnx_dist, tmp_path_factory):
    artifact = linked_copy(smollm2_onnx_dist / "smollm2-135m-cpu", tmp_path_factory.mktemp("integrity-onnx"))
    with webslm_serve(artifact) as url:
        yield artifact, url


@pytest.mark.parametrize("engine, name", [
    ("wllama", "gguf/model.Q8_0.gguf"),                         # the CPU engine's default
    ("transformers-wasm", "onnx/model_quantized.onnx_data"),    # q8: its ONNX model
])
def test_wrong_length_cpu_model_is_caught_and_a_good_copy_then_loads(onnx_site, engine, name):
    artifact, url = onnx_site
    files = manifest_files(artifact)
    bad = artifact / name
    with chromium(webgpu=False) as ctx:
        with damaged(bad, bad.read_bytes() + bytes(4096)):
            result = create_chat(ctx, url, artifact.name, engine=engine)
            assert_caught(result, name, files, None)
            assert "longer than the manifest says" in result["message"]
            error = chat_page_error(ctx, url, f"?engine={engine}")
            assert name in error and "integrity check" in error, error
        assert create_chat(ctx, url, artifact.name, engine=engine) == {"ok": True}
