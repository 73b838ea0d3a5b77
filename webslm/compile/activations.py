"""config.json `hidden_act` names -> the Relax op that computes them: the one table of
activation names, shared by every architecture's MLP."""

from __future__ import annotations

from typing import Callable

from tvm.relax.frontend import nn

from webslm.errors import WebslmError

ACTIVATIONS: dict[str, Callable[[nn.Tensor], nn.Tensor]] = {
    "silu": nn.op.silu,
    "swish": nn.op.silu,  # transformers' ACT2FN alias of SiLU
    "gelu": nn.op.gelu,
    "gelu_pytorch_tanh": lambda x: nn.op.gelu(x, approximate="tanh"),
}


def activation(name: str, where: str) -> Callable[[nn.Tensor], nn.Tensor]:
    if name not in ACTIVATIONS:
        raise WebslmError(f"{where}: hidden_act {name!r} is not an activation webslm compiles",
                          f"webslm knows {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]
