"""CPU twins come from webslm's cache after the first compile, compute the same logits, and a
damaged entry is compiled again rather than loaded."""

from __future__ import annotations

import numpy as np

from webslm.arch import find_architecture
from webslm.compile.cpu_library import KIND, LIBRARY, compile_cpu
from webslm.compile.cpu_model import CpuModel
from webslm.compile.spec import BuildShape
from webslm.convert.weights import convert
from webslm.quantize.schemes import get_scheme


def test_a_cached_twin_computes_what_a_compiled_one_does(tiny_llama_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSLM_CACHE", str(tmp_path / "cache"))
    model = tiny_llama_factory()
    hf = {**model.config.to_dict(), "architectures": ["LlamaForCausalLM"]}
    arch, scheme, shape = find_architecture(hf), get_scheme("q4f32_1"), BuildShape(128, 16)

    def logits(compiled):
        stored = {}
        tensors = ((k, v.detach().numpy().copy()) for k, v in model.state_dict().items())
        convert(tensors, compiled.params, arch.weight_map, scheme, tied_embeddings=False,
                emit=stored.__setitem__)
        cpu = CpuModel(compiled, stored)
        return np.stack([cpu.prefill([5, 6, 7]), cpu.decode(8)])

    fresh = compile_cpu(arch, hf, scheme, shape)
    (entry,) = [p for p in (tmp_path / "cache" / KIND).iterdir() if p.is_dir()]
    cached = compile_cpu(arch, hf, scheme, shape)
    assert type(cached.executable) is not type(fresh.executable)  # loaded, not compiled
    assert cached.params == fresh.params and cached.metadata == fresh.metadata
    np.testing.assert_array_equal(logits(cached), logits(fresh))

    (entry / LIBRARY).write_bytes(b"not a library")  # damaged: its file table no longer matches
    again = compile_cpu(arch, hf, scheme, shape)
    np.testing.assert_array_equal(logits(again), logits(fresh))
    assert (entry / LIBRARY).read_bytes() != b"not a library"
