"""GGUF files of other types than the bundled Q4_1, as Unsloth's save_pretrained_gguf writes
them (q8_0, f16, ...): the SmolLM2 file rewritten here with gguf-py, metadata copied, then
opened as `webslm build FILE.gguf` opens it. Every type gguf-py dequantizes is read the same
way, so the weights must match the Q4_1 original to within the new type's rounding."""

from __future__ import annotations

import numpy as np
import pytest

from webslm.pipeline.inputs import resolve_input
from webslm.source import smollm2_gguf_path

pytestmark = pytest.mark.slow  # rewrites a 98 MB file and extracts its tokenizer (~1 min)


def rewrite_gguf(src, out, qtype):
    """Copy every metadata field of `src` and store its tensors as `qtype` (norms stay F32)."""
    from gguf import GGMLQuantizationType as T
    from gguf import GGUFReader, GGUFValueType, GGUFWriter, dequantize, quantize

    reader = GGUFReader(src)
    writer = GGUFWriter(out, reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type)
        kind = qtype if values.ndim == 2 else T.F32
        data = quantize(values, kind) if kind != T.F32 else values.astype(np.float32)
        writer.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@pytest.mark.parametrize("qtype, tol", [("Q8_0", 2e-2), ("F16", 1e-3)])
def test_other_gguf_types_build_like_the_original(qtype, tol, tmp_path, smollm2):
    from gguf import GGMLQuantizationType

    path = rewrite_gguf(smollm2_gguf_path(), tmp_path / f"smollm2-{qtype.lower()}.gguf",
                        GGMLQuantizationType[qtype])
    got = resolve_input(str(path))
    assert got.entry.name == f"smollm2-{qtype.lower()}"
    assert got.entry.chat_format == "chatml"
    assert got.source.config["num_hidden_layers"] == smollm2.config["num_hidden_layers"]
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.29.mlp.down_proj.weight",
                 "model.embed_tokens.weight"):
        ours, original = got.source.get_tensor(name), smollm2.get_tensor(name)
        assert ours.shape == original.shape
        assert np.abs(ours - original).max() <= tol * np.abs(original).max(), name
