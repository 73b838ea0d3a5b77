"""Quantization schemes by name: MLC-LLM's names for the formats WebLLM's own builds use,
plus q4f*_asym, our grid for sources that are already llama.cpp Q4_1 files, q4f*_nf4,
bitsandbytes' NF4 for running a QLoRA adapter over the very base it was trained on, and
q8f*_1, llama.cpp's Q8_0 grid everywhere, for sources whose mixed K-quants no 4-bit grid
carries (Gemma 3's Q4_K_M file: Q5_0, Q6_K and Q8_0 beside Q4_K), and q4f*_k, which carries
such a mix tensor by tensor (quantize/source_grids.py)."""

import dataclasses
from dataclasses import dataclass

from webslm.errors import WebslmError
from webslm.quantize.grids import Grid


@dataclass(frozen=True)
class QuantScheme:
    """How weights are stored and which float type the kernels compute in.

    weight_bits is 4 or 8 for group quantization (q4*, q8*) and None for unquantized (q0*)
    builds.
    act_dtype is also the dtype of stored scales (and minimums) and of unquantized weights
    (but NF4's absmax: Grid.scale_dtype).
    symmetric: the linear layers' 4-bit grid (asymmetric keeps a per-group minimum).
    embedding_bits: the embedding table's grid (it is also the tied lm_head); 8 is symmetric.
    nf4: the linear layers are on bitsandbytes' NF4 (group_size is then its block, 64).

    The rest is what the CLI, fine-tunes, the ONNX backend and bench read, named only here:
    about: its grid in `webslm build --help` (the kernels' float type is in the name).
    flag_default: what its family's flag (--q4f16) builds when models.yaml names no other.
    fallbacks: the other merged builds a fine-tune's build is compared with (pipeline/
    finetune.py): the family's other grid if it has one, then no rounding at all (nf4 rounds
    an adapter merged over its NF4 base back to that base, so a plain grid comes first).
    onnx: the ONNX dtypes (quantize/onnx_dtypes.py) `--backend onnx` builds for it (q4f32:
    the int8 CPU build and the 4-bit one; q8f16: none, ONNX has no 8-bit f16 dtype); the ONNX
    4-bit grid is always the exporter's symmetric one, so a family shares them.
    bench_rank: `webslm bench`'s preference among a name's builds of one act_dtype (lowest
    first: a model's own grid before MLC-LLM's); None: never picked.
    source_grids: each linear's grid follows its source tensor's type (q4f*_k,
    quantize/source_grids.py); the build resolves them into linear_grids.
    linear_grids: (parameter, grid) for the linears that are not on weight_grid: resolved from
    one source, recorded in the artifact's manifest (build.linear_grids) and read back from it
    (from_build), so that the library key, the converter and the compiled model agree.
    """

    name: str
    weight_bits: int | None
    group_size: int = 32
    act_dtype: str = "float16"
    symmetric: bool = True
    embedding_bits: int = 4
    nf4: bool = False
    about: str = ""
    flag_default: bool = False
    fallbacks: tuple[str, ...] = ()
    onnx: tuple[str, ...] = ()
    bench_rank: int | None = None
    source_grids: bool = False
    linear_grids: tuple[tuple[str, Grid], ...] = ()

    @property
    def quantized(self) -> bool:
        return self.weight_bits is not None

    @property
    def needs_shader_f16(self) -> bool:
        """WebLLM must gate f16 builds on the adapter's `shader-f16` feature."""
        return self.act_dtype == "float16"

    @property
    def family(self) -> str:
        """The CLI flag that asks for this scheme: q4f16_1 and q4f16_asym are both q4f16."""
        return self.name.split("_")[0]

    @property
    def f32_twin(self) -> "QuantScheme":
        """The same grids computing in float32: an f16 build's CPU twin (verify) runs this."""
        return dataclasses.replace(get_scheme(self.name.replace("f16", "f32")),
                                   linear_grids=self.linear_grids)

    @property
    def weight_grid(self) -> Grid:
        return Grid(self.weight_bits or 4, self.symmetric, self.group_size, nf4=self.nf4)

    @property
    def embedding_grid(self) -> Grid:
        if self.embedding_bits == 4:
            return self.weight_grid
        return Grid(self.embedding_bits, True, self.group_size)

    @property
    def lm_head_grid(self) -> Grid:
        """An untied lm_head's grid. QLoRA quantizes only the decoder's linears (nf4.py's
        quantized_by_qlora) and trains over a float lm_head, so NF4 builds store it on the
        embedding's near-float 8-bit grid rather than on a 4-bit grid the adapter never saw;
        other schemes use the linears' grid."""
        return self.embedding_grid if self.nf4 else self.weight_grid

    def linear_grid(self, param: str) -> Grid:
        """The grid of the linear parameter `param` (e.g. model.layers.0.mlp.down_proj)."""
        return dict(self.linear_grids).get(param, self.weight_grid)

    def with_linear_grids(self, grids: dict[str, Grid]) -> "QuantScheme":
        """This scheme with these linears off weight_grid (those on it are dropped)."""
        return dataclasses.replace(self, linear_grids=tuple(sorted(
            (p, g) for p, g in grids.items() if g != self.weight_grid)))

    def build_fields(self) -> dict:
        """What a manifest's build section records beyond the name: the per-linear grids."""
        if not self.linear_grids:
            return {}
        return {"linear_grids": {p: dataclasses.asdict(g) for p, g in self.linear_grids}}

    @classmethod
    def from_build(cls, build: dict) -> "QuantScheme":
        """The scheme an artifact was built with, from its manifest's build section."""
        grids = build.get("linear_grids", {})
        return get_scheme(build["quantization"]).with_linear_grids(
            {p: Grid(**g) for p, g in grids.items()})


SCHEMES: dict[str, QuantScheme] = {
    s.name: s
    for s in (
        QuantScheme("q4f16_1", 4, 32, "float16", about="MLC-LLM's 4-bit grid",
                    flag_default=True, fallbacks=("q4f16_asym", "q0f16"), onnx=("q4f16",),
                    bench_rank=1),
        QuantScheme("q4f32_1", 4, 32, "float32", about="MLC-LLM's 4-bit grid",
                    flag_default=True, fallbacks=("q4f32_asym", "q0f32"), onnx=("q8", "q4"),
                    bench_rank=1),
        # The layout of llama.cpp's Q4_1 files: 4-bit linears with a minimum, 8-bit embedding.
        QuantScheme("q4f16_asym", 4, 32, "float16", symmetric=False, embedding_bits=8,
                    about="llama.cpp's Q4_1 grid",
                    fallbacks=("q4f16_1", "q0f16"), onnx=("q4f16",), bench_rank=0),
        QuantScheme("q4f32_asym", 4, 32, "float32", symmetric=False, embedding_bits=8,
                    about="llama.cpp's Q4_1 grid",
                    fallbacks=("q4f32_1", "q0f32"), onnx=("q8", "q4"), bench_rank=0),
        # A K-quant GGUF tensor by tensor: its Q4_K / Q4_1 / Q4_0 linears transcoded onto the
        # asymmetric 4-bit grid exactly (quantize/kquant.py), the linears it keeps in more
        # bits (Q5_0, Q6_K, Q8_0, F16) on the 8-bit grid, the embedding 8-bit. A float source
        # has no types: every linear 4-bit asymmetric, as q4f*_asym.
        QuantScheme("q4f16_k", 4, 32, "float16", symmetric=False, embedding_bits=8,
                    about="a K-quant GGUF's own 4-bit blocks, 8 bits where it has more",
                    fallbacks=("q4f16_asym", "q0f16"), onnx=("q4f16",), bench_rank=0,
                    source_grids=True),
        QuantScheme("q4f32_k", 4, 32, "float32", symmetric=False, embedding_bits=8,
                    about="a K-quant GGUF's own 4-bit blocks, 8 bits where it has more",
                    fallbacks=("q4f32_asym", "q0f32"), onnx=("q8", "q4"), bench_rank=0,
                    source_grids=True),
        # bitsandbytes' NF4 linears (a QLoRA base exactly), the float parts of a QLoRA base
        # (embedding, untied lm_head) on the 8-bit grid.
        QuantScheme("q4f16_nf4", 4, 64, "float16", embedding_bits=8, nf4=True,
                    about="bitsandbytes' NF4: a QLoRA base exactly",
                    fallbacks=("q4f16_1", "q0f16"), onnx=("q4f16",)),
        QuantScheme("q4f32_nf4", 4, 64, "float32", embedding_bits=8, nf4=True,
                    about="bitsandbytes' NF4: a QLoRA base exactly",
                    fallbacks=("q4f32_1", "q0f32"), onnx=("q8", "q4")),
        # llama.cpp's Q8_0 grid for every weight: twice q4's bytes, within a rounding of any
        # source of 8 bits or fewer (a Q8_0 or Q5_0 tensor lands on it almost exactly).
        QuantScheme("q8f16_1", 8, 32, "float16", embedding_bits=8,
                    about="llama.cpp's Q8_0 grid", flag_default=True,
                    fallbacks=("q0f16",), bench_rank=2),
        QuantScheme("q8f32_1", 8, 32, "float32", embedding_bits=8,
                    about="llama.cpp's Q8_0 grid", flag_default=True,
                    fallbacks=("q0f32",), onnx=("q8",), bench_rank=2),
        QuantScheme("q0f16", None, 32, "float16", about="unquantized",
                    flag_default=True, bench_rank=3),
        QuantScheme("q0f32", None, 32, "float32", about="unquantized",
                    flag_default=True, onnx=("fp32",), bench_rank=3),
    )
}


def flag_schemes() -> dict[str, QuantScheme]:
    """CLI flag (a family: q4f16) -> the scheme it builds unless models.yaml names another."""
    return {s.family: s for s in SCHEMES.values() if s.flag_default}


def default_quantizations() -> tuple[str, ...]:
    """What a model outside models.yaml builds: its 4-bit flags' schemes, f16 and f32 kernels."""
    return tuple(s.name for s in flag_schemes().values() if s.weight_bits == 4)


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
