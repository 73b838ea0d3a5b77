"""The longest context that fits a memory budget, for the WASM engines' fit checks (ONNX in
wasm32, a GGUF in wllama's Memory64 heap): what a model needs grows with its context."""

from __future__ import annotations

from typing import Callable


def longest_fitting(need: Callable[[int], int], budget: int, most: int = 1 << 20) -> int:
    """The largest context n <= most with need(n) <= budget (0: none fits); need must not
    shrink as n grows, so this bisects."""
    low, high = 0, most
    while low < high:
        mid = (low + high + 1) // 2
        if need(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return low
