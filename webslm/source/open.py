"""Turn what the user typed after --source into a ModelSource."""

import re
from pathlib import Path

from webslm.errors import WebslmError
from webslm.source.base import ModelSource
from webslm.source.packaged import resolve_spec

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def open_source(spec: str, revision: str | None = None) -> ModelSource:
    """spec: a hub repo id (owner/name), a local HF model folder, a .gguf file, or pypi:pkg/file."""
    from webslm.source.gguf import open_gguf
    from webslm.source.hub import open_hub
    from webslm.source.safetensors_dir import open_model_dir

    spec = resolve_spec(spec)
    path = Path(spec).expanduser()
    if path.exists():
        if revision is not None:
            raise WebslmError(
                f"--revision {revision} given for the local source {spec}",
                "drop --revision; it only applies to Hugging Face hub repo ids",
            )
        if path.is_file():
            if path.suffix.lower() != ".gguf":
                raise WebslmError(
                    f"{spec} is a file but not a .gguf",
                    "pass a .gguf file, a Hugging Face model folder, or a hub repo id",
                )
            return open_gguf(path)
        ggufs = sorted(path.glob("*.gguf"))
        if not (path / "config.json").exists() and len(ggufs) == 1:
            return open_gguf(ggufs[0])
        return open_model_dir(path)
    if spec.lower().endswith(".gguf") or spec.startswith((".", "/", "~")) or "\\" in spec:
        raise WebslmError(f"{spec} does not exist", "check the path passed to --source")
    if REPO_ID.match(spec) and ".." not in spec:
        return open_hub(spec, revision)
    raise WebslmError(
        f"{spec!r} is neither an existing file or folder nor a hub repo id (owner/name)",
        "pass --source owner/name, --source DIR or --source FILE.gguf",
    )
