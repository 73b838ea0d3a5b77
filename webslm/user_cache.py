"""The one folder where webslm keeps what it derives once and reuses: the compiled web runtime
(runtime/), the GGUF's extracted config and tokenizer, merged tokenizer files. One root and one
environment variable, so a user can move or clear all of it at once.

Also how anything webslm writes, a cache entry or a build, appears whole or not at all:
written in a claimed hidden sibling, swapped into place, leftovers of killed runs cleared."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from webslm.errors import WebslmError

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


def write_atomically(target: Path, write: Callable[[Path], None],
                     need_bytes: Callable[[], int] = lambda: 0) -> None:
    """write(staging) into a hidden sibling directory, then swap it in; never half a target.
    Leftovers of a killed earlier build of this id are cleared first; a full disk ends as a
    WebslmError with nothing left behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(target)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with claimed_dir(staging):  # the artifact is written inside, under its own name
            out = staging / target.name
            write(out)
            replace_dir(out, target)
    except Exception as err:
        if is_disk_full(err):
            raise disk_full_error(err, staging, target, need_bytes) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def clear_leftovers(target: Path) -> None:
    """Remove the staging (and, without atomic exchange, old-copy) directories a killed build
    of `target` left in its folder; an old copy is put back if the kill came mid-swap."""
    for old in sorted(target.parent.glob(f".{target.name}.old-*")):
        if not target.exists():
            old.rename(target)  # killed between the two renames of replace_dir's fallback
    remove_unclaimed(target.parent, f".{target.name}.partial-*")
    remove_unclaimed(target.parent, f".{target.name}.old-*")


def disk_full_error(err: BaseException, staging: Path, target: Path,
                    need_bytes: Callable[[], int]) -> WebslmError:
    """What was being written where, and about how much room the artifact needs."""
    files = [p for p in staging.rglob("*") if p.is_file()] if staging.is_dir() else []
    written = sum(p.stat().st_size for p in files)
    name = getattr(err, "filename", None)
    what = Path(name).name if name else (
        max(files, key=lambda p: p.stat().st_mtime).name if files else "the artifact")
    try:
        estimate = need_bytes()
    except Exception:  # an estimate must not hide the real error
        estimate = 0
    need_mb = max(estimate, written) / 1e6 + 1
    free_mb = (shutil.disk_usage(target.parent).free + written) / 1e6  # once staging is gone
    return WebslmError(
        f"no space left on device while writing {what} to {target}: need about "
        f"{need_mb:.0f} MB free (about {free_mb:.0f} MB are); nothing was left behind",
        "free some space on that disk, or pass --out DIR on a disk with more room")


def replace_dir(staging: Path, target: Path) -> None:
    """Swap the finished staging directory into place; the old one goes only afterwards.
    With an atomic exchange the target never disappears, even for an instant."""
    if target.exists():
        if exchange_dirs(staging, target):
            shutil.rmtree(staging, ignore_errors=True)  # now holds the old artifact
            return
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)
