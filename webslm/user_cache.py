"""The one folder where webslm keeps what it derives once and reuses: the compiled web runtime
(runtime/), the GGUF's extracted config and tokenizer, merged tokenizer files. One root and one
environment variable, so a user can move or clear all of it at once."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "WEBSLM_CACHE"


def cache_root() -> Path:
    """$WEBSLM_CACHE, else $XDG_CACHE_HOME/webslm, else ~/.cache/webslm."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "webslm"
    return Path.home() / ".cache" / "webslm"
