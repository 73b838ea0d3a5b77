"""Where a build's files sit on a site, relative to one another.

Every build is served from `models/<id>/resolve/main/` (the folder layout WebLLM expects).
A fine-tune built as "base + adapter" reads its base's weight shards from the base's own
folder: its tensor-cache.json names them by a URL relative to its own folder, which WebLLM
resolves with `new URL(dataPath, modelUrl)` and caches by the resolved URL, so the shards are
downloaded and stored once for the base and all its fine-tunes. The build pipeline writes
those names and `webslm serve` / `export-site` check and list them: both take them from here.
"""

from __future__ import annotations

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
