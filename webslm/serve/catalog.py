"""Find the built models under DIST paths by their webslm-manifest.json.

The manifest is the only thing trusted to say what an artifact is: its id, its files (the
only files ever served from it) and its WebLLM ModelRecord. Nothing here imports the
compiler, so serving works without TVM being importable.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from webslm.artifacts.manifest import MANIFEST
from webslm.errors import WebslmError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # one URL segment, never "." or ".."
RESOLVE = "resolve/main"


@dataclasses.dataclass(frozen=True)
class BuiltModel:
    id: str
    dir: Path                     # realpath of the artifact directory
    manifest: dict[str, Any]
    chat_config: dict[str, Any]

    @property
    def served_names(self) -> list[str]:
        """The only files served from the artifact: the manifest's files and the manifest."""
        return [*self.manifest["files"], MANIFEST]

    def sha256(self, name: str) -> str | None:
        return self.manifest["files"].get(name, {}).get("sha256")

    @property
    def lib_name(self) -> str:
        return self.manifest["build"].get("model_lib") or \
            self.manifest["webllm_model_record"]["model_lib"].rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        """The model's folder relative to the site root, in the layout WebLLM expects."""
        return f"models/{self.id}/{RESOLVE}/"

    def summary(self) -> dict[str, Any]:
        """The dict the pages and /api/models describe a model with."""
        record = self.manifest["webllm_model_record"]
        build = self.manifest.get("build", {})
        return {
            "id": self.id,
            "model_type": self.chat_config.get("model_type") or build.get("model", ""),
            "quantization": build.get("quantization") or self.chat_config.get("quantization", ""),
            "size_bytes": sum(f["bytes"] for f in self.manifest["files"].values()),
            "context_window": build.get("context_window")
            or record.get("overrides", {}).get("context_window_size")
            or self.chat_config.get("context_window_size"),
            "required_features": list(record.get("required_features", [])),
            "vram_mb": record.get("vram_required_MB"),
        }

    def webllm_record(self) -> dict[str, Any]:
        """The manifest's ModelRecord with URLs relative to the site root."""
        record = dict(self.manifest["webllm_model_record"])
        record["model"] = self.url
        record["model_lib"] = self.url + self.lib_name
        return record


def _load(artifact: Path) -> BuiltModel:
    where = artifact / MANIFEST
    try:
        manifest = json.loads(where.read_text())
        model_id = manifest["build"]["model_id"]
        manifest["files"], manifest["webllm_model_record"]  # noqa: B018 - required keys
        chat_config = json.loads((artifact / "mlc-chat-config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WebslmError(f"{where} is not a readable webslm manifest ({err})",
                          "rebuild it with `webslm build`") from err
    if not SAFE_ID.match(model_id) or not all(SAFE_ID.match(n) for n in manifest["files"]):
        raise WebslmError(f"{where} names a model id or file that is not a plain file name",
                          "rebuild it with `webslm build`")
    model = BuiltModel(model_id, artifact.resolve(), manifest, chat_config)
    if model.lib_name not in manifest["files"]:
        raise WebslmError(f"{where} lists no model library {model.lib_name}",
                          "rebuild it with `webslm build`")
    missing = [n for n, f in manifest["files"].items()
               if not (artifact / n).is_file() or (artifact / n).stat().st_size != f["bytes"]]
    if missing:
        raise WebslmError(f"{artifact} is incomplete: {', '.join(missing)} missing or changed",
                          f"rebuild it with `webslm build ... --force`")
    return model


def artifact_dirs(dist: Path) -> list[Path]:
    """dist itself when it is an artifact, else its children that are (hidden ones skipped:
    they are a build's staging directories)."""
    if (dist / MANIFEST).is_file():
        return [dist]
    return [p for p in sorted(dist.iterdir())
            if not p.name.startswith(".") and (p / MANIFEST).is_file()]


def discover(dists: list[Path | str]) -> list[BuiltModel]:
    """Every model under the DIST paths, in order; a missing path or a duplicate id is an error."""
    models: dict[str, BuiltModel] = {}
    for dist in map(Path, dists):
        if not dist.is_dir():
            raise WebslmError(f"{dist} is not a directory",
                              "pass a dist root or an artifact directory from `webslm build`")
        for artifact in artifact_dirs(dist):
            model = _load(artifact)
            if model.id in models:
                raise WebslmError(f"model {model.id} is in both {models[model.id].dir} and "
                                  f"{model.dir}", "pass only one of them")
            models[model.id] = model
    return list(models.values())
