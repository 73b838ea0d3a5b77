"""A base model with a LoRA adapter merged in float32: a ModelSource like any other, so the
quantizer, the compiler and the ONNX export see the fine-tune and nothing else changes.

The merge follows what PEFT computes *unmerged* (base + adapter at run time), which is what
the adapter was trained as: DoRA rescales each output row after adding the low-rank delta;
LoRA on a tied embedding changes the lookup but not the output projection, so such a model is
untied. QLoRA adapters were trained against the NF4 round trip of the base, which
`qlora_base="nf4"` reproduces before merging.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from webslm.errors import WebslmError
from webslm.source.adapter import Adapter
from webslm.model_files import read_json
from webslm.source.base import ModelSource
from webslm.source.tokenizer import prepare_tokenizer_dir

EMBED, LM_HEAD = "model.embed_tokens.weight", "lm_head.weight"
QLORA_BASES = ("nf4",)


@dataclass
class MergedSource(ModelSource):
    base: ModelSource | None = None
    adapter: Adapter | None = None
    qlora_base: str | None = None
    untied: bool = False

    def tensor_names(self) -> list[str]:
        names = list(self.base.tensor_names())
        if self.untied and LM_HEAD not in names:
            names.append(LM_HEAD)
        return names

    def tensor_type(self, name: str) -> str | None:
        """The base's type: a fine-tune keeps its base's per-linear grids (q4f*_k), so a kept
        adapter's base build is the base model's own build. None where the adapter replaces
        the weight whole or the base has none (an untied lm_head)."""
        if name in self.adapter.whole or name not in self.base.tensor_names():
            return None
        return self.base.tensor_type(name)

    def on_grid(self, name: str, grid, scale_dtype: str) -> tuple[np.ndarray, ...] | None:
        """The base's own arrays for a weight the fine-tune leaves as the base stores it."""
        if (name in self.adapter.low_rank or name in self.adapter.whole or self.qlora_base
                or name not in self.base.tensor_names()):
            return None
        return self.base.on_grid(name, grid, scale_dtype)

    def base_tensor(self, name: str) -> np.ndarray:
        """The weight the adapter was trained against: its saved copy, else the base's."""
        if name in self.adapter.whole:
            return self.adapter.whole[name].copy()
        return self.original_tensor(name)

    def original_tensor(self, name: str) -> np.ndarray:
        """The base model's weight (an untied lm_head starts as the tied embedding),
        NF4-round-tripped for QLoRA."""
        tensor = self.base.get_tensor(name if name in self.base.tensor_names() else EMBED)
        if self.qlora_base == "nf4":
            from webslm.quantize.nf4 import nf4_roundtrip, quantized_by_qlora

            if quantized_by_qlora(name):
                tensor = nf4_roundtrip(tensor, dtype=qlora_dtype(self.base.config))
        return tensor

    def get_tensor(self, name: str) -> np.ndarray:
        tensor = self.base_tensor(name)
        low_rank = self.adapter.low_rank.get(name)
        if low_rank is None:
            return tensor
        merged = tensor + low_rank.delta()
        if low_rank.magnitude is not None:
            norm = np.linalg.norm(merged.astype(np.float64), axis=1)
            merged = merged * (low_rank.magnitude / norm).astype(np.float32)[:, None]
        return np.ascontiguousarray(merged, dtype=np.float32)

    def changes(self):
        """(name, base weight, merged weight) for every weight the fine-tune changes; a resized
        vocabulary is compared on the base's rows."""
        for name in sorted({*self.adapter.low_rank, *self.adapter.whole}):
            before, after = self.original_tensor(name), self.get_tensor(name)
            rows = min(before.shape[0], after.shape[0])
            yield name, before[:rows], after[:rows]

    def load_reference_model(self):
        """transformers with the merged float32 weights (the stored-weights comparison)."""
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_config(_hf_config(self.config), dtype=torch.float32)
        params = dict(model.named_parameters())  # a tied lm_head is listed once, as the embedding
        with torch.no_grad():
            for name, array in self.tensors():
                params[name].copy_(torch.from_numpy(array))
        return model.eval()

    def load_source_model(self):
        """PEFT's own model, base + adapter unmerged: what the fine-tune computes in training.
        torchtune's native files have no PEFT reader, so they fall back to the merged weights."""
        if self.adapter.format != "peft":
            return self.load_reference_model()
        import torch
        from peft import PeftModel

        base = self.base.load_reference_model()
        vocab = self.config["vocab_size"]
        if base.get_input_embeddings().weight.shape[0] != vocab:
            base.resize_token_embeddings(vocab, mean_resizing=False)
        if self.qlora_base:  # the NF4 base the adapter was trained on
            from webslm.quantize.nf4 import quantized_by_qlora

            with torch.no_grad():
                for name, param in base.named_parameters():
                    if quantized_by_qlora(name):
                        param.copy_(torch.from_numpy(self.original_tensor(name)))
        return PeftModel.from_pretrained(base, self.adapter.path).eval()


def qlora_dtype(config: dict) -> str:
    """The dtype a QLoRA trainer loads the base in before bitsandbytes quantizes it: the
    checkpoint's own (bfloat16 for Llama 3.2, Qwen 2.5 and Phi-3.5), float32 when unknown."""
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    return dtype if dtype in ("bfloat16", "float16") else "float32"


def merge_adapter(base: ModelSource, adapter: Adapter, qlora_base: str | None = None,
                  id: str | None = None, *, meta_rotary: bool = False) -> MergedSource:
    """Check the adapter against the base (names, shapes, vocabulary) and wrap both.

    meta_rotary: torchtune keeps this architecture's q/k rows in Meta's interleaved rotary
    order (`Architecture.torchtune_meta_rotary`; the caller knows the architecture)."""
    if qlora_base is not None and qlora_base not in QLORA_BASES:
        raise WebslmError(f"unknown --qlora-base {qlora_base!r}", f"use one of: {', '.join(QLORA_BASES)}")
    config = dict(base.config)
    names = set(base.tensor_names())
    tied = bool(config.get("tie_word_embeddings")) and LM_HEAD not in names
    known = names | ({LM_HEAD} if tied else set())
    _check_targets(base, adapter, known)
    vocab = _vocab_size(base, adapter)
    if adapter.format == "torchtune" and meta_rotary:
        adapter = _to_hf_rotary(adapter, config)
    untied = tied and _unties(adapter, vocab != config["vocab_size"])
    if vocab != config["vocab_size"]:
        _check_resized(adapter, vocab, keeps_lm_head=not tied or untied)
    config.update(vocab_size=vocab, tie_word_embeddings=False if untied else config.get("tie_word_embeddings"))
    tokenizer_dir = base.tokenizer_dir
    if adapter.tokenizer_dir is not None:
        tokenizer_dir = prepare_tokenizer_dir(adapter.tokenizer_dir)
    generation = base.generation_config
    if (adapter.path / "generation_config.json").is_file():
        generation = read_json(adapter.path / "generation_config.json")
    tok_files = [p for p in adapter.path.iterdir() if p.name.startswith(("tokenizer", "special_tokens"))]
    return MergedSource(id=id or adapter.path.name, revision=base.revision, config=config,
                        generation_config=generation, tokenizer_dir=tokenizer_dir,
                        files=[*base.files, *adapter.files, *sorted(tok_files)], base=base,
                        adapter=adapter, qlora_base=qlora_base, untied=untied)


def _check_targets(base: ModelSource, adapter: Adapter, known: set[str]) -> None:
    """Every adapted weight exists in the base with the shape the adapter expects."""
    missing = sorted(n for n in [*adapter.low_rank, *adapter.whole] if n not in known)
    if missing:
        have = sorted({n.removesuffix(".weight").rsplit(".", 1)[-1] for n in known if "layers.0." in n})
        raise WebslmError(
            f"the adapter {adapter.path.name} changes {', '.join(missing[:4])}"
            f"{' and more' if len(missing) > 4 else ''}, which the base model {base.id} does not have",
            f"check that it was trained on this base (its layers have: {', '.join(have)}), "
            "or pass the right one with --base")
    shapes = {n: base_shape(base, n) for n in adapter.low_rank}
    for name, lr in adapter.low_rank.items():
        if name in adapter.whole:
            shapes[name] = adapter.whole[name].shape
        out, inp = (lr.b.shape[0], lr.a.shape[1]) if not lr.embedding else (lr.a.shape[1], lr.b.shape[0])
        if (out, inp) != tuple(shapes[name]):
            declared = adapter.base_model
            raise WebslmError(
                f"the adapter's {name} is for a weight of shape {(out, inp)}, but {base.id} has "
                f"{tuple(shapes[name])}"
                + (f" (the adapter names {declared} as its base)" if declared else ""),
                "the adapter belongs to another model (size or vocabulary): build it on "
                + (f"its own base (--base {declared})" if declared else "its base (--base)"))
        if lr.magnitude is not None and lr.magnitude.shape != (out,):
            raise WebslmError(f"the adapter's DoRA magnitude for {name} has shape "
                              f"{lr.magnitude.shape}, expected ({out},)", "save the adapter again")
        if lr.magnitude is not None and lr.embedding:
            raise WebslmError("the adapter uses DoRA on an embedding, which webslm does not merge",
                              "merge it with PEFT (merge_and_unload) and build the merged folder")


def base_shape(base: ModelSource, name: str) -> tuple[int, ...]:
    """A base weight's shape (a tied lm_head has the embedding's)."""
    return base.tensor_shape(name if name in base.tensor_names() else EMBED)


def _vocab_size(base: ModelSource, adapter: Adapter) -> int:
    sizes = {a.shape[0] for n, a in adapter.whole.items() if n in (EMBED, LM_HEAD)}
    if len(sizes) > 1:
        raise WebslmError(f"the adapter's embedding and lm_head have different vocabularies "
                          f"({sorted(sizes)})", "save the adapter again after resize_token_embeddings")
    return sizes.pop() if sizes else base.config["vocab_size"]


def _unties(adapter: Adapter, resized: bool) -> bool:
    """Whether a fine-tune of a tied base needs its own lm_head. PEFT changes the embedding's
    lookup only, so LoRA on either side, or a different saved lm_head, unties the two. A saved
    embedding stays tied when the saved lm_head is the same tensor (ensure_weight_tying), or
    when it comes alone and the vocabulary grew (no other lm_head fits it)."""
    if any(n in adapter.low_rank for n in (EMBED, LM_HEAD)):
        return True
    embedding, lm_head = adapter.whole.get(EMBED), adapter.whole.get(LM_HEAD)
    if embedding is not None and lm_head is not None:
        return not np.array_equal(embedding, lm_head)
    if embedding is not None:
        return not (resized or adapter.config.get("ensure_weight_tying"))
    return lm_head is not None


def _check_resized(adapter: Adapter, vocab: int, keeps_lm_head: bool) -> None:
    """A resized vocabulary needs the whole new embedding (and lm_head, when it is its own)."""
    need = [EMBED] + ([LM_HEAD] if keeps_lm_head else [])
    absent = [n for n in need if n not in adapter.whole]
    if absent:
        raise WebslmError(
            f"the adapter resizes the vocabulary to {vocab} tokens but does not carry the new "
            f"{' and '.join(absent)}",
            "train with modules_to_save=['embed_tokens', 'lm_head'] (or save_embedding_layers=True) "
            "so the added tokens' rows are saved")


def _to_hf_rotary(adapter: Adapter, config: dict) -> Adapter:
    """torchtune's q/k rows are in Meta's interleaved order (for Llama); HF checkpoints are not.
    Reorder the rows of B (and of a DoRA magnitude) the way torchtune's own PEFT export does."""
    heads = {"q_proj": config["num_attention_heads"], "k_proj": config["num_key_value_heads"]}
    low_rank = dict(adapter.low_rank)
    for name, lr in low_rank.items():
        n = heads.get(name.removesuffix(".weight").rsplit(".", 1)[-1])
        if n:
            magnitude = None if lr.magnitude is None else meta_to_hf_rows(lr.magnitude[:, None], n)[:, 0]
            low_rank[name] = dataclasses.replace(lr, b=meta_to_hf_rows(lr.b, n), magnitude=magnitude)
    return dataclasses.replace(adapter, low_rank=low_rank)


def meta_to_hf_rows(rows: np.ndarray, n_heads: int) -> np.ndarray:
    """Per head, rows (x0, y0, x1, y1, ...) -> (x0, x1, ..., y0, y1, ...)."""
    head_dim = rows.shape[0] // n_heads
    return np.ascontiguousarray(
        rows.reshape(n_heads, head_dim // 2, 2, -1).transpose(0, 2, 1, 3).reshape(rows.shape))


def _hf_config(config: dict):
    from transformers import AutoConfig

    fields = {k: v for k, v in config.items() if k not in ("model_type", "architectures")}
    return AutoConfig.for_model(config["model_type"], architectures=config.get("architectures"), **fields)

