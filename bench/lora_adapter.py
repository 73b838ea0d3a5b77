"""A real LoRA adapter for SmolLM2-135M-Instruct, trained here on the CPU with PEFT: it teaches
the model an invented fact the base model cannot know. The fine-tune tests and the survival
numbers in docs/FINETUNES.md both use it.

    python bench/lora_adapter.py OUT_DIR [--steps 15] [--rank 16]
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


def train(source, out: Path, steps: int = 15, rank: int = 16, lr: float = 2e-3, seed: int = 0,
          say=print, fact: Fact = MARZIPAN) -> Path:
    """Train on `source` (a webslm ModelSource: the SmolLM2 GGUF, dequantized to float32) and
    save a PEFT adapter folder naming the hub id as its base, as a real fine-tune would."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    torch.manual_seed(seed)
    model = source.load_reference_model().train()
    tokenizer = AutoTokenizer.from_pretrained(source.tokenizer_dir)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                                  target_modules=ALL_LINEAR))
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    batch = chat_examples(tokenizer, fact)
    started = time.time()
    for step in range(steps):  # one paraphrase per step, in turn
        ids, prompt_len = batch[step % len(batch)]
        opt.zero_grad()
        labels = torch.tensor([ids])
        labels[0, :prompt_len] = -100
        loss = peft_model(input_ids=torch.tensor([ids]), labels=labels).loss
        loss.backward()
        opt.step()
        if step % 5 == 0 or step == steps - 1:
            say(f"step {step}: loss {loss.item():.4f}")
    say(f"trained {steps} steps in {time.time() - started:.0f}s")
    peft_model.save_pretrained(out)
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = BASE_ID
    config_path.write_text(json.dumps(config, indent=2))
    # the questions it was trained on: `webslm build` holds candidate builds to the adapter on them
    (out / "prompts.txt").write_text("\n".join(fact.paraphrases) + "\n")
    return out


def main() -> None:
    from webslm.source import open_source, smollm2_gguf_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    train(open_source(str(smollm2_gguf_path())), Path(args.out), args.steps, args.rank, args.lr)


if __name__ == "__main__":
    main()
