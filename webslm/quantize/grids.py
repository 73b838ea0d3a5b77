"""The integer grids weights are stored on: bits per code, and whether a per-group minimum
sits next to the scale. Layers (compile) and the quantizer (quantize) share these numbers."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Grid:
    """Codes of `bits` bits, packed into uint32 words with the first element in the lowest
    bits; one scale (and, if not symmetric, one minimum) per `group_size` inputs.

    symmetric: value = (code - center) * scale; otherwise value = code * scale + min.
    """

    bits: int
    symmetric: bool
    group_size: int = 32

    @property
    def codes_per_word(self) -> int:
        return 32 // self.bits

    @property
    def center(self) -> int:
        """The code of zero on a symmetric grid: 7 for MLC-LLM's 4-bit codes 0..14, 128 for
        8-bit codes 1..255."""
        return 7 if self.bits == 4 else 1 << (self.bits - 1)

    @property
    def max_code(self) -> int:
        return 2 * self.center if self.symmetric and self.bits == 4 else (1 << self.bits) - 1

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The stored arrays of one weight, in the order the quantizer returns them."""
        return (".q_weight", ".q_scale") + (() if self.symmetric else (".q_min",))


Q4_SYM = Grid(4, True)    # MLC-LLM's q4f*_1
Q4_ASYM = Grid(4, False)  # llama.cpp's Q4_1
Q8_SYM = Grid(8, True)    # llama.cpp's Q8_0
