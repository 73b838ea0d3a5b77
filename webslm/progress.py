"""Progress display for the build's long steps.

Weight conversion has a real count (tensors). Compilation and linking are single calls
into TVM and emcc with no progress of their own, so they get an elapsed-time bar that
ticks while the call runs: the user sees the step is alive and how long it takes.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterator

from tqdm import tqdm


@contextlib.contextmanager
def stage(description: str) -> Iterator[None]:
    """An elapsed-time bar for a step of unknown length."""
    bar = tqdm(desc=description, total=None, bar_format="{desc}: {elapsed} {postfix}",
               file=sys.stderr, disable=None)
    done = threading.Event()

    def tick():
        while not done.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
        bar.set_postfix_str("done")
    finally:
        done.set()
        ticker.join()
        bar.close()


def count(description: str, total: int, unit: str) -> tqdm:
    """A counted bar (weight conversion: tensors)."""
    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=None)
