"""A bounded loopback load on the real `webslm serve`: 64 clients downloading byte ranges for a
few seconds, a fifth of them hanging up mid-transfer (bench/serve_load.py does the work).

Bounds asserted: no 5xx and no wrong byte; file descriptors back to the baseline afterwards and
never above baseline + 2 per client (a socket and a file each); RSS after the load within
64 MB of before, peak within 256 MB; the server reads at most one 256 KB chunk past what a
hung-up client took (it used to read the rest of the range: up to a whole shard).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("WEBSLM_LOAD_SECONDS", "5"))
CLIENTS = 64


def bench():
    spec = importlib.util.spec_from_file_location("serve_load", REPO / "bench" / "serve_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_concurrent_ranges_with_aborts(tmp_path):
    figures = bench().run_load(clients=CLIENTS, seconds=SECONDS, abort=0.2, dist=tmp_path / "dist",
                               shard_mb=16)
    print("\nserve load:", json.dumps(figures))
    assert figures["error_count"] == 0, figures["errors"]
    assert not [s for s in figures["statuses"] if int(s) >= 500], figures["statuses"]
    assert figures["completed"] > 100 and figures["aborted"] > 10, figures
    fds, rss = figures["fds"], figures["rss_mb"]
    assert fds["after"] <= fds["before"], fds
    assert fds["peak"] <= fds["before"] + 2 * CLIENTS + 8, fds
    assert rss["after"] <= rss["before"] + 64 and rss["peak"] <= rss["before"] + 256, rss
    extra = figures["server_read_mb"] - figures["delivered_mb"]
    assert extra <= figures["aborted"] * 0.25 * 1.2 + 16, figures  # one chunk per abort, + slack
