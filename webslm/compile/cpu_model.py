"""Drive a CPU (llvm) build of a model through the same entry points WebLLM calls."""

from __future__ import annotations

import numpy as np
import tvm
import tvm_ffi
from tvm import relax

from webslm.compile.spec import WEBLLM_PAGE_SIZE, CompiledModel


class CpuModel:
    """One sequence on TVM's paged KV cache: embed -> prefill/decode -> logits.

    Only a sequence's first chunk goes through the prefill kernels; every later token goes
    alone, through the decode kernel. TVM 0.27's CPU kernel for a multi-token step over
    cached tokens (batch_prefill_paged_kv_cpu) rescales its output by scale_O[d_idx] of a
    one-element buffer, reading past it (NaN logits in Gemma 3 beyond its window). The
    WebGPU kernels are others, so the twin stays an independent check of them."""

    def __init__(self, compiled: CompiledModel, weights: dict[str, np.ndarray]):
        self.vm = relax.VirtualMachine(compiled.executable, tvm.cpu())
        self.params = [tvm.runtime.tensor(np.ascontiguousarray(weights[p.name].astype(p.dtype)))
                       for p in compiled.params]
        meta = compiled.metadata
        shape = tvm_ffi.Shape
        self.kv = self.vm["create_tir_paged_kv_cache"](
            shape([1]), shape([meta["context_window_size"]]), shape([meta["prefill_chunk_size"]]),
            shape([WEBLLM_PAGE_SIZE]), shape([0]))
        self._global = tvm.get_global_func
        self._global("vm.builtin.kv_state_add_sequence")(self.kv, 0)
        self.prefill_chunk = meta["prefill_chunk_size"]
        self.length = 0  # tokens in the KV cache

    def reset(self) -> None:
        self._global("vm.builtin.kv_state_clear")(self.kv)
        self._global("vm.builtin.kv_state_add_sequence")(self.kv, 0)
        self.length = 0

    def _forward(self, fn: str, token_ids: list[int]) -> np.ndarray:
        ids = tvm.runtime.tensor(np.asarray(token_ids, dtype="int32"))
        embed = self.vm["embed"](ids, self.params).numpy()[None]
        self._global("vm.builtin.kv_state_begin_forward")(
            self.kv, tvm_ffi.Shape([0]), tvm_ffi.Shape([len(token_ids)]))
        out = self.vm[fn](tvm.runtime.tensor(embed), self.kv, self.params)
        self._global("vm.builtin.kv_state_end_forward")(self.kv)
        self.length += len(token_ids)
        return out[0].numpy().reshape(-1)

    def _steps(self, token_ids: list[int]) -> list[list[int]]:
        """The prefill steps for `token_ids`: a first chunk into an empty cache, then one
        token a step (the class docstring says why)."""
        first = token_ids[:self.prefill_chunk] if self.length == 0 else []
        return ([first] if first else []) + [[t] for t in token_ids[len(first):]]

    def prefill(self, token_ids: list[int]) -> np.ndarray:
        """Logits after the last token."""
        logits = None
        for step in self._steps(token_ids):
            logits = self._forward("prefill", step)
        return logits

    def score(self, token_ids: list[int]) -> np.ndarray:
        """Logits at every position [n, vocab], through batch_verify (the prefill kernels, with
        every position's logits kept)."""
        out = [self._forward("batch_verify", step) for step in self._steps(token_ids)]
        return np.concatenate(out).reshape(len(token_ids), -1)

    def decode(self, token_id: int) -> np.ndarray:
        return self._forward("decode", [token_id])

    def greedy(self, prompt_ids: list[int], n_tokens: int) -> list[int]:
        """Greedy continuation, the CPU twin of WebLLM at temperature 0."""
        logits = self.prefill(prompt_ids)
        out = []
        for _ in range(n_tokens):
            out.append(int(np.argmax(logits)))
            logits = self.decode(out[-1])
        return out

    def forced(self, prompt_ids: list[int], ids: list[int]) -> list[np.ndarray]:
        """The logits before each of `ids`, feeding `ids` rather than its own choices: where
        another run's greedy path (the browser's) leaves this model's, and by how much."""
        out = [self.prefill(prompt_ids)]
        for token in ids[:-1]:
            out.append(self.decode(token))
        return out
