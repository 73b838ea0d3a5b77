"""Peak memory of a build's process tree, sampled from /proc.

Why not getrusage: Linux carries a parent's peak RSS into a child's ru_maxrss across fork
and exec. A build started by a driver that has just written a 2 GB random checkpoint reports
a 2 GB ru_maxrss whatever it used itself, and so do the emcc/wasm-ld processes the build
forks. VmHWM in /proc/<pid>/status is reset by exec, so it is a process's own peak; the sum
of VmRSS over the tree, sampled, is the memory the build holds at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _rss_kb(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def own_peak_kb(pid: int | str = "self") -> int:
    """VmHWM: the process's own peak RSS since its last exec."""
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class TreeSampler(threading.Thread):
    """Samples the RSS of `root` and all its descendants until stop() is called."""

    def __init__(self, root: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.tree_peak_kb = self.tools_peak_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            kids, tools = _children_map(), 0
            todo = list(kids.get(self.root, []))
            while todo:
                pid = todo.pop()
                tools += _rss_kb(pid)
                todo += kids.get(pid, [])
            self.tools_peak_kb = max(self.tools_peak_kb, tools)
            self.tree_peak_kb = max(self.tree_peak_kb, tools + _rss_kb(self.root))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
