"""Read the 4-bit (MatMulNBits) or int8 (MatMulInteger) weights back out of an exported graph as dense float32 matrices under
their Hugging Face names: so the q4 export can be checked against transformers running
exactly those weights (an independent reference for the ONNX kernels)."""

from __future__ import annotations

import mmap
import re
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from webslm.errors import WebslmError

# /model/layers.3/attn/qkv_proj/MatMul -> (3, "attn", "qkv_proj"); /lm_head/MatMul -> lm_head
_LAYER = re.compile(r"^/model/layers\.(\d+)/(attn|mlp)/(\w+)/MatMul")


def dequantize_nbits(packed: np.ndarray, scales: np.ndarray, k: int) -> np.ndarray:
    """MatMulNBits B [N, blocks, block/2] uint8 (low nibble = even column, zero point 8) and
    scales [N, blocks] -> W [N, K] float32 (the HF nn.Linear weight layout)."""
    n, blocks, half = packed.shape
    q = np.empty((n, blocks, half * 2), np.float32)
    q[..., 0::2] = packed & 0x0F
    q[..., 1::2] = packed >> 4
    w = (q - 8.0) * scales.reshape(n, blocks, 1).astype(np.float32)
    return w.reshape(n, blocks * half * 2)[:, :k]


def dequantize_int8(q: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """MatMulInteger B [K, N] int8 with per-column scale and zero point -> W [N, K] float32."""
    return ((q.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)).T.copy()


def load_with_external_data(path: Path) -> onnx.ModelProto:
    """The graph with its external data, read here rather than by onnx.load: onnx refuses a
    data file that has several hard links (its guard against linked-in foreign files), and
    `webslm export-site` hard-links a build's files into the site to save space. The data file
    is this build's own, named by the graph and kept in the same folder."""
    model = onnx.load(str(path), load_external_data=False)
    files: dict[str, mmap.mmap] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        if not location or Path(location).name != location:
            raise WebslmError(f"{path}: tensor {tensor.name} points at external data {location!r} "
                              "outside its folder", "rebuild the ONNX artifact with `webslm build`")
        if location not in files:
            with open(path.parent / location, "rb") as f:
                files[location] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        start = int(info.get("offset", 0))
        stop = start + int(info["length"]) if "length" in info else len(files[location])
        tensor.raw_data = files[location][start:stop]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    for mapped in files.values():
        mapped.close()
    return model


def dequantized_weights(path: Path, hf_shapes: dict[str, tuple[int, ...]],
                        config: dict) -> dict[str, np.ndarray]:
    """HF name -> dense weight for every quantized matmul in the graph.

    The graph names its projections like webslm's shared blocks, fused or not; they are
    gathered into webslm's fused parameters (FUSED_PROJECTIONS) and split back into the
    checkpoint's own tensors by the architecture's WeightMap, the table the converter uses."""
    from webslm.arch import find_architecture
    from webslm.arch.record import FUSED_PROJECTIONS

    model = load_with_external_data(Path(path))
    init = {t.name: t for t in model.graph.initializer}
    graph: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            w = dequantize_nbits(numpy_helper.to_array(init[node.input[1]]),
                                 numpy_helper.to_array(init[node.input[2]]), attrs["K"])
        elif node.op_type == "MatMulInteger" and node.input[1] in init:
            w = dequantize_int8(*(numpy_helper.to_array(init[n]) for n in (
                node.input[1], node.input[1].replace("_quantized", "_scale"), node.input[3])))
        else:
            continue
        if node.name.startswith("/lm_head/"):
            graph["lm_head"] = w
            continue
        match = _LAYER.match(node.name)
        if not match:
            raise ValueError(f"unexpected MatMulNBits node {node.name}")
        layer, block, proj = match.groups()
        graph[f"model.layers.{layer}.{'self_attn' if block == 'attn' else 'mlp'}.{proj}"] = w
    for name in [n for n in graph if n.startswith("model.layers.")]:
        prefix, block, proj = name.rsplit(".", 2)
        for fused, pieces in FUSED_PROJECTIONS.items():
            names = [f"{prefix}.{p}" for p in pieces]
            if f"{block}.{proj}" == pieces[0] and all(n in graph for n in names):
                graph[f"{prefix}.{fused}"] = np.concatenate([graph.pop(n) for n in names])
    weight_map = find_architecture(config).weight_map
    out: dict[str, np.ndarray] = {}
    for base, w in graph.items():
        parts = [p + ".weight" for p in weight_map.parts(base)]
        sizes = [hf_shapes[p][0] for p in parts]
        out.update(zip(parts, np.split(w, np.cumsum(sizes)[:-1], axis=0)))
    return out
