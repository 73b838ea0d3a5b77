"""What `webslm build X` builds: a models.yaml name, a model folder, a .gguf file, a hub id,
or a LoRA adapter folder (with its base), each turned into a registry entry and an opened
source before anything heavy runs, so every problem the inputs have is reported first."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable

from webslm.arch import find_architecture
from webslm.artifacts.conv_templates import build_conv_template, detect_chat_format
from webslm.errors import WebslmError
from webslm.quantize.schemes import default_quantizations
from webslm.registry import ModelEntry, get_model, load_registry
from webslm.source import open_source
from webslm.source.adapter import is_adapter_dir, read_adapter
from webslm.source.adapter_checks import warn_declared_base
from webslm.source.base import ModelSource
from webslm.source.merged import merge_adapter
from webslm.source.open import REPO_ID
from webslm.source.packaged import resolve_spec

DEFAULT_CONTEXT, DEFAULT_PREFILL = 4096, 1024


@dataclasses.dataclass
class BuildInput:
    entry: ModelEntry        # name = the build id prefix; chat_format resolved from the model
    source: ModelSource      # merged with the adapter when there is one
    spec: str                # the base source as models.yaml or the user gave it (for verify)
    revision: str | None
    adapter: Path | None = None
    qlora_base: str | None = None
    base_name: str = ""      # the base model's build id prefix (a fine-tune kept as base + adapter)


def resolve_input(model: str, *, lora: str | None = None, base: str | None = None,
                  source: str | None = None, revision: str | None = None,
                  qlora_base: str | None = None, chat_format: str | None = None,
                  name: str | None = None,
                  before_download: Callable[[ModelEntry], None] | None = None,
                  say: Callable[[str], None] = print) -> BuildInput:
    """before_download(entry): a check a models.yaml model must pass before its weights are
    fetched (the build's refusals that its released config already decides). say: warnings
    (an adapter built on a base of another name)."""
    registry = load_registry()
    adapter = read_adapter(Path(lora)) if lora else None
    entry, spec, rev = None, model, revision
    building = model   # the base as the user named it (for the adapter's declared base)
    if model in registry:
        if base:
            raise WebslmError(f"--base given with the model name {model}",
                              "drop --base: the name is the base; or build the adapter folder itself")
        entry = registry[model]
    elif is_adapter_dir(Path(model).expanduser()):
        if adapter is not None:
            raise WebslmError(f"{model} is an adapter folder, and --lora names another",
                              "build one adapter at a time: webslm build BASE --lora ADAPTER_DIR")
        adapter = read_adapter(Path(model))
        spec = building = base or adapter.base_model
        entry = _registry_base(spec, adapter.path, registry)
    if entry is not None:
        spec = source or entry.source
        rev = revision or (entry.revision if not source else None)
    elif not Path(model).expanduser().exists() and not REPO_ID.match(model):
        get_model(model)  # neither a name nor a path nor a hub id: say which names exist
    if qlora_base and adapter is None:
        raise WebslmError("--qlora-base applies to LoRA adapters", "add --lora ADAPTER_DIR")
    if base and adapter is None:
        raise WebslmError("--base applies to LoRA adapter folders", "drop --base")
    if before_download is not None and model in registry and not source and adapter is None:
        before_download(entry)
    if adapter is not None:
        known = [*(entry.name, *entry.aliases, entry.source)] if entry is not None else []
        warn_declared_base(adapter.base_model, [source or building, *known], say)
    local = resolve_spec(spec)
    opened = open_source(local, None if Path(local).exists() else rev)
    arch = find_architecture(opened.config)  # an unsupported architecture fails here, early
    if adapter is not None:
        opened = merge_adapter(opened, adapter, qlora_base,
                               meta_rotary=arch.torchtune_meta_rotary)
    if entry is None:
        entry = _entry_for_source(opened, local, rev, arch.hf_architectures[0])
    base_name = entry.name
    build_name = name or (_id_from(adapter.path.name) if adapter is not None else entry.name)
    fmt = chat_format or detect_chat_format(opened.tokenizer_dir, prefer=entry.chat_format or None)
    build_conv_template(fmt, opened.tokenizer_dir)  # an explicit --chat-format is checked too
    # a fine-tune of a base model is tuned to its chat format: it chats
    entry = dataclasses.replace(entry, name=_checked_id(build_name), chat_format=fmt,
                                completion_only=entry.completion_only and adapter is None)
    if adapter is not None and entry.name == base_name:
        raise WebslmError(f"the fine-tune's build id {base_name} is the base model's",
                          "pass --name with another id")
    return BuildInput(entry, opened, spec, rev, adapter.path if adapter else None, qlora_base,
                      base_name)


def _registry_base(base: str | None, adapter: Path, registry: dict[str, ModelEntry]) -> ModelEntry | None:
    """The models.yaml entry an adapter's base names (by name, source or alias), if any; a
    folder or hub id is opened as it is (a hub id from the local HF cache when offline)."""
    if not base:
        raise WebslmError(f"the adapter {adapter} does not name its base model "
                          "(base_model_name_or_path is empty)",
                          "pass --base NAME|DIR|HF_ID, or webslm build BASE --lora ADAPTER_DIR")
    for entry in registry.values():
        if entry.known_as(base):
            return entry
    if Path(base).expanduser().exists() or REPO_ID.match(base):
        return None
    raise WebslmError(f"the adapter's base model {base!r} is not a models.yaml name, a folder or a "
                      "hub id", "pass --base NAME|DIR|HF_ID")


def _entry_for_source(source: ModelSource, spec: str, revision: str | None, arch: str) -> ModelEntry:
    window = min(int(source.config.get("max_position_embeddings") or DEFAULT_CONTEXT), DEFAULT_CONTEXT)
    stem = Path(spec).stem if spec.lower().endswith(".gguf") else Path(spec).name
    return ModelEntry(name=_id_from(stem), description=f"{source.id} ({arch})", source=spec,
                      revision=revision, architecture=arch, chat_format="",
                      context_window=window, prefill_chunk=min(DEFAULT_PREFILL, window),
                      quantizations=default_quantizations())


def _id_from(name: str) -> str:
    """A folder or file name as a build id: lower case, letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")


def _checked_id(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
        raise WebslmError(f"{name!r} cannot be a build id",
                          "use --name with lower-case letters, digits, '.', '_' and '-'")
    return name
