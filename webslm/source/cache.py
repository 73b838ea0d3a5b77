"""Folders webslm derives once and reuses: GGUF tokenizer/config, merged tokenizer files, and
compiled model libraries (compile/library_cache.py).

Kept under webslm's cache root (webslm/user_cache.py: $WEBSLM_CACHE), keyed by what
they were derived from, and filled atomically so an interrupted run never leaves half a folder.
A sibling <key>.files.json records every file's bytes and sha256: an entry damaged later
(a file truncated, edited or removed) is detected on use and derived again.
"""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from webslm.hashing import file_entry, sha256_file
from webslm.user_cache import cache_root, claimed_dir, remove_unclaimed


def cache_key(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


def cached_entry(kind: str, key: str) -> Path | None:
    """cache_root()/kind/key when it exists and matches its file table; a damaged entry is
    discarded (the caller derives it again)."""
    final = cache_root() / kind / key
    if not final.is_dir():
        return None
    if entry_problem(final) is None:
        return final
    _discard(final)
    return None


def staged_dir(kind: str, key: str, fill: Callable[[Path], None]) -> Path:
    """Return cache_root()/kind/key, calling fill(empty_dir) to create it the first time
    (or again, when the entry no longer matches its file table)."""
    found = cached_entry(kind, key)
    if found is not None:
        return found
    final = cache_root() / kind / key
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_unclaimed(final.parent, ".partial-*")  # left by a killed run
    tmp = final.parent / f".partial-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with claimed_dir(tmp):
            fill(tmp)
            os.rename(tmp, final)
        _write_table(final, _table_path(final))  # a kill just before: entry_problem writes it
    except OSError:
        if not final.is_dir():  # not a lost race with another process: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def entry_problem(final: Path) -> str | None:
    """What is wrong with a cache entry, or None. An entry from before file tables were
    written gets one now (it appeared by an atomic rename, so it was whole then)."""
    table_path = _table_path(final)
    try:
        table = json.loads(table_path.read_text())
    except FileNotFoundError:
        _write_table(final, table_path)
        return None
    except (OSError, ValueError):
        return f"{table_path.name} is unreadable"
    if not isinstance(table, dict):
        return f"{table_path.name} is not a file table"
    present = {p.name for p in final.iterdir() if p.is_file()}
    if present != set(table):
        return f"files differ from {table_path.name}"
    for name, expected in table.items():
        path = final / name
        if path.stat().st_size != expected.get("bytes") or sha256_file(path) != expected.get("sha256"):
            return f"{name} differs from {table_path.name}"
    return None


def _table_path(final: Path) -> Path:
    return final.with_name(f"{final.name}.files.json")


def _write_table(directory: Path, table_path: Path) -> None:
    table = {p.name: file_entry(p) for p in sorted(directory.iterdir()) if p.is_file()}
    tmp = table_path.with_name(f".{table_path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(table, indent=1))
    os.replace(tmp, table_path)


def _discard(final: Path) -> None:
    """Move a damaged entry out of the way first (one rename), then delete it."""
    trash = final.with_name(f".partial-{final.name}-damaged-{os.getpid()}")
    try:
        os.rename(final, trash)
    except OSError:
        return  # another process moved it already
    shutil.rmtree(trash, ignore_errors=True)


