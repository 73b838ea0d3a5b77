"""The ONNX builds by transformers.js dtype name: how the exporter makes each, what its weights
take on disk and in WASM memory, and how closely verify holds it. Schemes name these
(QuantScheme.onnx); webslm/onnx, pipeline/onnx_build and verify/onnx_check read them here."""

from __future__ import annotations

import dataclasses


# MatMulNBits' block: one scale per 32 inputs (the exporter's block_size), symmetric, so no
# zero points are stored (the code's center, 8, is implied).
BLOCK = 32


@dataclasses.dataclass(frozen=True)
class OnnxDtype:
    """One ONNX build: the transformers.js dtype name and how the builder makes it.

    weight_bits: a quantized linear's stored bits per weight, scales included (disk and WASM
    memory alike: the external-data file is copied into memory as it is).
    max_logit_diff, min_top1: verify's bounds against transformers on the stored weights.
    """

    name: str         # transformers.js `dtype` (picks the file suffix)
    precision: str    # builder --precision
    provider: str     # builder --execution_provider (decides the activation dtype)
    needs_f16: bool   # fp16 activations: only where WebGPU has shader-f16
    weight_bits: float
    max_logit_diff: float
    min_top1: float
    # MatMulNBits compute type: 1 = fp32 (exact against the stored weights), 4 = int8
    # activations; None = the builder's default for the provider.
    accuracy_level: int | None = None
    int8_from_fp32: bool = False  # made by quantizing the fp32 export (webslm/onnx/int8.py)

    @property
    def float_bytes(self) -> int:
        """Float tensors (an untied embedding, q8's kept-float linears) and the KV cache are
        in the activation dtype."""
        return 2 if self.needs_f16 else 4

    @property
    def op(self) -> str:
        """The linears' kernel: 4-bit blocks, int8 (onnx/int8.py) or float."""
        if self.precision == "int4":
            return "MatMulNBits"
        return "MatMulInteger" if self.int8_from_fp32 else "MatMul"


# Verify: fp32 and q4 compute in fp32 and must match closely. q4f16 is made for WebGPU and
# computes in half precision (here: onnxruntime's CPU fp16 kernels), so it is held to agreement
# instead; measured on SmolLM2-135M: max diff 1.4, top-1 89%. q8 quantizes activations to int8
# at run time (one scale per token), so it too is held to agreement; measured on SmolLM2-135M
# (webslm verify, 64 tokens): max diff 7.8, top-1 78% against its stored weights and 77%
# against the source (q4: 48%). The max is the first position's: that token's activations are
# the largest, and one symmetric scale for its row is coarser than the per-tensor uint8 range
# (min to max) it had before (4.9 then); against the fp32 export the other positions moved
# closer (median 1.9 against 2.4), and the first position's logits are never sampled.
ONNX_DTYPES = {d.name: d for d in (
    # fp32 compute: as fast as int8 activations in onnxruntime-web's WASM here (BENCHMARKS),
    # and exact against the stored weights instead of 1.2 logits off. Scales are float32.
    OnnxDtype("q4", "int4", "cpu", False, weight_bits=4 + 32 / BLOCK,
              max_logit_diff=1e-3, min_top1=0.95, accuracy_level=1),
    OnnxDtype("q4f16", "int4", "webgpu", True, weight_bits=4 + 16 / BLOCK,
              max_logit_diff=2.0, min_top1=0.85),
    OnnxDtype("fp32", "fp32", "cpu", False, weight_bits=32, max_logit_diff=1e-3, min_top1=0.95),
    # int8 weights and activations (down_proj float): the CPU (WASM) build, several times
    # faster there than q4 and faster than llama.cpp's WASM build (docs/BENCHMARKS.md).
    # Per output channel: its scales and zero points are negligible.
    OnnxDtype("q8", "fp32", "cpu", False, weight_bits=8, max_logit_diff=12.0, min_top1=0.6,
              int8_from_fp32=True),
)}
