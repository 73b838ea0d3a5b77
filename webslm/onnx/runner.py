"""Run an exported ONNX build with onnxruntime in Python, fed exactly as transformers.js
feeds it (input_ids, attention_mask, past_key_values.N.key/value): the CPU reference the
browser's greedy ids and `webslm verify` are checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from webslm.onnx.graph import KEEP_LOGITS_INPUT

_NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxLM:
    def __init__(self, path: Path, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.cache_inputs = [n for n in self.inputs if n.startswith("past_key_values.")]

    def _empty_cache(self) -> dict[str, np.ndarray]:
        cache = {}
        for name in self.cache_inputs:
            meta = self.inputs[name]
            shape = [d if isinstance(d, int) else 0 for d in meta.shape]
            shape[0] = 1
            cache[name] = np.zeros(shape, _NP[meta.type])
        return cache

    def forward(self, ids: list[int], cache: dict[str, np.ndarray], past: int, keep: int = 0):
        """Run `ids` after `past` cached tokens; returns (float32 logits [len(ids), vocab], or
        the last `keep` rows when keep > 0 as transformers.js asks while generating; cache)."""
        feeds = {"input_ids": np.array([ids], np.int64),
                 "attention_mask": np.ones((1, past + len(ids)), np.int64), **cache}
        if KEEP_LOGITS_INPUT in self.inputs:
            feeds[KEEP_LOGITS_INPUT] = np.array(keep, np.int64)
        if "position_ids" in self.inputs:
            feeds["position_ids"] = np.arange(past, past + len(ids), dtype=np.int64)[None]
        names = [o.name for o in self.session.get_outputs()]
        outputs = dict(zip(names, self.session.run(names, feeds)))
        new_cache = {n: outputs[n.replace("past_key_values.", "present.")] for n in self.cache_inputs}
        return outputs["logits"][0].astype(np.float32), new_cache

    def logits(self, ids: list[int]) -> np.ndarray:
        """Teacher-forced logits of every position, in one prefill."""
        return self.forward(ids, self._empty_cache(), 0)[0]

    def greedy(self, prompt: list[int], steps: int, stop: set[int] = frozenset()) -> list[int]:
        """Greedy ids after `prompt`: one prefill, then one token per step through the cache."""
        logits, cache = self.forward(prompt, self._empty_cache(), 0, keep=1)
        out = [int(logits[-1].argmax())]
        while len(out) < steps and out[-1] not in stop:
            logits, cache = self.forward([out[-1]], cache, len(prompt) + len(out) - 1, keep=1)
            out.append(int(logits[-1].argmax()))
        return out
