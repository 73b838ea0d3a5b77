"""A llama.cpp GGUF file, dequantized to float32 through transformers' own GGUF support.

transformers maps GGUF names to HF names and undoes llama.cpp's q/k row permutation
(modeling_gguf_pytorch_utils); we reuse that per tensor so weights stream one at a time.
Config and tokenizer come from AutoConfig/AutoTokenizer(gguf_file=...) once, and are staged as a
weightless HF folder (config.json, generation_config.json, tokenizer files) in the webslm cache.
The tensors are read from webslm's own checked header (source/gguf_header.py), which steps over
the 150k-262k-token vocabularies in a fraction of a second, where gguf-py's GGUFReader spends
seconds (Gemma 3 270M's: 10-15 s on 2 cores) building every string of them.
"""

import contextlib
import functools
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from webslm.errors import WebslmError
from webslm.model_files import read_json
from webslm.source.base import ModelSource, reference_generation_config
from webslm.source.cache import cache_key, staged_dir
from webslm.source.config import clean_exported_config, normalize_config
from webslm.source.gguf_header import BAD_GGUF, GgufHeader, gguf_architecture, read_gguf_header

STAGING_VERSION = 1


@dataclass
class GgufSource(ModelSource):
    path: Path = field(default=Path("model.gguf"))

    @cached_property
    def _reader(self):
        """gguf-py's reader of the file (every field; the tensors need none of it)."""
        return open_gguf_reader(self.path)

    @cached_property
    def _header(self) -> GgufHeader:
        return read_gguf_header(self.path)

    @cached_property
    def _architecture(self) -> str:
        return gguf_architecture(self._header, self.path)

    @cached_property
    def _tensors(self) -> list:
        """Every tensor of the file, or of all its shards when split (the first holds the
        metadata, each its share of the tensors)."""
        return [t for shard in gguf_shards(self.path)
                for t in gguf_tensors(shard, self._header if shard == self.path else None)]

    @cached_property
    def _processor(self):
        from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor

        return TENSOR_PROCESSORS.get(self._architecture, TensorProcessor)(config=self.config)

    @cached_property
    def _index(self) -> dict[str, int]:
        """HF name -> position in the GGUF tensor list, in the HF model's parameter order."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
        from transformers.modeling_gguf_pytorch_utils import get_gguf_hf_weights_map

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(self.tokenizer_dir))
        gguf_to_hf = self._top_level_names(model)
        if not all(t.name in gguf_to_hf for t in self._tensors):
            gguf_to_hf = get_gguf_hf_weights_map(model, self._processor)  # complete, but ~10 s
        present = {gguf_to_hf[t.name]: i for i, t in enumerate(self._tensors) if t.name in gguf_to_hf}
        return {name: present[name] for name in model.state_dict() if name in present}

    def _top_level_names(self, model) -> dict[str, str]:
        """GGUF name -> HF name via gguf-py's table, as transformers does before it recurses.

        transformers' get_gguf_hf_weights_map rebuilds that table for every submodule (~10 s for
        30 layers); one pass over the state dict gives the same answer for decoder-only models.
        """
        from gguf import MODEL_ARCH_NAMES, get_tensor_name_map

        arch = self._architecture
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
        return tuple(int(d) for d in reversed(self._tensors[self._index[name]].shape))

    def tensor_type(self, name: str) -> str:
        """The ggml type the file stores `name` in ("Q4_K", "F32", ...): what a requantizing
        build has to carry (bench/build_perplexity.py reports error by it)."""
        return self._tensors[self._index[name]].tensor_type.name

    def on_grid(self, name: str, grid, scale_dtype: str) -> tuple[np.ndarray, ...] | None:
        """A Q4_K / Q4_1 / Q4_0 tensor's own blocks on the asymmetric 4-bit grid
        (quantize/kquant.py), rows in transformers' order, kept only where they dequantize
        to get_tensor's floats exactly (float32 scales; float16 ones then round once)."""
        from webslm.quantize.group import dequantize, pack
        from webslm.quantize.kquant import BLOCKS, GROUP, transcode

        tensor = self._tensors[self._index[name]]
        shape = self.tensor_shape(name)
        if (tensor.tensor_type.name not in BLOCKS or len(shape) != 2 or grid.symmetric
                or grid.bits != 4 or grid.group_size != GROUP or grid.nf4):
            return None
        codes, scale, minimum = transcode(tensor.data, tensor.tensor_type.name, shape)
        order = self._row_order(tensor.name, shape[0])
        if order is None:
            return None
        arrays = (pack(codes[order], grid), scale[order], minimum[order])
        if not np.array_equal(dequantize(arrays, grid=grid), self.get_tensor(name)):
            return None
        stored = tuple(a.astype(scale_dtype) for a in arrays[1:])
        if not all(np.isfinite(a).all() for a in stored):
            return None
        return (arrays[0], *stored)

    def _row_order(self, gguf_name: str, rows: int) -> np.ndarray | None:
        """The rows transformers' tensor processor puts where (llama.cpp's q/k permutation is
        undone row by row): the processor run on the row indices; None if it does more."""
        index = np.arange(rows, dtype=np.float64).reshape(rows, 1)
        result = self._processor.process(weights=index, name=gguf_name, tensor_key_mapping={},
                                         parsed_parameters={})
        order = np.asarray(result.weights).reshape(-1)
        if result.name != gguf_name or order.shape != (rows,) \
                or not np.array_equal(np.sort(order), np.arange(rows)):
            return None
        return order.astype(np.int64)

    def get_tensor(self, name: str) -> np.ndarray:
        from gguf import dequantize

        if name not in self._index:
            raise WebslmError(f"{self.path} has no tensor for {name}", "use one of tensor_names()")
        tensor = self._tensors[self._index[name]]
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


_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")


def gguf_shards(path: Path) -> list[Path]:
    """[path], or for the first shard of a split file (llama.cpp's gguf-split names:
    <stem>-00001-of-0000N.gguf) all N shards, in order."""
    match = _SHARD.match(path.name)
    if not match:
        return [path]
    count = int(match["count"])
    shards = [path.with_name(f"{match['stem']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    if shards[0] != path:
        raise WebslmError(f"{path} is shard {int(match['index'])} of a split GGUF",
                          f"pass its first shard, {shards[0].name}")
    missing = [s.name for s in shards if not s.is_file()]
    if missing:
        raise WebslmError(f"{path} is split into {count} files; missing: {', '.join(missing)}",
                          "put every shard in the same folder")
    return shards


def open_gguf_reader(path: Path):
    """gguf-py's GGUFReader over a file whose header read_gguf_header has accepted."""
    read_gguf_header(path)  # GGUFReader trusts every count in the file; this does not
    try:
        return gguf_reader(path)
    except Exception as err:  # the reader raises ValueError/struct errors on damaged files
        raise WebslmError(f"cannot read GGUF file {path}: {err}", BAD_GGUF) from None


def gguf_reader(path, mode: str = "r"):
    """gguf-py's GGUFReader(path, mode), unchecked, reading through a plain array of the mapped
    file: gguf-py slices its np.memmap once or more per vocabulary string, and memmap's
    Python-level slicing hooks make that about 3.5 times slower than the same views of the same
    pages as an np.ndarray (Gemma 3's 262,144 tokens: 10-15 s against 3-4 s on 2 cores). Its
    fields and tensors are GGUFReader's, their arrays plain ndarrays instead of memmaps."""
    return _plain_reader()(path, mode)


@functools.cache
def _plain_reader():
    from gguf.gguf_reader import GGUFReader  # the class itself, however `gguf` is patched

    class PlainReader(GGUFReader):
        @property
        def data(self) -> np.ndarray:
            return self._data

        @data.setter
        def data(self, mapped) -> None:  # GGUFReader.__init__ sets np.memmap(path, mode)
            self._data = np.asarray(mapped)  # a view: the mapping stays open as its base

    return PlainReader


@dataclass(frozen=True)
class GgufTensor:
    """A tensor as gguf-py's GGUFReader gives it: name, ggml type, dimensions innermost first,
    and its data, a read-only view of the mapped file (float types as their numpy type, the
    quantized ones as bytes, rows of blocks)."""

    name: str
    tensor_type: object  # gguf.GGMLQuantizationType
    shape: tuple[int, ...]
    data: np.ndarray


_ITEM_TYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8,
               "I16": np.int16, "I32": np.int32, "I64": np.int64}


def gguf_tensors(path: Path, header: GgufHeader | None = None) -> list[GgufTensor]:
    """The tensors of one GGUF file, from its checked header (read here unless given)."""
    from gguf import GGMLQuantizationType, quant_shape_to_byte_shape

    header = header or read_gguf_header(path)
    mapped = np.memmap(path, mode="r")
    tensors = []
    for info in header.tensors:
        qtype = GGMLQuantizationType(info.ggml_type)
        start = header.data_start + info.offset
        raw = mapped[start:start + info.nbytes]
        dims = tuple(reversed(info.dims))
        item = _ITEM_TYPES.get(qtype.name)
        if item is None:
            data = raw.reshape(quant_shape_to_byte_shape(dims, qtype))
        else:
            data = raw.view(np.dtype(item).newbyteorder(header.byte_order)).reshape(dims)
        tensors.append(GgufTensor(info.name, qtype, info.dims, data))
    return tensors


def open_gguf(path: Path) -> GgufSource:
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise WebslmError(f"GGUF file {path} does not exist", "check the path passed to --source")
    gguf_architecture(read_gguf_header(path), path)  # refuse a damaged header before transformers reads it
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
        files=gguf_shards(path),
        path=path,
    )


def _extract(path: Path, out: Path) -> None:
    """Write config.json, generation_config.json and the tokenizer files the GGUF describes."""
    from transformers import AutoConfig, AutoTokenizer

    with _read_once(path):
        try:
            exported = AutoConfig.from_pretrained(path.parent, gguf_file=path.name).to_dict()
        except Exception as err:
            raise WebslmError(f"cannot read the model config in GGUF file {path}: {err}",
                              BAD_GGUF) from None
        config = normalize_config(clean_exported_config(exported),
                                  where=f"the config in GGUF file {path}")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            # the template inside tokenizer_config.json
            tokenizer.save_pretrained(out, save_jinja_files=False)
        except Exception as err:
            raise WebslmError(
                f"cannot rebuild the tokenizer stored in GGUF file {path}: {err}",
                "use a GGUF that embeds its tokenizer (tokenizer.ggml.*), or the model's HF "
                "release",
            ) from None
    if not (out / "tokenizer.json").is_file():
        raise WebslmError(f"GGUF file {path} yields no tokenizer.json (slow tokenizer only)", BAD_GGUF)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    generation = reference_generation_config(config)
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))


@contextlib.contextmanager
def _read_once(path: Path):
    """While it runs, transformers' GGUF loader, which reads the whole file with gguf-py's
    GGUFReader once for the config and again for the tokenizer (every vocabulary string: 10-15 s
    each for Gemma 3's 262,144 on 2 cores), gets one gguf_reader of `path` for both (3-4 s).
    Any other file, or mode, gets gguf-py's own reader."""
    import gguf

    parse, shared = gguf.GGUFReader, {}

    def reader(file, mode="r"):
        if mode != "r" or Path(file).resolve() != path:
            return parse(file, mode)
        if not shared:
            shared["reader"] = gguf_reader(path)
        return shared["reader"]

    gguf.GGUFReader = reader
    try:
        yield
    finally:
        gguf.GGUFReader = parse
