"""The grids weights are stored on: bits per code, whether a per-group minimum sits next to
the scale, or whether codes index bitsandbytes' NF4 code book. Layers (compile) and the
quantizer (quantize) share these numbers."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Grid:
    """Codes of `bits` bits, packed into uint32 words with the first element in the lowest
    bits; one scale (and, if not symmetric, one minimum) per `group_size` inputs.

    symmetric: value = (code - center) * scale; otherwise value = code * scale + min.
    nf4: value = NF4_CODE[code] * absmax' (webslm.quantize.nf4), the scale being bitsandbytes'
    double-quantized absmax of a 64-weight block, dequantized: what a QLoRA adapter was
    trained over, bit for bit (4-bit, symmetric in the sense of having no minimum).
    """

    bits: int
    symmetric: bool
    group_size: int = 32
    nf4: bool = False

    def scale_dtype(self, act_dtype: str) -> str:
        """Scales are stored in the activation dtype, but NF4's absmax' stays float32: a
        float16 absmax' would move every weight off bitsandbytes' values."""
        return "float32" if self.nf4 else act_dtype

    def bits_per_weight(self, act_dtype: str) -> float:
        """Stored bits per weight: the code, plus its group's scale (and minimum) shared out."""
        scale_bits = 32 if self.scale_dtype(act_dtype) == "float32" else 16
        return self.bits + scale_bits * (1 if self.symmetric else 2) / self.group_size

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
Q4_NF4 = Grid(4, True, 64, nf4=True)  # bitsandbytes' NF4 with QLoRA's block size
