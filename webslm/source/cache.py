"""Folders webslm derives from a source once (GGUF tokenizer/config, merged tokenizer files).

Kept under webslm's cache root (webslm/user_cache.py: $WEBSLM_CACHE), keyed by what
they were derived from, and filled atomically so an interrupted run never leaves half a folder.
"""

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from webslm.user_cache import cache_root


def cache_key(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


def staged_dir(kind: str, key: str, fill: Callable[[Path], None]) -> Path:
    """Return cache_root()/kind/key, calling fill(empty_dir) to create it the first time."""
    final = cache_root() / kind / key
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".partial-"))
    try:
        fill(tmp)
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():  # not a lost race with another process: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
