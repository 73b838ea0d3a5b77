"""Map URL paths to files without ever leaving the configured directories.

Two layers, so a mistake in one is caught by the other: the raw request path is refused when
it is even ambiguous (encoded slashes or backslashes, dot segments, empty segments, hidden
names), and a path that passes is resolved with symlinks followed and must still lie inside
the directory's own real path. Refusals look exactly like missing files (404).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# %2f (/), %5c (\), %00 and a literal backslash: a client never needs them to reach a file here.
_AMBIGUOUS = re.compile(rb"%2f|%5c|%00|\\", re.IGNORECASE)
_BAD_CHARS = re.compile(r"[\\\x00-\x1f:]")


def request_is_clean(raw_path: bytes, path: str) -> bool:
    """False for any request path that could mean something other than one plain file path."""
    if _AMBIGUOUS.search(raw_path.split(b"?", 1)[0]):
        return False
    return not any(seg in (".", "..") for seg in path.split("/"))


def url_parts(subpath: str) -> list[str] | None:
    """The segments of a path below a mount, or None when any segment is not a plain name."""
    parts = subpath.split("/")
    for part in parts:
        if not part or part.startswith(".") or _BAD_CHARS.search(part):
            return None
    return parts


def inside(root: Path, candidate: Path) -> Path | None:
    """candidate's real path when it is a regular file inside root's real path, else None."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(candidate)
    if os.path.commonpath([real_root, real]) != real_root or not os.path.isfile(real):
        return None
    return Path(real)


def resolve_under(root: Path, subpath: str) -> Path | None:
    """The file that `subpath` (relative, '/'-separated) names under root, or None."""
    parts = url_parts(subpath)
    if parts is None or not servable_name(parts[-1]):
        return None
    return inside(root, root.joinpath(*parts))


def servable_name(name: str) -> bool:
    """Files a tree mount exposes: no hidden files, no TypeScript declarations."""
    return not name.startswith(".") and not name.endswith((".d.ts", ".d.ts.map"))
