"""Weight quantization: scheme names, the integer grids, and the group packing the WebGPU
kernels read."""

from webslm.quantize.grids import Q4_ASYM, Q4_NF4, Q4_SYM, Q8_SYM, Grid
from webslm.quantize.group import dequantize, dequantize_q4, grid_of, quantize, quantize_q4
from webslm.quantize.schemes import SCHEMES, QuantScheme, get_scheme

__all__ = ["Q4_ASYM", "Q4_NF4", "Q4_SYM", "Q8_SYM", "SCHEMES", "Grid", "QuantScheme", "dequantize",
           "dequantize_q4", "get_scheme", "grid_of", "quantize", "quantize_q4"]
