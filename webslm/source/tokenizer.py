"""Find a model's tokenizer files and make sure the chat template sits in tokenizer_config.json.

WebLLM reads tokenizer.json, and webslm reads the chat template from tokenizer_config.json.
transformers 5 saves templates separately (chat_template.jinja); such folders get a staged copy
with the template merged in, the source folder itself is never modified.
"""

import hashlib
import json
import shutil
from pathlib import Path

from webslm.errors import WebslmError
from webslm.model_files import read_object, read_template_file
from webslm.source.cache import staged_dir

# The files every tokenizer folder has and every artifact ships (WebLLM and transformers.js
# read tokenizer.json; the chat template is in tokenizer_config.json).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
OPTIONAL = ("special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "chat_template.json")


def tokenizer_files(root: Path) -> list[Path]:
    """The tokenizer files present in root, after checking the required ones exist."""
    missing = [name for name in TOKENIZER_FILES if not (root / name).is_file()]
    if missing:
        hint = ""
        if "tokenizer.json" in missing and (root / "tokenizer.model").is_file():
            hint = (
                " (it has only a SentencePiece tokenizer.model; convert it with "
                "`AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)`)"
            )
        raise WebslmError(
            f"tokenizer files missing in {root}: {', '.join(missing)}{hint}",
            "add the model's tokenizer.json and tokenizer_config.json (from the same repo) to the folder",
        )
    return [root / n for n in (*TOKENIZER_FILES, *OPTIONAL) if (root / n).is_file()]


def prepare_tokenizer_dir(root: Path) -> Path:
    """root itself when tokenizer_config.json already holds the chat template, else a staged copy."""
    files = tokenizer_files(root)
    tok_config = read_object(root / "tokenizer_config.json")
    template = _separate_template(root)
    if tok_config.get("chat_template") or template is None:
        return root
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())

    def fill(out: Path) -> None:
        for path in files:
            if path.name not in ("tokenizer_config.json", "chat_template.jinja", "chat_template.json"):
                shutil.copyfile(path, out / path.name)
        merged = {**tok_config, "chat_template": template}
        (out / "tokenizer_config.json").write_text(json.dumps(merged, indent=2, ensure_ascii=False))

    return staged_dir("tokenizer", digest.hexdigest()[:32], fill)


def _separate_template(root: Path) -> str | list | None:
    jinja = root / "chat_template.jinja"
    if jinja.is_file():
        return read_template_file(jinja)
    if (root / "chat_template.json").is_file():
        template = read_object(root / "chat_template.json").get("chat_template")
        if template is not None and not isinstance(template, (str, list)):
            raise WebslmError(f"{root / 'chat_template.json'}: chat_template is a "
                              f"{type(template).__name__}, not a template string",
                              "restore the file from the model's repository")
        return template
    return None
