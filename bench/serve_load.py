"""Loopback load on `webslm serve`: many concurrent byte-range downloads, some aborted mid-way.

Starts the real server (uvicorn, `python -m webslm.cli serve`) over a generated artifact folder,
runs N client threads for D seconds, each fetching random ranges of the model's files (a share
of them closing the socket after the first chunk), checks every completed range against the
file, and samples the server's open file descriptors, RSS and bytes read from /proc.

    python bench/serve_load.py --clients 64 --seconds 8 --abort 0.2

prints one JSON object: requests/s, MB/s, aborted count, fd and RSS before/peak/after, and
read amplification (bytes the server read / bytes it was asked to send before clients left).
tests/serve/test_load.py runs it for a few seconds and asserts the bounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from webslm.artifacts.files import model_folder, model_library

MODEL_ID = "load-q4f32_1"
PATH = f"/models/{model_folder(MODEL_ID)}"


def make_dist(root: Path, shard_mb: int = 24, shards: int = 2) -> dict[str, bytes]:
    """A catalog-valid artifact (manifest, chat config, wasm, shards); returns name -> bytes."""
    from webslm.artifacts.manifest import model_record, write_manifest

    out = root / MODEL_ID
    out.mkdir(parents=True)
    rng = random.Random(0)
    files = {f"params_shard_{i}.bin": rng.randbytes(shard_mb << 20) for i in range(shards)}
    files["tokenizer.json"] = json.dumps({"vocab": {f"t{i}": i for i in range(20000)}}).encode()
    files[model_library(MODEL_ID)] = b"\0asm\x01\0\0\0" + rng.randbytes(1 << 20)
    files["mlc-chat-config.json"] = json.dumps({"model_type": "llama", "quantization": "q4f32_1",
                                                "context_window_size": 1024}).encode()
    files["tensor-cache.json"] = json.dumps({"records": [{"dataPath": n, "name": n}
                                                         for n in files if n.startswith("params")]}).encode()
    files["tokenizer_config.json"] = b'{"chat_template": "{{ messages }}"}'
    for name, data in files.items():
        (out / name).write_bytes(data)
    write_manifest(out, toolchain={"tvm": "bench"},
                   build={"model": "load", "model_id": MODEL_ID, "quantization": "q4f32_1",
                          "context_window": 1024, "model_lib": model_library(MODEL_ID)},
                   source={"spec": "bench"},
                   record=model_record(MODEL_ID, model_library(MODEL_ID), False, 100.0, 1024))
    return files


@contextmanager
def running_server(dist: Path):
    """`webslm serve DIST --port 0` as a child process; yields (pid, port)."""
    proc = subprocess.Popen([sys.executable, "-m", "webslm.cli", "serve", str(dist), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, lines = time.time() + 90, []
        while time.time() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "serving on http://" in line:
                break
            if not line and proc.poll() is not None:
                raise RuntimeError("webslm serve exited:\n" + "".join(lines))
        else:
            raise RuntimeError("webslm serve did not start:\n" + "".join(lines))
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        yield proc.pid, int(line.rsplit(":", 1)[1].strip().strip("/"))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def proc_figures(pid: int) -> dict[str, float]:
    """Open fds, RSS (MB) and bytes read so far (rchar) of a process, from /proc."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return {"fds": fds, "rss_mb": rss_kb / 1024, "rchar": int(io["rchar"])}


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {"requests": 0, "completed": 0, "aborted": 0, "bytes": 0, "requested_bytes": 0}
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k == "status":
                    self.statuses[v] = self.statuses.get(v, 0) + 1
                elif k == "error":
                    self.errors.append(v)
                else:
                    self.counts[k] += v


def pick_range(rng: random.Random, size: int) -> tuple[str, int, int]:
    """A Range header and the inclusive byte span it asks for: mostly 64 KB-4 MB slices as
    WebLLM's fetches are, some open-ended, some suffix ranges."""
    kind = rng.random()
    if kind < 0.1:
        n = rng.randint(1, min(size, 1 << 20))
        return f"bytes=-{n}", size - n, size - 1
    start = rng.randrange(size)
    if kind < 0.2:
        return f"bytes={start}-", start, size - 1
    end = min(size - 1, start + rng.randint(1 << 16, 4 << 20))
    return f"bytes={start}-{end}", start, end


def client(port: int, files: dict[str, bytes], deadline: float, abort: float, seed: int, tally: Tally):
    rng = random.Random(seed)
    names = sorted(files)
    conn = None
    while time.monotonic() < deadline:
        name = rng.choice(names)
        data = files[name]
        header, start, end = pick_range(rng, len(data))
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", PATH + name, headers={"Range": header})
            resp = conn.getresponse()
            tally.add(requests=1, status=resp.status, requested_bytes=end - start + 1)
            if resp.status != 206:
                tally.add(error=f"{name} {header}: status {resp.status}")
                resp.read()
                continue
            if rng.random() < abort:  # read a little, then drop the connection (RST)
                tally.add(aborted=1, bytes=len(resp.read1(rng.randint(1, 1 << 16))))
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                conn = None
                continue
            body = resp.read()
            tally.add(completed=1, bytes=len(body))
            if body != data[start:end + 1]:
                tally.add(error=f"{name} {header}: wrong bytes ({len(body)} of {end - start + 1})")
            if resp.getheader("content-range") != f"bytes {start}-{end}/{len(data)}":
                tally.add(error=f"{name} {header}: content-range {resp.getheader('content-range')}")
        except (OSError, http.client.HTTPException) as err:
            tally.add(error=f"{name} {header}: {type(err).__name__}: {err}")
            conn.close()
            conn = None
    if conn:
        conn.close()


def settle(pid: int, baseline: dict, seconds: float = 15) -> dict:
    """The server's figures once its fds are back to the baseline (or the wait is over)."""
    deadline = time.monotonic() + seconds
    while True:
        now = proc_figures(pid)
        if now["fds"] <= baseline["fds"] or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def run_load(clients: int = 64, seconds: float = 8, abort: float = 0.2, dist: Path | None = None,
             shard_mb: int = 24) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="webslm-load-") as tmp:
        dist = dist or Path(tmp) / "dist"
        files = make_dist(dist, shard_mb=shard_mb)
        with running_server(dist) as (pid, port):
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            warm.request("GET", "/api/models.json")
            assert warm.getresponse().read()
            warm.close()
            time.sleep(0.3)
            before = proc_figures(pid)
            tally, peak = Tally(), dict(before)
            deadline = time.monotonic() + seconds
            threads = [threading.Thread(target=client, args=(port, files, deadline, abort, i, tally))
                       for i in range(clients)]
            started = time.monotonic()
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                now = proc_figures(pid)
                peak = {k: max(peak[k], now[k]) for k in ("fds", "rss_mb")}
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            after = settle(pid, before)
    c = tally.counts
    return {
        "clients": clients, "seconds": round(elapsed, 1), "abort_share": abort,
        "requests": c["requests"], "completed": c["completed"], "aborted": c["aborted"],
        "requests_per_s": round(c["requests"] / elapsed, 1),
        "mb_per_s": round(c["bytes"] / elapsed / 2**20, 1),
        "statuses": tally.statuses, "errors": tally.errors[:10], "error_count": len(tally.errors),
        "fds": {"before": before["fds"], "peak": peak["fds"], "after": after["fds"]},
        "rss_mb": {"before": round(before["rss_mb"]), "peak": round(peak["rss_mb"]),
                   "after": round(after["rss_mb"])},
        "server_read_mb": round((after["rchar"] - before["rchar"]) / 2**20, 1),
        "delivered_mb": round(c["bytes"] / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--abort", type=float, default=0.2, help="share of requests aborted mid-transfer")
    parser.add_argument("--shard-mb", type=int, default=24)
    args = parser.parse_args()
    print(json.dumps(run_load(args.clients, args.seconds, args.abort, shard_mb=args.shard_mb), indent=2))


if __name__ == "__main__":
    main()
