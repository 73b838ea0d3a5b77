"""The q8 build's quantizer on a three-layer graph of plain MatMuls: the middle layer's goes
int8 with one activation scale per token, the edge layers' stay float (webslm/onnx/int8.py)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from webslm.onnx.int8 import quantize_int8

K, N = 64, 32


def _three_layers(path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    weights = {f"w{i}": rng.normal(size=(K, N)).astype(np.float32) for i in range(3)}
    nodes = [helper.make_node("MatMul", ["x", f"w{i}"], [f"y{i}"],
                              name=f"/model/layers.{i}/attn/qkv_proj/MatMul") for i in range(3)]
    graph = helper.make_graph(
        nodes, "three", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "s", K])],
        [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [1, "s", N]) for i in range(3)],
        [numpy_helper.from_array(w, name) for name, w in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return weights


def test_each_token_gets_its_own_activation_scale(tmp_path):
    """Rows 10,000x apart in size: with one scale per tensor the small row would round to
    zero; per token every row keeps int8 precision (and the edge layers stay exact)."""
    weights = _three_layers(tmp_path / "fp32.onnx")
    quantize_int8(tmp_path / "fp32.onnx", tmp_path / "q8" / "model.onnx")
    model = onnx.load(str(tmp_path / "q8" / "model.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert "DynamicQuantizeLinear" not in ops and ops.count("MatMulInteger") == 1
    x = np.random.default_rng(1).normal(size=(1, 3, K)).astype(np.float32)
    x[0, 0] *= 100
    x[0, 2] *= 0.01
    session = ort.InferenceSession(str(tmp_path / "q8" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    outputs = session.run(["y0", "y1", "y2"], {"x": x})
    for i in (0, 2):
        np.testing.assert_allclose(outputs[i], x @ weights[f"w{i}"], rtol=1e-5, atol=1e-4)
    want = x @ weights["w1"]
    error = np.abs(outputs[1] - want).max(-1) / np.abs(want).max(-1)
    assert error.max() < 0.03, error
