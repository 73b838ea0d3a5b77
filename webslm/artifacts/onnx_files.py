"""File names of the transformers.js ONNX layout: one place for the exporter, the server,
verify and bench (transformers.js picks the file from the dtype by these suffixes)."""

_SUFFIX = {"fp32": "", "q8": "_quantized"}


def onnx_filename(dtype: str) -> str:
    """"q4" -> "model_q4.onnx", "q8" -> "model_quantized.onnx", "fp32" -> "model.onnx"."""
    return f"model{_SUFFIX.get(dtype, '_' + dtype)}.onnx"


def onnx_data_filename(dtype: str) -> str:
    """The external-data file transformers.js fetches next to the graph."""
    return onnx_filename(dtype) + "_data"
