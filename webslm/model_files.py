"""Reading the JSON and template files that come with a model (config, tokenizer config,
chat templates, adapter configs): a damaged one is a WebslmError naming it, never a
traceback. A leaf module, so that source/ and artifacts/ read them the same way."""

from __future__ import annotations

import json
from pathlib import Path

from webslm.errors import WebslmError


def read_json(path: Path) -> dict:
    """Read a JSON file, failing with a message that names it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WebslmError(f"{path} is missing", "point --source at a complete model") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WebslmError(
            f"{path} is not valid JSON ({err})", "download or restore the file again"
        ) from None


def read_object(path: Path) -> dict:
    """A JSON file that must hold an object (tokenizer_config.json, chat_template.json)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise WebslmError(f"{path} holds a JSON {type(data).__name__}, not an object",
                          "restore the file from the model's repository")
    return data


def read_template_file(path: Path) -> str:
    """chat_template.jinja as text, failing with its name when it is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise WebslmError(f"cannot read chat template {path}: {err}",
                          "restore the file from the model's repository (it must be UTF-8 text)") from None
