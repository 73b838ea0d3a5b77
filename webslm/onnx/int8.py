"""The q8 ONNX build: int8 weights (per output channel) with int8 dynamic activations, made
from the fp32 export by onnxruntime's dynamic quantizer.

Why it exists: onnxruntime-web's WASM build runs MatMulInteger on SIMD int8 kernels but has
no fast 4-bit (MatMulNBits) path, so on the CPU this build decodes several times faster than
q4 (docs/BENCHMARKS.md). Two choices keep its quality and size:
- the two projections whose inputs have outlier channels that one int8 scale per tensor
  crushes stay float: the MLP's down projection (after the gated activation) and attention's
  output projection; so do all matmuls of the first and the last layer, the most sensitive.
  Measured on SmolLM2-135M (512 tokens of tests/data/eval_text.txt): everything int8 +64%
  perplexity; down_proj float +7%; and the edge layers +4%; and o_proj +2.8%, which is also
  what it takes for the France question to be answered with Paris;
- weights are uint8 (per channel, with zero points): onnxruntime's x86 int8 x int8 kernels
  round differently from its WASM ones, uint8 x uint8 give the same ids on both, so the
  Python reference predicts the browser;
- a tied model's embedding gathers from the int8 lm_head instead of keeping the float matrix.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


# Builder node names: /model/layers.N/attn/o_proj/MatMul, /model/layers.N/mlp/down_proj/MatMul.
_LAYER = re.compile(r"^/model/layers\.(\d+)/\w+/(\w+)/")
FLOAT_PROJECTIONS = ("o_proj", "down_proj")


def keeps_float(projection: str, layer: int, num_layers: int) -> bool:
    """Whether the q8 build keeps this layer's projection in float: every down_proj and
    o_proj, and all of the first and the last layer's."""
    return projection in FLOAT_PROJECTIONS or layer in (0, num_layers - 1)


def float_matmuls(graph: onnx.GraphProto) -> list[str]:
    """The names of the MatMul nodes keeps_float() picks."""
    matmuls = [(n.name, _LAYER.match(n.name)) for n in graph.node if n.op_type == "MatMul"]
    layers = 1 + max((int(m.group(1)) for _, m in matmuls if m), default=-1)
    return [name for name, m in matmuls if m and keeps_float(m.group(2), int(m.group(1)), layers)]


def quantize_int8(fp32_model: Path, out: Path) -> None:
    """fp32_model: the builder's fp32 model.onnx. Writes out (model.onnx + model.onnx.data)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.parent.mkdir(parents=True, exist_ok=True)
    keep_float = float_matmuls(onnx.load(str(fp32_model), load_external_data=False).graph)
    with tempfile.TemporaryDirectory(prefix="webslm-q8-") as tmp:
        staged = Path(tmp) / "model.onnx"
        quantize_dynamic(str(fp32_model), str(staged), weight_type=QuantType.QUInt8,
                         per_channel=True, op_types_to_quantize=["MatMul"],
                         nodes_to_exclude=keep_float,
                         use_external_data_format=True,
                         extra_options={"MatMulConstBOnly": True})
        model = onnx.load(str(staged))
    _gather_tied_embedding_from_int8(model)
    _drop_unused_initializers(model)
    onnx.save_model(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=out.name + ".data", size_threshold=1024)


def _gather_tied_embedding_from_int8(model: onnx.ModelProto) -> None:
    """Gather(Transpose(W), ids) with W also quantized per column (the tied lm_head) becomes
    a gather of the int8 columns, scaled back: (q - zero_point) * scale, per looked-up token."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    for node in list(graph.node):
        if node.op_type != "Gather":
            continue
        transpose = producers.get(node.input[0])
        if transpose is None or transpose.op_type != "Transpose" or transpose.input[0] not in inits:
            continue
        weight = transpose.input[0]
        q, scale, zero = (f"{weight}_quantized", f"{weight}_scale", f"{weight}_zero_point")
        if not {q, scale, zero} <= inits:
            continue
        ids, out, p = node.input[1], node.output[0], f"{node.name}/int8"
        last = f"{p}/last"
        graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), last))
        new = [
            helper.make_node("Gather", [q, ids], [f"{p}/cols"], axis=1),        # [H, B, S]
            helper.make_node("Transpose", [f"{p}/cols"], [f"{p}/rows"], perm=[1, 2, 0]),
            helper.make_node("Cast", [f"{p}/rows"], [f"{p}/q"], to=TensorProto.FLOAT),
            helper.make_node("Gather", [zero, ids], [f"{p}/zp8"], axis=0),
            helper.make_node("Cast", [f"{p}/zp8"], [f"{p}/zp"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", [f"{p}/zp", last], [f"{p}/zp1"]),
            helper.make_node("Sub", [f"{p}/q", f"{p}/zp1"], [f"{p}/centered"]),
            helper.make_node("Gather", [scale, ids], [f"{p}/s"], axis=0),
            helper.make_node("Unsqueeze", [f"{p}/s", last], [f"{p}/s1"]),
            helper.make_node("Mul", [f"{p}/centered", f"{p}/s1"], [out]),
        ]
        index = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, n in enumerate(new):
            graph.node.insert(index + offset, n)
        if not any(transpose.output[0] in n.input for n in graph.node):
            graph.node.remove(transpose)


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
