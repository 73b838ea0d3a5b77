"""Find the built models under DIST paths by their webslm-manifest.json.

The manifest is the only thing trusted to say what an artifact is: its id, its engine
(WebLLM, or transformers.js for an ONNX build), its files (the only files ever served from
it) and, for WebLLM, its ModelRecord. A build whose file table does not cover, with a size
and a sha256, every file its engine fetches is refused, as is a damaged one: the pages check
each file against that table, and the ModelRecord's `integrity` is always computed from it. Nothing here imports the
compiler, so serving works without TVM being importable.

A fine-tune built as "base + adapter" (`build.base` in its manifest) serves only its own
files; it reads its base's weight shards from the base's folder (artifacts/files.py), so
its base must be served too, with exactly the shards it was built on: `discover` checks both.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from webslm.artifacts.files import (CHAT_CONFIG, GGUF_DIR, MANIFEST, TENSOR_CACHE, base_file_ref,
                                    model_folder, onnx_data_filename, onnx_filename)
from webslm.artifacts.manifest import webllm_integrity
from webslm.errors import WebslmError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # one URL segment, never "." or ".."
WEBLLM = "webllm"
TRANSFORMERS_JS = "transformers.js"


@dataclasses.dataclass(frozen=True)
class BuiltModel:
    id: str
    dir: Path                     # realpath of the artifact directory
    manifest: dict[str, Any]
    chat_config: dict[str, Any]   # mlc-chat-config.json (WebLLM) or config.json (ONNX)

    @property
    def engine(self) -> str:
        return self.manifest["build"].get("engine", WEBLLM)

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
        return f"models/{model_folder(self.id)}"

    @property
    def base(self) -> dict[str, Any] | None:
        """A fine-tune's base: {model_id, files: the base's files it reads}; None for others."""
        return self.manifest["build"].get("base")

    def shared_files(self) -> dict[str, dict[str, Any]]:
        """The base's files a fine-tune reads, by the relative name its tensor cache uses."""
        base = self.base or {"files": {}}
        return {base_file_ref(base["model_id"], name): {"bytes": f["bytes"], "sha256": f["sha256"]}
                for name, f in base["files"].items()}

    def summary(self) -> dict[str, Any]:
        """The dict the pages and /api/models describe a model with."""
        build = self.manifest.get("build", {})
        if self.engine == TRANSFORMERS_JS:
            return {
                "id": self.id, "engine": TRANSFORMERS_JS, "url": self.url,
                "family": build.get("model") or self.id,
                "model_type": self.chat_config.get("model_type", ""),
                "quantization": "onnx", "dtypes": build.get("dtypes", []),
                "f16_dtypes": build.get("f16_dtypes", []),
                "wasm_context": build.get("wasm_context", {}),
                "wasm_refused": build.get("wasm_refused", {}),
                "gguf": self.gguf(),
                "size_bytes": sum(f["bytes"] for f in self.manifest["files"].values()),
                "dtype_bytes": self.dtype_bytes(),
                "dtype_files": self.dtype_files(),
                "files": self.files(),
                "context_window": build.get("context_window"),
                "required_features": [],
                **self.completion(),
            }
        record = self.manifest["webllm_model_record"]
        fine_tune = {"base": self.base["model_id"],
                     "shared_bytes": sum(f["bytes"] for f in self.shared_files().values())} \
            if self.base else {}
        return {
            "engine": WEBLLM,
            "id": self.id,
            "model_type": self.chat_config.get("model_type") or build.get("model", ""),
            "quantization": build.get("quantization") or self.chat_config.get("quantization", ""),
            "size_bytes": sum(f["bytes"] for f in self.manifest["files"].values()),
            "context_window": build.get("context_window")
            or record.get("overrides", {}).get("context_window_size")
            or self.chat_config.get("context_window_size"),
            "required_features": list(record.get("required_features", [])),
            "vram_mb": record.get("vram_required_MB"),
            "largest_tensor_bytes": build.get("largest_tensor_bytes"),
            "files": self.files(),
            **self.completion(),
            **fine_tune,
        }

    def completion(self) -> dict[str, Any]:
        """A base model's fields: the page continues text for it (chat-ui.js)."""
        build = self.manifest.get("build", {})
        if not build.get("completion_only"):
            return {}
        return {"completion_only": True, "completion_prefix": build.get("completion_prefix", "")}

    def files(self) -> dict[str, dict[str, Any]]:
        """{name: {bytes, sha256}}: what the browser checks each downloaded file against,
        a fine-tune's shared base shards included (names relative to this build's folder)."""
        own = {name: {"bytes": f["bytes"], "sha256": f["sha256"]}
               for name, f in self.manifest["files"].items()}
        return {**own, **self.shared_files()}

    def gguf(self) -> dict[str, dict[str, Any]]:
        """The CPU engine's GGUF by qtype: {file (the first shard), files, bytes, context}."""
        files = self.manifest["files"]
        return {qtype: {**entry, "bytes": sum(files[n]["bytes"] for n in entry["files"])}
                for qtype, entry in self.manifest["build"].get("gguf", {}).items()}

    def dtype_files(self) -> dict[str, list[str]]:
        """The files only one ONNX dtype loads (its graph and weights), by dtype."""
        files = self.manifest["files"]
        return {dtype: [n for n in (f"onnx/{onnx_filename(dtype)}", f"onnx/{onnx_data_filename(dtype)}")
                        if n in files]
                for dtype in self.manifest["build"].get("dtypes", [])}

    def dtype_bytes(self) -> dict[str, int]:
        """Download size of each ONNX dtype: its graph, its weights and the shared files."""
        files = self.manifest["files"]
        own = ("onnx/", f"{GGUF_DIR}/")  # one dtype's files, or the CPU engine's GGUF
        shared = sum(f["bytes"] for n, f in files.items() if not n.startswith(own))
        return {dtype: shared + sum(files[n]["bytes"] for n in own)
                for dtype, own in self.dtype_files().items()}

    def webllm_record(self) -> dict[str, Any]:
        """The manifest's ModelRecord with URLs relative to the site root."""
        record = dict(self.manifest["webllm_model_record"])
        record["model"] = self.url
        record["model_lib"] = self.url + self.lib_name
        # Always the table's hashes: a manifest's own `integrity` (say onFailure "warn", or
        # another file's hash) must never stand in for them.
        record["integrity"] = webllm_integrity(self.manifest["files"], self.lib_name)
        return record


def _load(artifact: Path) -> BuiltModel:
    where = artifact / MANIFEST
    try:
        manifest = json.loads(where.read_text())
        model_id = manifest["build"]["model_id"]
        onnx = manifest["build"].get("engine", WEBLLM) == TRANSFORMERS_JS
        manifest["files"]  # noqa: B018 - required key
        if not onnx:
            manifest["webllm_model_record"]  # noqa: B018 - required key
        config_name = "config.json" if onnx else CHAT_CONFIG
        chat_config = json.loads((artifact / config_name).read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WebslmError(f"{where} is not a readable webslm manifest ({err})",
                          "rebuild it with `webslm build`") from err
    if not SAFE_ID.match(model_id) or not all(_safe_path(n) for n in manifest["files"]):
        raise WebslmError(f"{where} names a model id or file that is not a plain file name",
                          "rebuild it with `webslm build`")
    if "base" in manifest["build"] and not _valid_base(manifest["build"]["base"]):
        raise WebslmError(f"{where} has a `build.base` that does not name a base build and "
                          "its files", "rebuild it with `webslm build`")
    model = BuiltModel(model_id, artifact.resolve(), manifest, chat_config)
    gaps = _file_table_gaps(model)
    if gaps:
        raise WebslmError(f"{where} has no complete file table ({gaps}), so the browser could "
                          "not check every file it downloads", "rebuild it with `webslm build`")
    missing = [n for n, f in manifest["files"].items()
               if not (artifact / n).is_file() or (artifact / n).stat().st_size != f["bytes"]]
    if missing:
        raise WebslmError(f"{artifact} is incomplete: {', '.join(missing)} missing or changed",
                          "rebuild it with `webslm build ... --force`")
    return model


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _file_table_gaps(model: BuiltModel) -> str:
    """What keeps the manifest's `files` from covering every file the engine fetches, with a
    size and a sha256 each (the pages refuse a file outside the table): "" when nothing does."""
    files = model.manifest["files"]
    if not isinstance(files, dict) or not files:
        return "`files` is empty"
    bad = [n for n, f in files.items() if not (isinstance(f, dict) and _SHA256.match(str(f.get("sha256")))
                                               and isinstance(f.get("bytes"), int) and f["bytes"] >= 0)]
    if bad:
        return f"no size or sha256 for {', '.join(sorted(bad)[:5])}"
    if model.engine == TRANSFORMERS_JS:
        needed = ["config.json", *(n for e in model.manifest["build"].get("gguf", {}).values()
                                   for n in e.get("files", []))]
    else:
        try:
            cache = json.loads((model.dir / TENSOR_CACHE).read_text())
            shards = [r["dataPath"] for r in cache["records"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            return f"{TENSOR_CACHE} is unreadable: {err}"
        needed = [CHAT_CONFIG, TENSOR_CACHE, model.lib_name, *shards]
    unlisted = [n for n in dict.fromkeys(needed) if not isinstance(n, str) or n not in model.files()]
    return f"{', '.join(map(str, unlisted[:5]))} not listed" if unlisted else ""


def _safe_path(name: str) -> bool:
    """A file name, or <subfolder>/<file name> for the two an ONNX build has: onnx/ (what
    transformers.js reads) and gguf/ (what wllama reads)."""
    parts = name.split("/")
    return (len(parts) == 1 or (len(parts) == 2 and parts[0] in ("onnx", GGUF_DIR))) and \
        all(SAFE_ID.match(p) for p in parts)


def _valid_base(base: Any) -> bool:
    """{model_id: a plain id, files: {plain name: {bytes: int, sha256: str}}}."""
    try:
        return bool(SAFE_ID.match(base["model_id"])) and bool(base["files"]) and all(
            _safe_path(n) and isinstance(f["bytes"], int) and isinstance(f["sha256"], str)
            for n, f in base["files"].items())
    except (KeyError, TypeError, AttributeError):
        return False


def check_bases(models: list[BuiltModel]) -> None:
    """Every fine-tune's base is served, and holds exactly the files the fine-tune was built
    on (a rebuilt base would feed it other weights under the same URLs)."""
    by_id = {m.id: m for m in models}
    for model in models:
        if model.base is None:
            continue
        base_id = model.base["model_id"]
        base = by_id.get(base_id)
        if base is None:
            raise WebslmError(
                f"{model.id} is a fine-tune of {base_id}, which is not in the served folders "
                f"(it reads {base_id}'s weight shards from there)",
                f"pass the folder that holds {base_id} too (`webslm build --keep-adapter` writes "
                f"it next to {model.id}), or rebuild {model.id}")
        changed = [name for name, f in model.base["files"].items()
                   if base.manifest["files"].get(name, {}).get("sha256") != f["sha256"]
                   or base.manifest["files"][name].get("bytes") != f["bytes"]]
        if changed or base.engine != WEBLLM or base.base is not None:
            what = (f"{', '.join(changed)} differ from the files it was built on" if changed
                    else "it is not a plain WebLLM build")
            raise WebslmError(
                f"{model.id} is a fine-tune of {base_id}, but the {base_id} in {base.dir} does "
                f"not fit it: {what}",
                f"serve the {base_id} build {model.id} was made with, or rebuild {model.id} "
                f"over this one (`webslm build ... --lora ... --keep-adapter --force`)")


def artifact_dirs(dist: Path) -> list[Path]:
    """dist itself when it is an artifact, else its children that are (hidden ones skipped:
    they are a build's staging directories)."""
    if (dist / MANIFEST).is_file():
        return [dist]
    return [p for p in sorted(dist.iterdir())
            if not p.name.startswith(".") and (p / MANIFEST).is_file()]


def discover(dists: list[Path | str]) -> list[BuiltModel]:
    """Every model under the DIST paths, in order; a missing path, a duplicate id or a
    fine-tune without its base is an error."""
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
    check_bases(list(models.values()))
    return list(models.values())
