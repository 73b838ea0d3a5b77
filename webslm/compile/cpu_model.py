"""Drive a CPU (llvm) build of a model through the same entry points WebLLM calls."""

from __future__ import annotations

import numpy as np
import tvm
import tvm_ffi
from tvm import relax

from webslm.compile.spec import CompiledModel

PAGE_SIZE = 16


class CpuModel:
    """One sequence on TVM's paged KV cache: embed -> prefill/decode -> logits."""

    def __init__(self, compiled: CompiledModel, weights: dict[str, np.ndarray]):
        self.vm = relax.VirtualMachine(compiled.executable, tvm.cpu())
        self.params = [tvm.runtime.tensor(np.ascontiguousarray(weights[p.name].astype(p.dtype)))
                       for p in compiled.params]
        meta = compiled.metadata
        shape = tvm_ffi.Shape
        self.kv = self.vm["create_tir_paged_kv_cache"](
            shape([1]), shape([meta["context_window_size"]]), shape([meta["prefill_chunk_size"]]),
            shape([PAGE_SIZE]), shape([0]))
        self._global = tvm.get_global_func
        self._global("vm.builtin.kv_state_add_sequence")(self.kv, 0)
        self.prefill_chunk = meta["prefill_chunk_size"]

    def reset(self) -> None:
        self._global("vm.builtin.kv_state_clear")(self.kv)
        self._global("vm.builtin.kv_state_add_sequence")(self.kv, 0)

    def _forward(self, fn: str, token_ids: list[int]) -> np.ndarray:
        ids = tvm.runtime.tensor(np.asarray(token_ids, dtype="int32"))
        embed = self.vm["embed"](ids, self.params).numpy()[None]
        self._global("vm.builtin.kv_state_begin_forward")(
            self.kv, tvm_ffi.Shape([0]), tvm_ffi.Shape([len(token_ids)]))
        out = self.vm[fn](tvm.runtime.tensor(embed), self.kv, self.params)
        self._global("vm.builtin.kv_state_end_forward")(self.kv)
        return out[0].numpy().reshape(-1)

    def prefill(self, token_ids: list[int]) -> np.ndarray:
        """Logits after the last token; long prompts go in prefill_chunk pieces like WebLLM."""
        logits = None
        for start in range(0, len(token_ids), self.prefill_chunk):
            logits = self._forward("prefill", token_ids[start:start + self.prefill_chunk])
        return logits

    def score(self, token_ids: list[int]) -> np.ndarray:
        """Logits at every position [n, vocab], through batch_verify (the prefill kernels, with
        every position's logits kept) in prefill_chunk pieces on the KV cache."""
        out = []
        for start in range(0, len(token_ids), self.prefill_chunk):
            out.append(self._forward("batch_verify", token_ids[start:start + self.prefill_chunk]))
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
