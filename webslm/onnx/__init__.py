"""The ONNX backend: the same source model as an ONNX build that transformers.js runs on
WebGPU or on (multithreaded) WASM, for browsers where WebLLM cannot run."""

from webslm.onnx.export import ONNX_DTYPES, OnnxDtype, export_onnx, onnx_dtypes_for

__all__ = ["ONNX_DTYPES", "OnnxDtype", "export_onnx", "onnx_dtypes_for"]
