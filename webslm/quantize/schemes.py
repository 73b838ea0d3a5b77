"""Quantization schemes by name, the same names MLC-LLM and WebLLM use for model records."""

from dataclasses import dataclass

from webslm.errors import WebslmError


@dataclass(frozen=True)
class QuantScheme:
    """How weights are stored and which float type the kernels compute in.

    weight_bits is 4 for group quantization (q4*) and None for unquantized (q0*) builds.
    act_dtype is also the dtype of stored scales and of unquantized weights.
    """

    name: str
    weight_bits: int | None
    group_size: int = 32
    act_dtype: str = "float16"

    @property
    def quantized(self) -> bool:
        return self.weight_bits is not None

    @property
    def needs_shader_f16(self) -> bool:
        """WebLLM must gate f16 builds on the adapter's `shader-f16` feature."""
        return self.act_dtype == "float16"


SCHEMES: dict[str, QuantScheme] = {
    s.name: s
    for s in (
        QuantScheme("q4f16_1", 4, 32, "float16"),
        QuantScheme("q4f32_1", 4, 32, "float32"),
        QuantScheme("q0f16", None, 32, "float16"),
        QuantScheme("q0f32", None, 32, "float32"),
    )
}


def get_scheme(name: str) -> QuantScheme:
    """Look a scheme up by name; unknown names list the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        known = ", ".join(sorted(SCHEMES))
        raise WebslmError(
            f"unknown quantization {name!r}",
            f"choose one of: {known} (f32 variants run on GPUs without shader-f16)",
        ) from None
