"""Contradictions inside an adapter folder, and between it and the base it is built on.

adapter_config.json and the tensors beside it are written by different code, and users edit
the config by hand. When they disagree the merge is silently wrong: r = 10^9 over rank-16
tensors makes alpha / r about 0 and the fine-tune vanishes. PEFT refuses such folders when it
loads them, so webslm refuses them too, naming both sides and the fix, before anything runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

from webslm.errors import WebslmError

ALL_LINEAR = "all-linear"    # PEFT's shorthand: every linear but the output layer


def module_kind(module: str) -> str:
    """model.layers.3.self_attn.q_proj -> q_proj."""
    return module.removesuffix(".weight").rsplit(".", 1)[-1]


def pattern_value(patterns: dict | None, module: str):
    """The value of the first rank_pattern / alpha_pattern key that matches the module name's
    end, as PEFT matches them; None when none does."""
    for pattern, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({pattern})$", module):
            return value
    return None


def check_ranks(config_path: Path, config: dict, ranks: dict[str, int]) -> None:
    """ranks: module -> the rank its lora_A / lora_B tensors have. The config's r (or the
    module's rank_pattern entry) must be that rank: it is the divisor of the LoRA scale."""
    if config.get("r") is None:
        return
    wrong = {}
    for module, rank in ranks.items():
        declared = pattern_value(config.get("rank_pattern"), module)
        declared = config["r"] if declared is None else declared
        if declared != rank:
            wrong.setdefault((declared, rank), []).append(module)
    if wrong:
        (declared, rank), modules = next(iter(wrong.items()))
        raise WebslmError(
            f"{config_path} says r = {declared}, but the LoRA tensors of {modules[0]}"
            f"{f' and {len(modules) - 1} more' if len(modules) > 1 else ''} have rank {rank}; "
            f"PEFT would scale the adapter by lora_alpha / {declared}, not by lora_alpha / "
            f"{rank} as it was trained",
            f"set \"r\": {rank} in {config_path.name} (the rank the tensors were trained with), "
            "or save the adapter again with PEFT's save_pretrained")


def check_targets(config_path: Path, config: dict, modules: list[str]) -> None:
    """Every module the tensors adapt must be one target_modules selects, as PEFT selects
    them: a list matches a module's name or its last parts; a string is a regular expression
    over the whole name. Left unchecked when the config names no targets (PEFT's defaults)."""
    targets = config.get("target_modules")
    if not targets or targets == ALL_LINEAR or not modules:
        return
    if isinstance(targets, str):
        try:
            selects = re.compile(targets).fullmatch
        except re.error as err:
            raise WebslmError(f"{config_path}: target_modules {targets!r} is not a valid regular "
                              f"expression ({err})", "save the adapter again with save_pretrained")
    elif isinstance(targets, list) and all(isinstance(t, str) for t in targets):
        names = set(targets)
        selects = lambda m: any(m == t or m.endswith("." + t) for t in names)  # noqa: E731
    else:
        raise WebslmError(f"{config_path}: target_modules is {targets!r}, neither a list of "
                          "module names nor a pattern", "save the adapter again with save_pretrained")
    unselected = sorted({module_kind(m) for m in modules if not selects(m)})
    if unselected:
        kinds = sorted({module_kind(m) for m in modules})
        raise WebslmError(
            f"{config_path}: target_modules {targets!r} does not select "
            f"{', '.join(unselected)}, yet the adapter's weights hold LoRA tensors for "
            f"{', '.join(kinds)} ({len(modules)} modules); PEFT would not load them",
            f"set \"target_modules\": {_json_list(kinds)} in {config_path.name} (the modules "
            "its tensors adapt), or save the adapter again with save_pretrained")


def check_scale(config_path: Path, module: str, alpha: float, rank: int, rslora: bool,
                scale: float) -> None:
    """A scale of 0, infinity or NaN erases the fine-tune or fills the model with NaN."""
    if math.isfinite(scale) and scale != 0:
        return
    formula = f"lora_alpha / sqrt(r) = {alpha:g} / sqrt({rank})" if rslora else \
        f"lora_alpha / r = {alpha:g} / {rank}"
    raise WebslmError(
        f"{config_path}: the LoRA scale of {module} is {formula} = {scale:g}, which "
        f"{'erases the fine-tune' if scale == 0 else 'is not a number a model can run with'}",
        f"set lora_alpha (or its alpha_pattern entry) in {config_path.name} to the value used "
        "in training (PEFT's default is 2 x r), or save the adapter again with save_pretrained")


def same_model_name(declared: str, building: list[str]) -> bool:
    """Whether a base_model_name_or_path names one of the base's names (a models.yaml name,
    alias or source, a folder, a hub id): compared by last path part, case aside, so
    ./Llama-3.2-1B-Instruct and meta-llama/Llama-3.2-1B-Instruct are one model."""
    def last(name: str) -> str:
        return Path(str(name).rstrip("/")).name.lower()

    return last(declared) in {last(n) for n in building if n}


def warn_declared_base(declared: str | None, building: list[str], say: Callable[[str], None]
                       ) -> None:
    """A differently named base may be a copy or a rename: warn, and let the shapes decide
    (merged.py refuses a base whose weights have other shapes)."""
    if declared and not same_model_name(declared, building):
        say(f"WARNING: the adapter was trained on {declared} (its base_model_name_or_path), "
            f"but it is being built on {building[0]}; the weights' shapes fit, so the build goes "
            "on. If the answers look wrong, build it on its own base: --base "
            f"{declared}")


def _json_list(names: list[str]) -> str:
    return "[" + ", ".join(f'"{n}"' for n in names) + "]"
