"""A GGUF header read and checked before anything trusts it.

gguf-py's GGUFReader and transformers believe every count and length in the file; a damaged
or hostile header could make them loop for hours or allocate gigabytes. read_gguf_header
reads the header once, with each count and length checked against the bytes that remain, and
steps over a 262k-token vocabulary in a fraction of a second (source/gguf.py reads the
tensors through it).
"""

import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from webslm.errors import WebslmError

GGUF_MAGIC_NUMBER = 0x46554747  # b"GGUF" read as little-endian uint32
BAD_GGUF = "check that the file is a complete GGUF of a model transformers supports (e.g. llama)"


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
