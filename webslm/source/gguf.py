"""A llama.cpp GGUF file, dequantized to float32 through transformers' own GGUF support.

transformers maps GGUF names to HF names and undoes llama.cpp's q/k row permutation
(modeling_gguf_pytorch_utils); we reuse that per tensor so weights stream one at a time.
Config and tokenizer come from AutoConfig/AutoTokenizer(gguf_file=...) once, and are staged as a
weightless HF folder (config.json, generation_config.json, tokenizer files) in the webslm cache.
The tensors are read from webslm's own checked header (read_gguf_header), which steps over the
150k-262k-token vocabularies in a fraction of a second, where gguf-py's GGUFReader spends
seconds (Gemma 3 270M's: 10-15 s on 2 cores) building every string of them.
"""

import contextlib
import functools
import json
import math
import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from webslm.errors import WebslmError
from webslm.model_files import read_json
from webslm.source.base import ModelSource, reference_generation_config
from webslm.source.cache import cache_key, staged_dir
from webslm.source.config import clean_exported_config, normalize_config

STAGING_VERSION = 1
GGUF_MAGIC_NUMBER = 0x46554747  # b"GGUF" read as little-endian uint32
BAD_GGUF = "check that the file is a complete GGUF of a model transformers supports (e.g. llama)"


@dataclass
class GgufSource(ModelSource):
    path: Path = field(default=Path("model.gguf"))

    @cached_property
    def _reader(self):
        """gguf-py's reader of the file (every field; the tensors need none of it)."""
        return open_gguf_reader(self.path)

    @cached_property
    def _header(self) -> "GgufHeader":
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


def gguf_tensors(path: Path, header: "GgufHeader | None" = None) -> list[GgufTensor]:
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


# --- Checking a GGUF header before anything trusts it ------------------------------------
# gguf-py's GGUFReader and transformers believe every count and length in the file; a damaged
# or hostile header could make them loop for hours or allocate gigabytes. This reads the
# header once, with each count and length checked against the bytes that remain.

_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY, _UINT32 = 8, 9, 4
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_NESTING = 2  # arrays of arrays: deeper never occurs in real files
_MAX_NAME = 1 << 16  # longest key or tensor name accepted
_MAX_ARRAY = 1 << 22  # items in one array: real vocabularies and merge lists hold < 10^6


@dataclass(frozen=True)
class GgufArray:
    """An array value, kept as its item type and length (tokenizer arrays hold 10^5 strings)."""

    item_type: int
    count: int


@dataclass(frozen=True)
class GgufTensorInfo:
    name: str
    dims: tuple[int, ...]  # innermost first, as GGUF stores them
    ggml_type: int
    offset: int  # from the start of the data section
    nbytes: int


@dataclass
class GgufHeader:
    version: int
    metadata: dict
    tensors: list[GgufTensorInfo]
    data_start: int
    byte_order: str = "<"  # ">": written on a big-endian machine


class _Cursor:
    """Reads GGUF values from a buffer, failing with the field being read and its offset."""

    def __init__(self, buf, path: Path, order: str):
        self.buf, self.path, self.order, self.pos = buf, path, order, 0

    def fail(self, what: str):
        raise WebslmError(f"GGUF file {self.path} is damaged: {what} (at byte {self.pos})", BAD_GGUF)

    def left(self) -> int:
        return len(self.buf) - self.pos

    def unpack(self, fmt: str, what: str):
        size = struct.calcsize(fmt)
        if self.left() < size:
            self.fail(f"the file ends inside {what}")
        value = struct.unpack_from(self.order + fmt, self.buf, self.pos)[0]
        self.pos += size
        return value

    def string_length(self, what: str) -> int:
        length = self.unpack("Q", f"the length of {what}")
        if length > self.left():
            self.fail(f"{what} claims {length} bytes but only {self.left()} remain")
        return length

    def skip_strings(self, count: int, what: str) -> None:
        """Step over an array of strings (a vocabulary: 10^5 of them), checking each length."""
        buf, pos, end = self.buf, self.pos, len(self.buf)
        length_at = struct.Struct(self.order + "Q").unpack_from
        for i in range(count):
            if pos + 8 > end:
                self.pos = pos
                self.fail(f"the file ends inside item {i} of {what}")
            pos += 8 + length_at(buf, pos)[0]
            if pos > end:
                self.pos = pos
                self.fail(f"item {i} of {what} runs past the end of the file")
        self.pos = pos

    def take(self, length: int) -> bytes:
        self.pos += length
        return self.buf[self.pos - length : self.pos]

    def name(self, what: str) -> str:
        length = self.string_length(what)
        if length > _MAX_NAME:
            self.fail(f"{what} is {length} bytes long")
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} is not UTF-8 text")

    def value(self, vtype: int, what: str, depth: int = 0):
        if vtype in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[vtype], what)
        if vtype == _STRING:
            length = self.string_length(what)
            if length > 4096:  # long strings (never names) are skipped, not copied
                self.pos += length
                return GgufArray(_STRING, length)
            return self.take(length).decode("utf-8", "replace")
        if vtype == _ARRAY:
            return self.array(what, depth)
        self.fail(f"{what} has unknown value type {vtype}")

    def array(self, what: str, depth: int):
        if depth >= _MAX_NESTING:
            self.fail(f"{what} nests arrays more than {_MAX_NESTING} deep")
        item_type = self.unpack("I", f"the item type of {what}")
        count = self.unpack("Q", f"the length of {what}")
        if count > _MAX_ARRAY:
            self.fail(f"{what} claims {count} items, more than the {_MAX_ARRAY} webslm accepts")
        if item_type in _SCALAR_FORMATS:
            size = struct.calcsize(_SCALAR_FORMATS[item_type])
            if count * size > self.left():
                self.fail(f"{what} claims {count} items but only {self.left()} bytes remain")
            self.pos += count * size
        elif item_type in (_STRING, _ARRAY):
            if count * (8 if item_type == _STRING else 12) > self.left():
                self.fail(f"{what} claims {count} items but only {self.left()} bytes remain")
            if item_type == _STRING:
                self.skip_strings(count, what)
            for i in range(count if item_type == _ARRAY else 0):
                self.value(item_type, f"item {i} of {what}", depth + 1)
        else:
            self.fail(f"{what} has unknown item type {item_type}")
        return GgufArray(item_type, count)


def read_gguf_header(path: Path) -> GgufHeader:
    """The header of a GGUF file, refused with a WebslmError unless every part of it is sane.

    Checks magic, version, counts, string and array lengths, tensor types, dimensions, offsets
    and overlaps against the file size, so nothing read afterwards can run off the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 24:
                raise WebslmError(f"GGUF file {path} is {size} bytes, too short for a GGUF header", BAD_GGUF)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse_header(buf, path)
    except OSError as err:
        raise WebslmError(f"cannot read GGUF file {path}: {err.strerror or err}",
                          "check the file exists and is readable") from None


def _parse_header(buf: mmap.mmap, path: Path) -> GgufHeader:
    cur = _Cursor(buf, path, "<")
    if cur.unpack("I", "the magic number") != GGUF_MAGIC_NUMBER:
        cur.fail("it does not start with the GGUF magic bytes (is it a GGUF file?)")
    version = cur.unpack("I", "the version")
    if version & 0xFFFF == 0:  # written on a big-endian machine
        cur.order, version = ">", struct.unpack(">I", struct.pack("<I", version))[0]
    if version not in (2, 3):
        cur.fail(f"version {version} is not one webslm reads (2 or 3)")
    tensor_count = cur.unpack("Q", "the tensor count")
    kv_count = cur.unpack("Q", "the metadata count")
    if kv_count * 13 > cur.left() or tensor_count * 24 > cur.left():
        cur.fail(f"it claims {tensor_count} tensors and {kv_count} metadata entries, "
                 f"more than its {len(buf)} bytes can hold")
    metadata = _read_metadata(cur, kv_count)
    infos = [_read_tensor_info(cur, i) for i in range(tensor_count)]
    alignment = _alignment(cur, metadata)
    data_start = -(-cur.pos // alignment) * alignment
    tensors = _check_tensor_data(cur, infos, data_start, alignment)
    return GgufHeader(version, metadata, tensors, data_start, cur.order)


def _read_metadata(cur: _Cursor, count: int) -> dict:
    metadata = {}
    for i in range(count):
        key = cur.name(f"the key of metadata entry {i}")
        if key in metadata:
            cur.fail(f"metadata key {key!r} appears twice")
        vtype = cur.unpack("I", f"the value type of {key!r}")
        metadata[key] = (vtype, cur.value(vtype, f"metadata {key!r}"))
    return metadata


def _read_tensor_info(cur: _Cursor, index: int) -> tuple:
    name = cur.name(f"the name of tensor {index}")
    n_dims = cur.unpack("I", f"the dimension count of tensor {name!r}")
    if not 1 <= n_dims <= _MAX_DIMS:
        cur.fail(f"tensor {name!r} has {n_dims} dimensions (GGUF allows 1 to {_MAX_DIMS})")
    dims = tuple(cur.unpack("Q", f"a dimension of tensor {name!r}") for _ in range(n_dims))
    ggml_type = cur.unpack("I", f"the type of tensor {name!r}")
    offset = cur.unpack("Q", f"the data offset of tensor {name!r}")
    return name, dims, ggml_type, offset


def _alignment(cur: _Cursor, metadata: dict) -> int:
    vtype, value = metadata.get("general.alignment", (_UINT32, 32))
    if vtype != _UINT32 or not isinstance(value, int) or value <= 0 or value & (value - 1) or value > 1 << 20:
        cur.fail(f"general.alignment is {value!r} (type {vtype}); it must be a uint32 power of two")
    return value


def _check_tensor_data(cur: _Cursor, infos: list, data_start: int, alignment: int) -> list[GgufTensorInfo]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    data_size = len(cur.buf) - data_start
    tensors, seen = [], set()
    for name, dims, ggml_type, offset in infos:
        if name in seen:
            cur.fail(f"tensor {name!r} appears twice")
        seen.add(name)
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            cur.fail(f"tensor {name!r} has unknown type {ggml_type}")
        if any(d == 0 for d in dims) or dims[0] % block:
            cur.fail(f"tensor {name!r} has shape {list(dims)}, not a whole number of {block}-blocks")
        count = math.prod(dims)
        nbytes = count // block * type_size
        if offset % alignment or offset + nbytes > data_size:
            cur.fail(f"tensor {name!r} ({nbytes} bytes at data offset {offset}) lies outside the "
                     f"file's {data_size} data bytes, or is not {alignment}-aligned")
        tensors.append(GgufTensorInfo(name, dims, ggml_type, offset, nbytes))
    ordered = sorted(tensors, key=lambda t: t.offset)
    for before, after in zip(ordered, ordered[1:]):
        if before.offset + before.nbytes > after.offset:
            cur.fail(f"tensors {before.name!r} and {after.name!r} overlap in the data section")
    return tensors


def gguf_architecture(header: GgufHeader, path: Path) -> str:
    """general.architecture, which transformers needs to read anything else."""
    vtype, value = header.metadata.get("general.architecture", (None, None))
    if vtype != _STRING or not isinstance(value, str) or not value:
        raise WebslmError(f"GGUF file {path} has no general.architecture string", BAD_GGUF)
    return value
