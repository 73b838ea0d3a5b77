"""config.json `hidden_act` names -> the gate's activation as a scalar expression: the one
table of activation names, shared by every architecture's MLP. Scalar, not a Relax op, so
the same expression serves the gated product as its own kernel (prefill) and read inside
the down projection's GEMV (decode; compile/layers.py: gated_linear)."""

from __future__ import annotations

import math
from typing import Callable

from tvm import tirx

from webslm.errors import WebslmError

Scalar = Callable[[tirx.Expr], tirx.Expr]  # one element in, its activation out


def _gelu_tanh(x):
    inner = tirx.const(math.sqrt(2 / math.pi), x.dtype) * (
        x + tirx.const(0.044715, x.dtype) * x * x * x)
    return tirx.const(0.5, x.dtype) * x * (tirx.const(1, x.dtype) + tirx.tanh(inner))


ACTIVATIONS: dict[str, Scalar] = {
    "silu": lambda x: x * tirx.sigmoid(x),
    "swish": lambda x: x * tirx.sigmoid(x),  # transformers' ACT2FN alias of SiLU
    "gelu": lambda x: tirx.const(0.5, x.dtype) * x * (
        tirx.const(1, x.dtype) + tirx.erf(x * tirx.const(math.sqrt(0.5), x.dtype))),
    "gelu_pytorch_tanh": _gelu_tanh,
}


def activation(name: str, where: str) -> Scalar:
    if name not in ACTIVATIONS:
        raise WebslmError(f"{where}: hidden_act {name!r} is not an activation webslm compiles",
                          f"webslm knows {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]
