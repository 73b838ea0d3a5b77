"""Which grid each linear of a source_grids scheme (q4f*_k) goes on, from the types its source
stores its tensors in: a linear the source keeps in 4-bit blocks (Q4_K, Q4_1, Q4_0) goes on
the scheme's asymmetric 4-bit grid, where those blocks land exactly (quantize/kquant.py); one
it keeps in more bits (Q5_0, Q5_K, Q6_K, Q8_0, F16, ...) on the 8-bit grid, where a second
rounding costs at most half an 8-bit step. A fused linear (q, k, v in one) follows its
widest part. A float source (no types) leaves every linear on the 4-bit grid."""

from __future__ import annotations

from typing import Callable, Iterable

from webslm.arch.record import WeightMap
from webslm.quantize.grids import Grid
from webslm.quantize.kquant import BLOCKS
from webslm.quantize.schemes import QuantScheme

EMBEDDING = "model.embed_tokens"  # on the scheme's embedding grid, whatever its source type


def resolve_grids(scheme: QuantScheme, names: Iterable[str], shape: Callable[[str], tuple],
                  source_type: Callable[[str], str | None], weight_map: WeightMap
                  ) -> QuantScheme:
    """The scheme with its linear_grids resolved from a source's tensors (names, their shapes
    and ggml types); other schemes come back as they are."""
    if not scheme.source_grids:
        return scheme
    wide = Grid(8, True, scheme.group_size)
    grids: dict[str, Grid] = {}
    for name in names:
        base = name.removesuffix(".weight")
        ggml_type = source_type(name)
        if base == name or base == EMBEDDING or len(shape(name)) != 2 or ggml_type is None:
            continue
        param = weight_map.param_for(base)
        if ggml_type not in BLOCKS or grids.get(param) == wide:
            grids[param] = wide
        else:
            grids[param] = scheme.weight_grid
    return scheme.with_linear_grids(grids)
