"""Where a build's files sit on a site, relative to one another.

Every build is served from `models/<id>/resolve/main/` (the folder layout WebLLM expects).
A fine-tune built as "base + adapter" reads its base's weight shards from the base's own
folder: its tensor-cache.json names them by a URL relative to its own folder, which WebLLM
resolves with `new URL(dataPath, modelUrl)` and caches by the resolved URL, so the shards are
downloaded and stored once for the base and all its fine-tunes. The build pipeline writes
those names and `webslm serve` / `export-site` check and list them: both take them from here.
"""

from __future__ import annotations

from pathlib import Path

RESOLVE = "resolve/main"


def model_folder(model_id: str) -> str:
    """A build's folder below the site's `models/`: `<id>/resolve/main/`."""
    return f"{model_id}/{RESOLVE}/"


def base_folder_ref(base_id: str) -> str:
    """The base build's folder relative to a fine-tune's folder:
    `../../../<base>/resolve/main/` (up out of `<id>/resolve/main/`, into the base's)."""
    return "../" * model_folder("x").count("/") + model_folder(base_id)


def base_file_ref(base_id: str, name: str) -> str:
    """The name a fine-tune's tensor cache and file table give its base's file `name`."""
    return base_folder_ref(base_id) + name


def split_base_ref(ref: str) -> tuple[str, str] | None:
    """base_file_ref's inverse: (base id, file name), or None for a build's own file."""
    up = base_folder_ref("")[: -len(model_folder(""))]
    rest = ref[len(up):].split("/") if ref.startswith(up) else []
    if len(rest) != 4 or "/".join(rest[1:3]) != RESOLVE:
        return None
    return rest[0], rest[3]


def local_file(artifact_dir: Path, ref: str) -> Path:
    """Where a tensor-cache dataPath's file is on disk: in the build's directory, or in its
    base's directory beside it (builds of one --out root are siblings)."""
    base = split_base_ref(ref)
    return artifact_dir / ref if base is None else artifact_dir.parent / base[0] / base[1]
