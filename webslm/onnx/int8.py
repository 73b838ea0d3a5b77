"""The q8 ONNX build: int8 weights (per output channel) with int8 dynamic activations (one
scale per token), made from the fp32 export by onnxruntime's dynamic quantizer.

Why it exists: onnxruntime-web's WASM build runs MatMulInteger on SIMD int8 kernels but has
no fast 4-bit (MatMulNBits) path, so on the CPU this build decodes several times faster than
q4 (docs/BENCHMARKS.md). These choices keep its quality and size:
- activations get one scale per token (row), not the quantizer's one per tensor: over a
  prompt, one tensor scale is set by the token with the largest activations and crushes the
  others (the form of docs/BENCHMARKS.md lost every field after the e-mail to it);
- the two projections whose inputs have outlier channels that one int8 scale per token
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
    _quantize_per_token(model)
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


def _quantize_per_token(model: onnx.ModelProto) -> None:
    """Each DynamicQuantizeLinear (one uint8 scale and zero point for the whole tensor) becomes
    standard ops giving one scale per row: s = max(|x|) / 127 over the last axis, q = round(x /
    s) + 128, zero point 128. MatMulInteger takes a scalar zero point and the row scales
    broadcast in the Mul after it, which onnxruntime fuses (MatMulIntegerToFloat) as before."""
    graph = model.graph
    c = "/int8/per_token"
    graph.initializer.extend([
        numpy_helper.from_array(np.array([-1], np.int64), f"{c}/last_axis"),
        numpy_helper.from_array(np.array(1 / 127, np.float32), f"{c}/inv127"),
        numpy_helper.from_array(np.array(1e-30, np.float32), f"{c}/tiny"),  # an all-zero row
        numpy_helper.from_array(np.array(128, np.float32), f"{c}/128"),
        numpy_helper.from_array(np.array(128, np.uint8), f"{c}/zero_point"),
    ])
    nodes, zero_points = [], set()
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (q, scale, zero) = node.input[0], node.output
        p = f"{node.name}/per_token"
        nodes += [
            helper.make_node("Abs", [x], [f"{p}/abs"], name=f"{p}/Abs"),
            helper.make_node("ReduceMax", [f"{p}/abs", f"{c}/last_axis"], [f"{p}/max"],
                             keepdims=1, name=f"{p}/ReduceMax"),
            helper.make_node("Mul", [f"{p}/max", f"{c}/inv127"], [f"{p}/step"], name=f"{p}/Mul"),
            helper.make_node("Max", [f"{p}/step", f"{c}/tiny"], [scale], name=f"{p}/Max"),
            helper.make_node("Div", [x, scale], [f"{p}/steps"], name=f"{p}/Div"),
            # round(x / s + 128) = round(x / s) + 128, ties too (128 is even): 1..255
            helper.make_node("Add", [f"{p}/steps", f"{c}/128"], [f"{p}/shifted"], name=f"{p}/Add"),
            helper.make_node("Round", [f"{p}/shifted"], [f"{p}/rounded"], name=f"{p}/Round"),
            helper.make_node("Cast", [f"{p}/rounded"], [q], to=TensorProto.UINT8, name=f"{p}/Cast"),
        ]
        zero_points.add(zero)
    for node in nodes:  # every consumer of a per-tensor zero point takes the shared 128
        for index, name in enumerate(node.input):
            if name in zero_points:
                node.input[index] = f"{c}/zero_point"
    del graph.node[:]
    graph.node.extend(nodes)


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
