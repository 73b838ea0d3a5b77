"""Faults in the pipeline: `webslm build` killed (SIGKILL) at each stage, a full disk, and
damaged cache entries.

The kills are real: the build runs as a subprocess on a pseudo-terminal (so its progress bars
draw), is frozen with SIGSTOP the moment its own output or the files it writes show the wanted
stage, then SIGKILLed with its whole process group (emcc's children too). There are no test
hooks in webslm. After each kill: the earlier artifact of the same id still matches its
manifest's sha256 table, nothing half-built is visible in --out, and the next build succeeds
and clears the dead build's leftovers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from platform_limits import skip_platform_limit
from webslm.errors import WebslmError
from webslm.user_cache import clear_leftovers
from webslm.user_cache import CACHE_ENV

TARGET = "smollm2-135m-q0f32"
MANIFEST = "webslm-manifest.json"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


# --- the tiny source, and an earlier complete build of the same id -------------------------


@pytest.fixture(scope="module")
def tiny_src(tmp_path_factory, tiny_model, smollm2) -> Path:
    """The conftest tiny Llama (3M params) with SmolLM2's tokenizer: a build takes ~30 s."""
    out = tmp_path_factory.mktemp("fault-src") / "tiny-llama"
    tiny_model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(smollm2.tokenizer_dir / name, out / name)
    return out


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, tiny_src) -> Path:
    """A complete artifact, built once; each test works on its own copy."""
    out = tmp_path_factory.mktemp("fault-earlier")
    done = subprocess.run(build_cmd(tiny_src, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_intact(out / TARGET)
    return out / TARGET


@pytest.fixture
def dist(tmp_path, earlier) -> Path:
    out = tmp_path / "dist"
    shutil.copytree(earlier, out / TARGET)
    return out


def build_cmd(source, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "webslm.cli", "build", "smollm2-135m", "--source", str(source),
            "--q0f32", "--backend", "webgpu", "--context-window", "256", "--prefill-chunk", "64",
            "--out", str(out), "--recompile", *extra]  # the stages under test, not the cache


# --- checks ---------------------------------------------------------------------------------


def assert_intact(artifact: Path) -> None:
    """Every file the manifest lists has its bytes and sha256, and nothing else is there."""
    manifest = json.loads((artifact / MANIFEST).read_text())
    files = manifest["files"]
    assert {p.name for p in artifact.iterdir()} == {*files, MANIFEST}
    for name, expected in files.items():
        data = (artifact / name).read_bytes()
        assert len(data) == expected["bytes"], name
        assert hashlib.sha256(data).hexdigest() == expected["sha256"], name


def visible(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def staged(out: Path) -> Path | None:
    """The artifact a (dead) build was writing: .<id>.partial-<pid>/<id> (it may not have
    been created yet)."""
    found = sorted(out.glob(f".{TARGET}.partial-*"))
    return found[0] / TARGET if found else None


# --- the kill --------------------------------------------------------------------------------


def kill_when(cmd: list[str], when, env: dict | None = None, timeout: float = 300) -> str:
    """Run cmd on a pty; the moment when(output_so_far) is true, SIGSTOP then SIGKILL its
    process group. Returns the output it had printed. Fails if it ends before that."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # tqdm needs width
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    output, deadline = "", time.monotonic() + timeout
    try:
        while not when(output):
            assert time.monotonic() < deadline, f"stage never came:\n{output[-3000:]}"
            if select.select([master], [], [], 0.005)[0]:
                try:
                    output += os.read(master, 65536).decode(errors="replace")
                except OSError:  # EIO: the child closed the pty, i.e. ended
                    pass
            if proc.poll() is not None and not select.select([master], [], [], 0)[0]:
                pytest.fail(f"the build ended (rc {proc.returncode}) before the stage:\n"
                            f"{output[-3000:]}")
        os.killpg(proc.pid, signal.SIGSTOP)  # freeze it exactly here, then kill
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    assert proc.returncode == -signal.SIGKILL
    return output


def saw(text: str):
    return lambda output: text in output


def shard_on_disk(out: Path):
    """True once the build has started writing weight shards into its staging directory."""
    return lambda _output: any(out.glob(f".{TARGET}.partial-*/{TARGET}/params_shard_*.bin"))


# stage -> (trigger, files the staging artifact holds at the kill, files it must not hold yet).
# Converting and writing shards are one interleaved ~0.1 s window (each tensor is written as
# it is converted); SIGSTOP lands inside it: measured 2-6 MB of the 12.6 MB shard written.
STAGES = {
    "compile": (lambda out: saw(f"compile {TARGET} for WebGPU"), (), ("params_shard_0.bin",)),
    "convert": (lambda out: saw("convert weights"), (), ("tensor-cache.json",)),
    "shards": (shard_on_disk, ("params_shard_0.bin",), ("tensor-cache.json",)),
    "link": (lambda out: saw(f"link {TARGET}-webgpu.wasm"), ("tensor-cache.json",), (MANIFEST,)),
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_kill_keeps_the_earlier_artifact(stage, dist, tiny_src):
    trigger, present, absent = STAGES[stage]
    kill_when(build_cmd(tiny_src, dist, "--force"), trigger(dist))
    assert_intact(dist / TARGET)
    assert visible(dist) == [TARGET]  # nothing half-built under a visible name
    partial = staged(dist)
    assert partial is not None and not (partial / MANIFEST).exists()
    held = sorted(p.name for p in partial.iterdir()) if partial.is_dir() else []
    assert set(present) <= set(held) and not set(absent) & set(held), f"not at {stage}: {held}"


# --- a download killed halfway, from a local stand-in for the hub ---------------------------


class Hub(ThreadingHTTPServer):
    """Serves one folder as hub repo `repo_id` at one commit: the few endpoints that
    huggingface_hub's snapshot_download calls. `stall` holds one file halfway through."""

    daemon_threads = True

    def __init__(self, repo_id: str, folder: Path, stall: str):
        self.repo_id, self.stall = repo_id, stall
        self.files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        self.stalled, self.release = threading.Event(), threading.Event()
        super().__init__(("127.0.0.1", 0), _HubHandler)


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body: bool):
        hub, path = self.server, unquote(urlparse(self.path).path)
        api, resolve = f"/api/models/{hub.repo_id}/", f"/{hub.repo_id}/resolve/{COMMIT}/"
        if path.startswith(api + "revision/"):
            return self._json({"id": hub.repo_id, "sha": COMMIT,
                               "siblings": [{"rfilename": n} for n in hub.files]})
        if path.startswith(api + "tree/"):
            return self._json([{"type": "file", "path": n, "size": len(d),
                                "oid": hashlib.sha1(d).hexdigest()} for n, d in hub.files.items()])
        data = hub.files.get(path[len(resolve):]) if path.startswith(resolve) else None
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self._send(data, stall=path.endswith("/" + hub.stall) and not hub.release.is_set())

    def _send(self, data: bytes, stall: bool):
        try:
            if stall:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.server.stalled.set()
                self.server.release.wait(120)
                data = data[len(data) // 2:]
            self.wfile.write(data)
        except OSError:
            pass  # the client was killed

    def _json(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.slow
def test_after_kills_in_download_and_compile_the_same_command_succeeds(tmp_path, tiny_src):
    """No earlier artifact: a build killed mid-download publishes nothing, one killed while
    compiling leaves only its hidden staging directory, and the rerun of the first command
    (no --force) resumes the download, clears the dead build's staging and succeeds."""
    hub = Hub("org/tiny-llama", tiny_src, stall="model.safetensors")
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{hub.server_port}", HF_HOME=str(tmp_path / "hf"),
               HF_HUB_DISABLE_XET="1")
    dist, cmd = tmp_path / "dist", build_cmd("org/tiny-llama", tmp_path / "dist")
    try:
        kill_when(cmd, lambda _output: hub.stalled.is_set(), env=env)
        assert list((tmp_path / "hf").rglob("*.incomplete")), "not killed mid-download"
        assert not dist.exists() or visible(dist) == []
        kill_when(build_cmd(tiny_src, dist), STAGES["compile"][0](dist))
        assert visible(dist) == [] and staged(dist) is not None
        hub.release.set()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    finally:
        hub.release.set()
        hub.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    assert visible(dist) == [TARGET] and hidden(dist) == []
    assert_intact(dist / TARGET)


def test_next_build_clears_a_dead_build_and_restores_a_half_swapped_one(tmp_path):
    """Without atomic exchange the swap is two renames: a kill between them leaves the old
    artifact under .<id>.old-<pid> and no target. The next build puts it back, and removes
    staging directories that no live process holds."""
    target = tmp_path / TARGET
    old = tmp_path / f".{TARGET}.old-4242"
    old.mkdir()
    (old / "marker").write_text("earlier build")
    (tmp_path / f".{TARGET}.partial-4242" / TARGET).mkdir(parents=True)
    clear_leftovers(target)
    assert (target / "marker").read_text() == "earlier build"
    assert hidden(tmp_path) == []


# --- a full disk -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path, earlier):
    """A real tmpfs with room for the earlier artifact plus 4 MB: the new build cannot fit."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    size_kb = sum(p.stat().st_size for p in earlier.iterdir()) // 1024 + 4096
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount)],
                          capture_output=True, text=True) if shutil.which("mount") else None
    if done is None or done.returncode != 0:
        skip_platform_limit("cannot mount a small tmpfs to fill (needs root with CAP_SYS_ADMIN): "
                            + (done.stderr.strip() if done else "no mount command"))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_leaves_nothing(small_disk, earlier, tiny_src):
    dist = small_disk / "dist"
    shutil.copytree(earlier, dist / TARGET)
    done = subprocess.run(build_cmd(tiny_src, dist, "--force"), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    error = next(line for line in done.stderr.splitlines() if line.startswith("webslm: error:"))
    assert f"no space left on device while writing params_shard_0.bin to {dist / TARGET}" in error
    need_mb = int(error.split("need about ")[1].split()[0])
    assert need_mb >= 17  # the q0f32 artifact is ~17 MB
    assert "--out" in done.stderr  # the fix names a way out
    assert visible(dist) == [TARGET] and hidden(dist) == []
    assert_intact(dist / TARGET)


# --- damaged cache entries ----------------------------------------------------------------


@pytest.fixture
def runtime_copy(tmp_path, monkeypatch) -> Path:
    """A copy of this toolchain's compiled web runtime in a private cache (never recompile
    the real one: wasm_runtime.cc alone takes minutes)."""
    from webslm.compile.webruntime import runtime

    real = runtime.runtime_dir()
    if not real.is_dir() or runtime.damaged_objects(real):
        pytest.skip(f"no complete compiled web runtime in {real} to copy")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    copy = runtime.runtime_dir()
    shutil.copytree(real, copy)
    return copy


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_damaged_runtime_objects_are_detected(runtime_copy):
    from webslm.compile.webruntime import runtime

    runtime.ensure_runtime_objects()  # records bytes and sha256 in an older entry's build.json
    assert "objects" in json.loads((runtime_copy / "build.json").read_text())
    wasm, support, webgpu, *_ = runtime._objects_in(runtime_copy)
    _truncate(wasm)
    flipped = bytearray(support.read_bytes())
    flipped[-1] ^= 0xFF
    support.write_bytes(bytes(flipped))
    webgpu.unlink()
    damaged = runtime.damaged_objects(runtime_copy)
    assert "expected" in damaged["wasm_runtime"]
    assert damaged["tvmjs_support"] == "sha256 differs from build.json"
    assert damaged["webgpu_runtime"] == "missing"


def test_truncated_object_in_an_entry_without_hashes_is_detected(runtime_copy):
    """Entries made before build.json had hashes still get a structural wasm check."""
    from webslm.compile.webruntime import runtime

    info = json.loads((runtime_copy / "build.json").read_text())
    info.pop("objects", None)
    (runtime_copy / "build.json").write_text(json.dumps(info))
    _truncate(runtime_copy / "wasm_runtime.o")
    assert runtime.damaged_objects(runtime_copy)["wasm_runtime"].startswith("truncated")


@pytest.mark.slow
def test_damaged_runtime_entry_recompiles_only_the_bad_object(runtime_copy):
    """tvmjs_support.o is the cheapest object to rebuild (~15 s); wasm_runtime.o is kept."""
    from webslm.compile.webruntime import runtime

    before = {p.name: p.read_bytes() for p in runtime._objects_in(runtime_copy)}
    _truncate(runtime_copy / "tvmjs_support.o")
    messages: list[str] = []
    objects = runtime.ensure_runtime_objects(progress=messages.append)
    assert any("damaged (tvmjs_support.o: " in m for m in messages), messages
    compiled = [m for m in messages if m.startswith("compiling web runtime:")]
    assert compiled == ["compiling web runtime: tvmjs_support.cc"]
    assert runtime.damaged_objects(runtime_copy) == {}
    after = {p.name: p.read_bytes() for p in objects}
    for name in ("wasm_runtime.o", "webgpu_runtime.o"):  # kept as they were
        assert after[name] == before[name]
    assert runtime.wasm_problem(runtime_copy / "tvmjs_support.o") is None
    assert not [p for p in runtime_copy.parent.iterdir() if ".tmp-" in p.name]  # no work dirs left


def test_damaged_source_cache_entry_is_derived_again(tmp_path, monkeypatch):
    from webslm.source.cache import staged_dir

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    fills = []

    def fill(out: Path) -> None:
        fills.append(out)
        (out / "tokenizer.json").write_text('{"model": "' + "x" * 1000 + '"}')
        (out / "config.json").write_text("{}")

    entry = staged_dir("tokenizer", "k", fill)
    good = (entry / "tokenizer.json").read_bytes()
    assert staged_dir("tokenizer", "k", fill) == entry and len(fills) == 1
    _truncate(entry / "tokenizer.json")  # half-written by hand or by a failing disk
    assert (staged_dir("tokenizer", "k", fill) / "tokenizer.json").read_bytes() == good
    (entry / "config.json").unlink()
    staged_dir("tokenizer", "k", fill)
    assert len(fills) == 3 and (entry / "config.json").exists()


def test_a_killed_fill_leaves_no_entry_and_its_leftovers_go(tmp_path, monkeypatch):
    from webslm.source.cache import staged_dir

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    leftover = tmp_path / "cache" / "gguf" / ".partial-k-4242"  # a dead run's half fill
    leftover.mkdir(parents=True)
    (leftover / "tokenizer.json").write_text("{")

    def fail(_out: Path) -> None:
        raise WebslmError("simulated", "none")

    with pytest.raises(WebslmError):
        staged_dir("gguf", "k", fail)
    assert list((tmp_path / "cache" / "gguf").iterdir()) == []
    entry = staged_dir("gguf", "k", lambda out: (out / "config.json").write_text("{}"))
    assert sorted(p.name for p in entry.parent.iterdir()) == ["k", "k.files.json"]
