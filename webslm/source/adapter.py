"""A LoRA adapter folder, as Axolotl, Unsloth, LLaMA-Factory, PEFT or torchtune write it, read
into one plain form: for each HF weight it changes, the low-rank pair, its scale and (DoRA)
its magnitude, plus the whole tensors it replaces (modules_to_save, resized embeddings).

Only the format is read here; whether the adapter fits a base model is `merged.py`'s job.
Pickled files (.bin, .pt) are opened with torch.load(weights_only=True), so a file that needs
arbitrary unpickling is refused, never executed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np

from webslm.errors import WebslmError
from webslm.model_files import read_json
from webslm.source.adapter_checks import (check_ranks, check_scale, check_targets, module_kind,
                                          pattern_value)
from webslm.source.base import to_float32

CONFIG = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_model.pt")
PEFT_PREFIX = "base_model.model."
SUPPORTED_CONFIG = {"peft_type": "LORA"}

# torchtune's own module names (its adapter_model.pt) -> the HF names of the same weights.
TORCHTUNE_NAMES = (
    (r"^tok_embeddings$", "model.embed_tokens"),
    (r"^output$", "lm_head"),
    (r"^layers\.(\d+)\.attn\.q_proj$", r"model.layers.\1.self_attn.q_proj"),
    (r"^layers\.(\d+)\.attn\.k_proj$", r"model.layers.\1.self_attn.k_proj"),
    (r"^layers\.(\d+)\.attn\.v_proj$", r"model.layers.\1.self_attn.v_proj"),
    (r"^layers\.(\d+)\.attn\.output_proj$", r"model.layers.\1.self_attn.o_proj"),
    (r"^layers\.(\d+)\.mlp\.w1$", r"model.layers.\1.mlp.gate_proj"),
    (r"^layers\.(\d+)\.mlp\.w2$", r"model.layers.\1.mlp.down_proj"),
    (r"^layers\.(\d+)\.mlp\.w3$", r"model.layers.\1.mlp.up_proj"),
)
TORCHTUNE_PARTS = {"lora_a.weight": "A", "lora_b.weight": "B", "magnitude": "magnitude"}
PEFT_PARTS = {"lora_A.weight": "A", "lora_B.weight": "B", "lora_embedding_A": "emb_A",
              "lora_embedding_B": "emb_B", "lora_magnitude_vector": "magnitude",
              "lora_magnitude_vector.weight": "magnitude", "base_layer.weight": "whole",
              "original_module.weight": "original", "weight": "whole"}


@dataclasses.dataclass
class LowRank:
    """delta(W) = scale * B @ A for a linear weight [out, in]; for an embedding [vocab, dim],
    delta = scale * (B @ A).T with A [r, vocab] and B [dim, r] (PEFT's lora_embedding_*).
    magnitude (DoRA): W' = magnitude / ||W + delta||_row * (W + delta)."""

    a: np.ndarray
    b: np.ndarray
    scale: float
    embedding: bool = False
    magnitude: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return self.a.shape[0]

    def delta(self) -> np.ndarray:
        d = (self.b.astype(np.float64) @ self.a.astype(np.float64)) * self.scale
        return (d.T if self.embedding else d).astype(np.float32)


@dataclasses.dataclass
class Adapter:
    """An adapter in HF weight names. torchtune: rows of q/k deltas in Meta's rotary order."""

    path: Path
    format: str                         # "peft" or "torchtune"
    config: dict
    low_rank: dict[str, LowRank]        # HF weight name (…q_proj.weight) -> its pair
    whole: dict[str, np.ndarray]        # HF weight name -> full tensor it replaces
    files: list[Path]

    @property
    def base_model(self) -> str | None:
        return self.config.get("base_model_name_or_path") or None

    @property
    def tokenizer_dir(self) -> Path | None:
        """Fine-tunes that add tokens or change the template save their tokenizer beside the
        adapter; the base's is used otherwise."""
        return self.path if (self.path / "tokenizer.json").is_file() else None

    def summary(self) -> dict:
        ranks = sorted({lr.rank for lr in self.low_rank.values()})
        return {"path": str(self.path), "format": self.format,
                "base_model": self.base_model, "ranks": ranks,
                "use_rslora": bool(self.config.get("use_rslora")),
                "use_dora": bool(self.config.get("use_dora")),
                "targets": sorted({module_kind(n) for n in self.low_rank}),
                "replaced": sorted(self.whole)}


def is_adapter_dir(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / CONFIG).is_file()


def read_adapter(path: Path) -> Adapter:
    """Read and check an adapter folder; every problem is reported before anything is built."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise WebslmError(f"adapter folder {path} does not exist", "pass --lora a PEFT adapter folder")
    if not (path / CONFIG).is_file():
        raise WebslmError(f"{path} has no {CONFIG}, so it is not a LoRA adapter folder",
                          "point --lora at the folder the trainer saved (adapter_config.json + "
                          "adapter_model.safetensors)")
    config = read_json(path / CONFIG)
    _check_config_types(path / CONFIG, config)
    _check_config(path, config)
    weights = next((path / n for n in WEIGHT_FILES if (path / n).is_file()), None)
    if weights is None:
        raise WebslmError(f"{path} has {CONFIG} but no weights ({', '.join(WEIGHT_FILES)})",
                          "copy the adapter_model.* file the trainer wrote into the folder")
    tensors = _load(weights)
    if any(k.startswith(PEFT_PREFIX) for k in tensors):
        fmt, parts = "peft", _peft_parts(tensors, weights)
    else:
        fmt, parts = "torchtune", _torchtune_parts(tensors, weights)
    low_rank, whole = _assemble(parts, config, weights)
    if not low_rank and not whole:
        raise WebslmError(f"{weights} holds no LoRA weights", "check that training saved the adapter")
    modules = {n.removesuffix(".weight"): lr for n, lr in low_rank.items()}
    check_ranks(path / CONFIG, config, {m: lr.rank for m, lr in modules.items()})
    if fmt == "peft":  # torchtune's config names its own modules (output_proj, w1, ...)
        check_targets(path / CONFIG, config, sorted(modules))
    for module, lr in modules.items():
        check_scale(path / CONFIG, module, lora_alpha(config, module, lr.rank), lr.rank,
                    bool(config.get("use_rslora")), lr.scale)
    return Adapter(path, fmt, config, low_rank, whole, [path / CONFIG, weights])


# A pattern such as (a+)+ can take exponential time on a module name; PEFT's patterns are
# plain names or alternations, so nested quantifiers are refused rather than run.
_NESTED_QUANTIFIER = re.compile(r"\([^()]*[+*}][^()]*\)[+*{]")
_RESAVE = "save the adapter again with PEFT's save_pretrained, or restore adapter_config.json"


def _check_config_types(config_path: Path, config) -> None:
    """Every field webslm reads has the type PEFT writes; anything else is a damaged file."""
    if not isinstance(config, dict):
        raise WebslmError(f"{config_path} holds a JSON {type(config).__name__}, not an object", _RESAVE)
    numbers = {"lora_alpha": config.get("lora_alpha"), "r": config.get("r")}
    for key, value in numbers.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise WebslmError(f"{config_path}: {key} is {value!r}, not a positive number", _RESAVE)
    for key in ("alpha_pattern", "rank_pattern"):
        patterns = config.get(key)
        if patterns is None:
            continue
        if not isinstance(patterns, dict):
            raise WebslmError(f"{config_path}: {key} is {patterns!r}, not an object", _RESAVE)
        for pattern, value in patterns.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise WebslmError(f"{config_path}: {key}[{pattern!r}] is {value!r}, not a number", _RESAVE)
            _check_pattern(config_path, f"{key} key", pattern)
    if isinstance(config.get("target_modules"), str):  # a pattern over whole module names
        _check_pattern(config_path, "target_modules", config["target_modules"])


def _check_pattern(config_path: Path, what: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as err:
        raise WebslmError(f"{config_path}: {what} {pattern!r} is not a valid "
                          f"regular expression ({err})", _RESAVE) from None
    if len(pattern) > 500 or _NESTED_QUANTIFIER.search(pattern):
        raise WebslmError(f"{config_path}: {what} {pattern!r:.80} is too long or "
                          "nests repetitions (it could take hours to match)",
                          "use plain module names or alternations (q_proj|v_proj)")


def _check_config(path: Path, config: dict) -> None:
    kind = config.get("peft_type", "LORA")
    if str(kind).upper() != "LORA":
        raise WebslmError(f"{path} is a {kind} adapter; webslm merges LoRA adapters only "
                          "(LoRA, rsLoRA, DoRA, QLoRA)",
                          "train a LoRA adapter, or merge this one yourself and build the merged folder")
    if config.get("lora_bias"):
        raise WebslmError(f"{path} trains biases on lora_B (lora_bias=true), which webslm does not merge",
                          "merge it with PEFT (merge_and_unload) and build the merged folder")
    if config.get("fan_in_fan_out"):
        raise WebslmError(f"{path} stores transposed (fan_in_fan_out) weights, used for GPT-2-style "
                          "Conv1D layers that no architecture webslm compiles has",
                          "check that the adapter was trained on a model webslm builds (`webslm "
                          "build` names the architectures it compiles)")
    for key in ("layer_replication", "trainable_token_indices"):
        if config.get(key):
            raise WebslmError(f"{path} uses PEFT's {key}, which webslm does not merge",
                              "merge it with PEFT (merge_and_unload) and build the merged folder")


def _load(weights: Path) -> dict:
    """name -> torch tensor. Pickles are loaded weights-only: tensors and plain containers."""
    import pickle

    import torch

    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        from webslm.source.safetensors_dir import read_safetensors_header

        read_safetensors_header(weights)  # names the damaged field; bounds every size

        try:
            return load_file(weights)
        except Exception as err:  # safetensors raises its own untyped errors
            raise WebslmError(f"adapter weights {weights} are corrupt or incomplete: {err}",
                              "save the adapter again") from None
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise WebslmError(f"{weights} needs arbitrary unpickling to load, which webslm refuses "
                          f"(it could run code): {str(err).splitlines()[0]}",
                          "save the adapter as safetensors (PEFT: save_pretrained(..., "
                          "safe_serialization=True))") from None
    except Exception as err:
        raise WebslmError(f"cannot read adapter weights {weights}: {err}", "save the adapter again") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WebslmError(f"{weights} is not a flat name -> tensor mapping", "save the adapter again")
    return state


def _peft_parts(tensors: dict, weights: Path) -> dict[tuple[str, str], np.ndarray]:
    """{(HF module name, part): array} from PEFT keys such as
    base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight."""
    parts = {}
    for key, tensor in tensors.items():
        name = key.removeprefix(PEFT_PREFIX).replace(".default", "")
        for suffix, part in sorted(PEFT_PARTS.items(), key=lambda kv: -len(kv[0])):
            if name.endswith("." + suffix):
                module = name[: -len(suffix) - 1].removesuffix(".modules_to_save")
                parts[(module, part)] = to_float32(key, tensor)
                break
        else:
            raise WebslmError(f"{weights} holds {key}, a kind of adapter tensor webslm does not know",
                              "webslm merges LoRA (A/B), DoRA magnitudes, embedding LoRA and "
                              "modules_to_save; merge other kinds with PEFT first")
    return parts


def _torchtune_parts(tensors: dict, weights: Path) -> dict[tuple[str, str], np.ndarray]:
    parts = {}
    for key, tensor in tensors.items():
        module, part = next(((key[: -len(s) - 1], p) for s, p in TORCHTUNE_PARTS.items()
                             if key.endswith("." + s)), (None, None))
        hf = next((re.sub(pat, rep, module) for pat, rep in TORCHTUNE_NAMES
                   if module and re.match(pat, module)), None)
        if hf is None:
            raise WebslmError(f"{weights} holds {key}, which is neither a PEFT nor a torchtune "
                              "LoRA tensor name webslm knows",
                              "point --lora at the PEFT-format adapter (adapter_model.safetensors)")
        parts[(hf, part)] = to_float32(key, tensor)
    return parts


def _assemble(parts: dict, config: dict, weights: Path) -> tuple[dict[str, LowRank], dict[str, np.ndarray]]:
    low_rank, whole = {}, {}
    modules = sorted({m for m, _ in parts})
    for module in modules:
        got = {p: a for (m, p), a in parts.items() if m == module}
        weight = module + ".weight"
        # modules_to_save: the trained copy; a resized base saves its original beside it
        original = got.pop("original", None)
        if "whole" in got or original is not None:
            whole[weight] = got.pop("whole", original)
        a, b = got.pop("A", got.pop("emb_A", None)), got.pop("B", got.pop("emb_B", None))
        embedding = any(p == "emb_A" for (m, p) in parts if m == module)
        if a is None and b is None:
            if got:
                raise WebslmError(f"{weights}: {module} has {', '.join(got)} but no LoRA A/B pair",
                                  "save the adapter again")
            continue
        if a is None or b is None or a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1] or not a.shape[0]:
            raise WebslmError(f"{weights}: {module} has an incomplete or mismatched LoRA pair "
                              f"(A {None if a is None else a.shape}, B {None if b is None else b.shape})",
                              "save the adapter again")
        magnitude = got.pop("magnitude", None)
        low_rank[weight] = LowRank(a, b, lora_scale(config, module, a.shape[0]), embedding, magnitude)
    return low_rank, whole


def lora_alpha(config: dict, module: str, rank: int) -> float:
    """The module's alpha: its alpha_pattern entry (matched against the module name's end, as
    PEFT matches it), else lora_alpha (PEFT writes null for "unset": then the rank)."""
    alpha = pattern_value(config.get("alpha_pattern"), module)
    if alpha is None:
        alpha = config.get("lora_alpha")
    return float(rank if alpha is None else alpha)


def lora_scale(config: dict, module: str, rank: int) -> float:
    """lora_alpha / r, or lora_alpha / sqrt(r) for rsLoRA."""
    return lora_alpha(config, module, rank) / (math.sqrt(rank) if config.get("use_rslora") else rank)
