"""models.yaml: the models webslm knows by name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from webslm.errors import WebslmError

REGISTRY_PATH = Path(__file__).resolve().parent.parent / "models.yaml"


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


def load_registry(path: Path | None = None) -> dict[str, ModelEntry]:
    path = path or REGISTRY_PATH
    try:
        raw = yaml.safe_load(path.read_text())["models"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        raise WebslmError(f"cannot read the model registry {path}: {err}",
                          "restore models.yaml from the repository") from err
    return {name: ModelEntry(name=name, **{**fields, "quantizations": tuple(fields["quantizations"])})
            for name, fields in raw.items()}


def get_model(name: str, path: Path | None = None) -> ModelEntry:
    registry = load_registry(path)
    if name not in registry:
        raise WebslmError(f"unknown model {name!r}",
                          f"known models: {', '.join(registry)}; or pass --source DIR|FILE.gguf|HF_ID "
                          "to build any Llama, Qwen2 or Phi-3 checkpoint")
    return registry[name]
