"""Weight quantization: scheme names and the q4 group packing the WebGPU kernels read."""

from webslm.quantize.group_q4 import dequantize_q4, quantize_q4
from webslm.quantize.schemes import SCHEMES, QuantScheme, get_scheme

__all__ = ["SCHEMES", "QuantScheme", "dequantize_q4", "get_scheme", "quantize_q4"]
