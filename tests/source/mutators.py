"""Seeded mutators for the input fuzz tests: bytes, JSON values and template text.

Each mutator draws from one random.Random, so a (seed, case number) pair replays exactly.
They damage files the way disks, downloads and hostile authors do: bit flips, truncation,
integer fields overwritten with extreme values, values of the wrong type, structure changes.
"""

from __future__ import annotations

import copy
import json
import random
import struct

# Integers that break parsers: zero, off-by-one edges, sign flips, 2^31/2^32/2^63/2^64 edges.
EXTREME_INTS = (0, 1, 2, 3, 7, 255, 256, 4095, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
                2**40, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 10**9, 10**12)
EXTREME_JSON = (None, True, False, 0, -1, 1, -(2**63), 2**63, 2**64 + 1, 10**9, 10**18, 10**100, 0.5,
                -0.0, 1e308, float("nan"), float("inf"), "", "x" * 5000, "\x00", "\ud800".encode(
                    "utf-8", "surrogatepass").decode("utf-8", "replace"), "<|im_start|>", [], {},
                [1, 2, 3], {"a": 1}, [[[[[]]]]], ["x"] * 50, {"": None})


class Mutator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    # --- bytes -------------------------------------------------------------------------
    def mutate_bytes(self, data: bytes, int_fields: list[tuple[int, int]] = ()) -> bytes:
        """One to three damaging edits; int_fields are (offset, size) of integers in data."""
        out = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 1, 2, 3))):
            ops = [self._flip, self._truncate, self._overwrite_int, self._splice, self._random_run]
            if int_fields:
                ops += [lambda b: self._field_int(b, int_fields)] * 4
            out = self.rng.choice(ops)(out)
        return bytes(out)

    def _flip(self, b: bytearray) -> bytearray:
        for _ in range(self.rng.randint(1, 8)):
            if b:
                i = self.rng.randrange(len(b))
                b[i] ^= 1 << self.rng.randrange(8)
        return b

    def _truncate(self, b: bytearray) -> bytearray:
        return b[: self.rng.randrange(len(b) + 1)]

    def _pack_extreme(self, size: int) -> bytes:
        value = self.rng.choice(EXTREME_INTS) % (1 << (8 * size))
        if self.rng.random() < 0.2:
            value = (1 << (8 * size)) - 1 - self.rng.randrange(4)  # -1, -2, ... as unsigned
        return value.to_bytes(size, "little")

    def _overwrite_int(self, b: bytearray) -> bytearray:
        size = self.rng.choice((4, 8))
        if len(b) >= size:
            i = self.rng.randrange(len(b) - size + 1)
            b[i : i + size] = self._pack_extreme(size)
        return b

    def _field_int(self, b: bytearray, fields) -> bytearray:
        offset, size = self.rng.choice(fields)
        if offset + size <= len(b):
            b[offset : offset + size] = self._pack_extreme(size)
        return b

    def _splice(self, b: bytearray) -> bytearray:
        if len(b) < 2:
            return b
        i, j = sorted(self.rng.randrange(len(b)) for _ in range(2))
        kind = self.rng.randrange(3)
        if kind == 0:
            return b[:i] + b[j:]  # delete
        if kind == 1:
            return b[:j] + b[i:j] + b[j:]  # duplicate
        return b[:i] + b[j:] + b[i:j]  # move a chunk to the end

    def _random_run(self, b: bytearray) -> bytearray:
        i = self.rng.randrange(len(b) + 1)
        run = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 16)))
        return b[:i] + run + b[i + len(run) :]

    # --- JSON ----------------------------------------------------------------------------
    def mutate_json(self, value):
        """A deep copy with one to three edits: a value replaced by an extreme or wrongly typed
        one, a key deleted or added, a container emptied or wrapped."""
        value = copy.deepcopy(value)
        for _ in range(self.rng.choice((1, 1, 2, 3))):
            value = self._json_edit(value)
        return value

    def _json_edit(self, root):
        paths = list(_json_paths(root))
        path = self.rng.choice(paths)
        parent, key = _resolve(root, path)
        kind = self.rng.randrange(6)
        if kind == 0 and isinstance(parent, dict) and key is not None:
            del parent[key]
            return root
        if kind == 1 and isinstance(parent, dict):
            parent[self.rng.choice(("vocab_size", "hidden_size", "dtype", "shape", "x", ""))] = \
                self._extreme()
            return root
        new = self._extreme_like(_get(root, path))
        if key is None:
            return new
        parent[key] = new
        return root

    def _extreme(self):
        """A copy of one of EXTREME_JSON: a later edit changes the copy, never the table (a
        shared [] or {} edited in place grows across cases, until it holds itself)."""
        return copy.deepcopy(self.rng.choice(EXTREME_JSON))

    def _extreme_like(self, old):
        if isinstance(old, bool) or not isinstance(old, int) or self.rng.random() < 0.5:
            return self._extreme()
        return self.rng.choice((-old, old * 10**6, old + 1, old - 1, -1, 0, 10**9, 2**64))

    def json_bytes(self, value) -> bytes:
        """Serialize, sometimes also breaking the JSON syntax itself."""
        text = json.dumps(value, allow_nan=True)
        if self.rng.random() < 0.15:
            text = self.mutate_text(text, snippets=('"', "{", "]", ",", "\\u12", "NaN", "\x00"))
        return text.encode("utf-8", "surrogatepass")

    # --- text ------------------------------------------------------------------------------
    def mutate_text(self, text: str, snippets: tuple[str, ...] = ()) -> str:
        for _ in range(self.rng.choice((1, 1, 2, 3))):
            i, j = sorted(self.rng.randrange(len(text) + 1) for _ in range(2))
            kind = self.rng.randrange(4 if snippets else 3)
            if kind == 0:
                text = text[:i] + text[j:]
            elif kind == 1:
                text = text[:j] + text[i:j] + text[j:]
            elif kind == 2 and text:
                text = text[:i] + chr(self.rng.randrange(32, 0x250)) + text[i + 1 :]
            else:
                text = text[:i] + self.rng.choice(snippets) + text[i:]
        return text


def _json_paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:50]):
            yield from _json_paths(v, (*path, i))


def _get(root, path):
    for key in path:
        root = root[key]
    return root


def _resolve(root, path):
    """(parent container, key) of path; (root, None) for the root itself."""
    if not path:
        return root, None
    return _get(root, path[:-1]), path[-1]


def safetensors_bytes(header: dict, data: bytes, rng: random.Random | None = None) -> bytes:
    """A safetensors file from a header dict (optionally with a wrong length prefix)."""
    raw = json.dumps(header, allow_nan=True).encode("utf-8", "surrogatepass")
    length = len(raw)
    if rng is not None and rng.random() < 0.1:
        length = rng.choice((0, length - 1, length + 1, 2**63, 2**64 - 1, 10**8))
    return struct.pack("<Q", length % 2**64) + raw + data


def split_safetensors(blob: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + length]), blob[8 + length :]
