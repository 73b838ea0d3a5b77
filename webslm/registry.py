"""The models webslm knows by name: the built-in models.yaml, with the user's own file (same
format; `webslm --models FILE` or $WEBSLM_MODELS) merged over it. A user entry with a new name
adds a model; one with a built-in name overrides the fields it gives."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

from webslm.errors import WebslmError
from webslm.resources import data_path

USER_MODELS_ENV = "WEBSLM_MODELS"  # `webslm --models FILE` sets it for the whole run


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    source: str
    revision: str | None
    architecture: str
    chat_format: str
    context_window: int
    prefill_chunk: int
    quantizations: tuple[str, ...]
    gated: bool = False
    aliases: tuple[str, ...] = ()  # other names adapters give as their base (hub ids)
    gguf_tokenizer: str | None = None  # llama.cpp's pre-tokenizer name; None: no GGUF
    # a pretrained base, not tuned to chat: the page continues text (completions) and says so
    completion_only: bool = False
    # false: where the CPU build has a GGUF, it is the GGUF alone (no ONNX export beside it)
    cpu_onnx: bool = True

    def known_as(self, name: str) -> bool:
        """Whether an adapter's base_model_name_or_path names this model."""
        return name.rstrip("/") in (self.name, self.source, *self.aliases)


FIELDS = {f.name for f in dataclasses.fields(ModelEntry)} - {"name"}
REQUIRED = {f.name for f in dataclasses.fields(ModelEntry)
            if f.default is dataclasses.MISSING} - {"name"}


def builtin_registry_path() -> Path:
    return data_path("models.yaml")


def user_registry_path() -> Path | None:
    value = os.environ.get(USER_MODELS_ENV)
    return Path(value).expanduser() if value else None


def _read(path: Path, fix: str) -> dict[str, dict]:
    """The `models:` mapping of one registry file, name -> fields."""
    try:
        models = yaml.safe_load(path.read_text())["models"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        raise WebslmError(f"cannot read the model registry {path}: {err}", fix) from err
    if not isinstance(models, dict) or not all(isinstance(f, dict) for f in models.values()):
        raise WebslmError(f"{path}: `models:` must map each model name to its fields", fix)
    return models


def _entry(name: str, fields: dict, path: Path, fix: str) -> ModelEntry:
    unknown, missing = set(fields) - FIELDS, REQUIRED - set(fields)
    if unknown or missing:
        problem = "; ".join([*([f"unknown fields {sorted(unknown)}"] if unknown else []),
                             *([f"missing fields {sorted(missing)}"] if missing else [])])
        raise WebslmError(f"{path}: model {name!r}: {problem}", fix)
    quantizations = fields["quantizations"]
    if isinstance(quantizations, str) or not isinstance(quantizations, list):
        raise WebslmError(f"{path}: model {name!r}: quantizations must be a list", fix)
    return ModelEntry(name=str(name), **{**fields, "quantizations": tuple(quantizations),
                                         "aliases": tuple(fields.get("aliases") or ())})


def load_registry(user_file: Path | None = None) -> dict[str, ModelEntry]:
    """Built-in entries, then those of user_file (default: $WEBSLM_MODELS) merged by name."""
    builtin = builtin_registry_path()
    fix = "reinstall webslm (its models.yaml is damaged)"
    raw = {name: (fields, builtin, fix) for name, fields in _read(builtin, fix).items()}
    user = user_file or user_registry_path()
    if user is not None:
        fix = (f"fix {user} (a `models:` mapping in the format of webslm's models.yaml: "
               f"{', '.join(sorted(REQUIRED))}), or unset {USER_MODELS_ENV} / drop --models")
        for name, fields in _read(user, fix).items():
            base = raw[name][0] if name in raw else {}
            raw[name] = ({**base, **fields}, user, fix)
    return {name: _entry(name, fields, path, fix) for name, (fields, path, fix) in raw.items()}


def _compiled_architectures() -> str:
    """The architectures webslm compiles, as its architecture registry lists them (imported
    only here, for the error message: reading models.yaml never loads the compiler)."""
    from webslm.arch import architectures

    names = [a.display_name for a in architectures()]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def get_model(name: str, user_file: Path | None = None) -> ModelEntry:
    registry = load_registry(user_file)
    if name not in registry:
        raise WebslmError(f"unknown model {name!r}",
                          f"known models: {', '.join(registry)}; add your own with `webslm "
                          f"--models FILE ...` (or ${USER_MODELS_ENV}), or build any checkpoint of "
                          f"{_compiled_architectures()} by path: webslm build "
                          "DIR|FILE.gguf|HF_ID|ADAPTER_DIR")
    return registry[name]
