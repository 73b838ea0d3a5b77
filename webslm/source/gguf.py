"""A llama.cpp GGUF file, dequantized to float32 through transformers' own GGUF support.

transformers maps GGUF names to HF names and undoes llama.cpp's q/k row permutation
(modeling_gguf_pytorch_utils); we reuse that per tensor so weights stream one at a time.
Config and tokenizer come from AutoConfig/AutoTokenizer(gguf_file=...) once, and are staged as a
weightless HF folder (config.json, generation_config.json, tokenizer files) in the webslm cache.
"""

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from webslm.errors import WebslmError
from webslm.source.base import ModelSource, read_json, reference_generation_config
from webslm.source.cache import cache_key, staged_dir
from webslm.source.config import clean_exported_config, normalize_config

STAGING_VERSION = 1
BAD_GGUF = "check that the file is a complete GGUF of a model transformers supports (e.g. llama)"


@dataclass
class GgufSource(ModelSource):
    path: Path = field(default=Path("model.gguf"))

    @cached_property
    def _reader(self):
        from gguf import GGUFReader

        try:
            return GGUFReader(self.path)
        except Exception as err:  # the reader raises ValueError/struct errors on damaged files
            raise WebslmError(f"cannot read GGUF file {self.path}: {err}", BAD_GGUF) from None

    @cached_property
    def _processor(self):
        from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor

        arch = self._reader.fields["general.architecture"].contents()
        return TENSOR_PROCESSORS.get(arch, TensorProcessor)(config=self.config)

    @cached_property
    def _index(self) -> dict[str, int]:
        """HF name -> position in the GGUF tensor list, in the HF model's parameter order."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
        from transformers.modeling_gguf_pytorch_utils import get_gguf_hf_weights_map

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(self.tokenizer_dir))
        gguf_to_hf = self._top_level_names(model)
        if not all(t.name in gguf_to_hf for t in self._reader.tensors):
            gguf_to_hf = get_gguf_hf_weights_map(model, self._processor)  # complete, but ~10 s
        present = {gguf_to_hf[t.name]: i for i, t in enumerate(self._reader.tensors) if t.name in gguf_to_hf}
        return {name: present[name] for name in model.state_dict() if name in present}

    def _top_level_names(self, model) -> dict[str, str]:
        """GGUF name -> HF name via gguf-py's table, as transformers does before it recurses.

        transformers' get_gguf_hf_weights_map rebuilds that table for every submodule (~10 s for
        30 layers); one pass over the state dict gives the same answer for decoder-only models.
        """
        from gguf import MODEL_ARCH_NAMES, get_tensor_name_map

        arch = self._reader.fields["general.architecture"].contents()
        arch_ids = [key for key, value in MODEL_ARCH_NAMES.items() if value == arch]
        if not arch_ids:
            return {}
        table = get_tensor_name_map(arch_ids[0], model.config.num_hidden_layers)
        mapping = {}
        for hf_name in model.state_dict():
            base, _, suffix = self._processor.preprocess_name(hf_name).rpartition(".")
            gguf_base = table.get_name(base)
            if gguf_base is not None:
                mapping[f"{gguf_base}.{suffix}"] = hf_name
        return mapping

    def tensor_names(self) -> list[str]:
        return list(self._index)

    def tensor_shape(self, name: str) -> tuple[int, ...]:
        """GGUF lists dimensions innermost first; the processors reorder rows, never shapes."""
        return tuple(int(d) for d in reversed(self._reader.tensors[self._index[name]].shape))

    def get_tensor(self, name: str) -> np.ndarray:
        from gguf import dequantize

        if name not in self._index:
            raise WebslmError(f"{self.path} has no tensor for {name}", "use one of tensor_names()")
        tensor = self._reader.tensors[self._index[name]]
        weights = dequantize(tensor.data, tensor.tensor_type)
        result = self._processor.process(
            weights=weights, name=tensor.name, tensor_key_mapping={}, parsed_parameters={}
        )
        if result.name != tensor.name:
            raise WebslmError(
                f"GGUF tensor {tensor.name} needs a conversion webslm does not support ({result.name})",
                "use the model's Hugging Face safetensors release instead of the GGUF",
            )
        array = np.ascontiguousarray(result.weights, dtype=np.float32)
        if np.may_share_memory(array, tensor.data):  # F32 tensors come back as views of the mmap
            array = array.copy()
        return array

    def load_reference_model(self):
        """Build the model from the staged config and copy our streamed tensors into it.

        (from_pretrained(gguf_file=...) would need `accelerate`; this path needs nothing extra.)
        """
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        cfg = AutoConfig.from_pretrained(self.tokenizer_dir)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        params = dict(model.named_parameters())  # a tied lm_head is listed once, as the embedding
        loaded = set()
        with torch.no_grad():
            for name, array in self.tensors():
                if name not in params:
                    raise WebslmError(f"{self.path} holds {name}, which the model does not have", BAD_GGUF)
                params[name].copy_(torch.from_numpy(array))
                loaded.add(name)
        missing = sorted(set(params) - loaded)
        if missing:
            raise WebslmError(f"{self.path} lacks weights for {', '.join(missing[:5])}", BAD_GGUF)
        return model.eval()


def open_gguf(path: Path) -> GgufSource:
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise WebslmError(f"GGUF file {path} does not exist", "check the path passed to --source")
    stat = path.stat()
    import transformers

    key = cache_key(path, stat.st_size, stat.st_mtime_ns, transformers.__version__, STAGING_VERSION)
    staged = staged_dir("gguf", key, lambda out: _extract(path, out))
    config = read_json(staged / "config.json")
    return GgufSource(
        id=path.stem,
        revision=None,
        config=config,
        generation_config=read_json(staged / "generation_config.json"),
        tokenizer_dir=staged,
        files=[path],
        path=path,
    )


def _extract(path: Path, out: Path) -> None:
    """Write config.json, generation_config.json and the tokenizer files the GGUF describes."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        exported = AutoConfig.from_pretrained(path.parent, gguf_file=path.name).to_dict()
    except Exception as err:
        raise WebslmError(f"cannot read the model config in GGUF file {path}: {err}", BAD_GGUF) from None
    config = normalize_config(clean_exported_config(exported))
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        tokenizer.save_pretrained(out, save_jinja_files=False)  # template inside tokenizer_config.json
    except Exception as err:
        raise WebslmError(
            f"cannot rebuild the tokenizer stored in GGUF file {path}: {err}",
            "use a GGUF that embeds its tokenizer (tokenizer.ggml.*), or the model's HF release",
        ) from None
    if not (out / "tokenizer.json").is_file():
        raise WebslmError(f"GGUF file {path} yields no tokenizer.json (slow tokenizer only)", BAD_GGUF)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    generation = reference_generation_config(config)
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
