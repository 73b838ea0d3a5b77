"""Small edits that make the builder's graph load in transformers.js, done on the protobuf
only (the weights file is moved, never rewritten)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Symbolic dims transformers.js does not know: it sizes the empty first-step KV cache from
# the graph's input shapes and turns every unknown symbol into 0, so a head dim left
# symbolic becomes 0 and attention rejects the cache.
HEAD_DIM_SYMBOLS = ("kv_cache_dim", "head_size")


def finalize_graph(src: Path, dest: Path, *, head_dim: int) -> None:
    """src: the builder's model.onnx (+ its external data). dest: onnx/model_<dtype>.onnx,
    whose weights go to dest + "_data", the name transformers.js fetches."""
    model = onnx.load(str(src), load_external_data=False)
    data_name = dest.name + "_data"
    sources = set()
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                sources.add(entry.value)
                entry.value = data_name
    if len(sources) > 1:
        raise ValueError(f"{src} keeps its weights in several files: {sorted(sources)}")
    _unfuse_quantized_gather(model)
    _keep_last_logits(model)
    for value in [*model.graph.input, *model.graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in HEAD_DIM_SYMBOLS:
                dim.dim_value = head_dim
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(dest))
    if sources:
        shutil.move(src.parent / sources.pop(), dest.parent / data_name)
        (dest.parent / data_name).chmod(0o644)  # onnx writes it owner-only; it is served


# transformers.js feeds this input when a graph has it: 1 while generating (only the next
# token's logits), 0 (every position) in a plain forward call, as in transformers.
KEEP_LOGITS_INPUT = "num_logits_to_keep"
_NORMS = ("SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
          "LayerNormalization", "SkipLayerNormalization", "RMSNormalization")


def _keep_last_logits(model: onnx.ModelProto) -> None:
    """Slice the final norm's output to its last `num_logits_to_keep` positions (all when
    0) before the lm_head. The builder computes logits for every prompt position, which
    transformers.js throws away but for the last: a [prompt, vocab] float32 tensor in the
    WASM heap (2 GB for a 4096-token prompt at Llama 3's 128256 tokens) and the lm_head's
    work once per prompt token instead of once."""
    graph = model.graph
    if any(i.name == KEEP_LOGITS_INPUT for i in graph.input):
        return
    producers = {o: n for n in graph.node for o in n.output}
    initializers = {t.name for t in graph.initializer}
    hidden, frontier, seen = None, ["logits"], set()
    while frontier and hidden is None:  # breadth first from the logits to the nearest norm
        node = producers.get(frontier.pop(0))
        if node is None or node.output[0] in seen:
            continue
        seen.add(node.output[0])
        if node.op_type in _NORMS:
            hidden = node.output[0]
        frontier += [i for i in node.input if i and i not in initializers]
    if hidden is None:
        raise ValueError("no normalization feeds the logits: cannot slice the lm_head's input")
    kept, p = f"{hidden}/kept", "/model/keep_logits"
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name == hidden:
                node.input[index] = kept
    graph.input.append(helper.make_tensor_value_info(KEEP_LOGITS_INPUT, TensorProto.INT64, []))
    graph.initializer.extend([
        numpy_helper.from_array(np.array([0], np.int64), f"{p}/axis0"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], np.int64), f"{p}/end"),
        numpy_helper.from_array(np.array([1], np.int64), f"{p}/axis1"),
    ])
    nodes = [  # hidden[:, -k:] (k = 0: -0 = 0, every position)
        helper.make_node("Neg", [KEEP_LOGITS_INPUT], [f"{p}/minus"], name=f"{p}/Neg"),
        helper.make_node("Unsqueeze", [f"{p}/minus", f"{p}/axis0"], [f"{p}/start"],
                         name=f"{p}/Unsqueeze"),
        helper.make_node("Slice", [hidden, f"{p}/start", f"{p}/end", f"{p}/axis1"], [kept],
                         name=f"{p}/Slice"),
    ]
    index = list(graph.node).index(producers[hidden]) + 1
    for offset, new in enumerate(nodes):
        graph.node.insert(index + offset, new)


def _unfuse_quantized_gather(model: onnx.ModelProto) -> None:
    """Replace GatherBlockQuantized (the 4-bit embedding the builder shares with a tied
    lm_head) by standard ops: onnxruntime-web's WASM build has no kernel for it.

    Only the looked-up rows are unpacked: gather the packed uint8 rows and their scales,
    split each byte into its low (even element) and high (odd element) nibble, subtract the
    zero point 8 and scale per block. The weights stay shared with the lm_head.
    """
    graph = model.graph
    for index, node in enumerate(list(graph.node)):
        if node.op_type != "GatherBlockQuantized":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("bits", 4) != 4 or attrs.get("gather_axis", 0) != 0 or \
                attrs.get("quantize_axis", 1) != 1 or len(node.input) > 3:
            raise ValueError(f"cannot rewrite {node.name}: unexpected attributes {attrs}")
        block = attrs.get("block_size", 32)
        data, ids, scales = node.input[:3]
        out = node.output[0]
        p = f"{node.name}/unfused"
        const = {
            f"{p}/16": np.array(16, np.int32), f"{p}/8": np.array(8.0, np.float32),
            f"{p}/last": np.array([-1], np.int64),
            f"{p}/blocks": np.array([0, 0, -1, block], np.int64),
            f"{p}/flat": np.array([0, 0, -1], np.int64),
        }
        graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in const.items())
        scale_type = _elem_type(model, scales)
        nodes = [
            helper.make_node("Gather", [data, ids], [f"{p}/rows"], axis=0),
            helper.make_node("Cast", [f"{p}/rows"], [f"{p}/rows32"], to=TensorProto.INT32),
            helper.make_node("Div", [f"{p}/rows32", f"{p}/16"], [f"{p}/hi"]),
            helper.make_node("Mul", [f"{p}/hi", f"{p}/16"], [f"{p}/hi16"]),
            helper.make_node("Sub", [f"{p}/rows32", f"{p}/hi16"], [f"{p}/lo"]),
            helper.make_node("Unsqueeze", [f"{p}/lo", f"{p}/last"], [f"{p}/lo1"]),
            helper.make_node("Unsqueeze", [f"{p}/hi", f"{p}/last"], [f"{p}/hi1"]),
            helper.make_node("Concat", [f"{p}/lo1", f"{p}/hi1"], [f"{p}/pairs"], axis=-1),
            helper.make_node("Reshape", [f"{p}/pairs", f"{p}/blocks"], [f"{p}/q"]),
            helper.make_node("Cast", [f"{p}/q"], [f"{p}/qf"], to=TensorProto.FLOAT),
            helper.make_node("Sub", [f"{p}/qf", f"{p}/8"], [f"{p}/centered"]),
            helper.make_node("Gather", [scales, ids], [f"{p}/scale_rows"], axis=0),
            helper.make_node("Cast", [f"{p}/scale_rows"], [f"{p}/scale32"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", [f"{p}/scale32", f"{p}/last"], [f"{p}/scale"]),
            helper.make_node("Mul", [f"{p}/centered", f"{p}/scale"], [f"{p}/values"]),
            helper.make_node("Reshape", [f"{p}/values", f"{p}/flat"], [f"{p}/embedded"]),
            helper.make_node("Cast", [f"{p}/embedded"], [out], to=scale_type),
        ]
        graph.node.remove(node)
        for offset, new in enumerate(nodes):
            graph.node.insert(index + offset, new)


def _elem_type(model: onnx.ModelProto, name: str) -> int:
    for tensor in model.graph.initializer:
        if tensor.name == name:
            return tensor.data_type
    raise ValueError(f"{name} is not an initializer")
