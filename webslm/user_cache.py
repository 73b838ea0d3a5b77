"""The one folder where webslm keeps what it derives once and reuses: the compiled web runtime
(runtime/), the GGUF's extracted config and tokenizer, merged tokenizer files. One root and one
environment variable, so a user can move or clear all of it at once."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

CACHE_ENV = "WEBSLM_CACHE"


def cache_root() -> Path:
    """$WEBSLM_CACHE, else $XDG_CACHE_HOME/webslm, else ~/.cache/webslm."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "webslm"
    return Path.home() / ".cache" / "webslm"


# --- writing a directory so that a crash (even SIGKILL) never leaves a half one in sight ---


@contextlib.contextmanager
def claimed_dir(path: Path) -> Iterator[Path]:
    """Create `path` and hold an flock on it while the caller fills it. The kernel drops the
    lock when the process dies, so remove_unclaimed() can tell a dead writer's leftovers from
    a live writer's work without trusting pids (they are reused in containers)."""
    path.mkdir(parents=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def remove_unclaimed(parent: Path, pattern: str) -> list[Path]:
    """Delete the directories matching `pattern` in `parent` that no live process holds
    (left by a killed writer); returns what was deleted."""
    removed = []
    for path in sorted(parent.glob(pattern)) if parent.is_dir() else []:
        if not path.is_dir() or path.is_symlink():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live writer
        else:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_dirs(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE): a reader sees the
    old one or the new one, never neither. False when the system cannot, and nothing moved."""
    libc = _libc()
    if libc is None:
        return False
    rc = libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False  # filesystem or kernel without exchange support
    raise OSError(err, os.strerror(err), str(a), None, str(b))


@functools.cache
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "renameat2") else None


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC/EDQUOT, also when a library wrapped it in its own exception text."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(err) or "Disk quota exceeded" in str(err)
