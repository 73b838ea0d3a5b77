"""Weight conversion: Hugging Face tensors -> the parameters a compiled model declares
(quantized on its grids), and a kept adapter's own weights beside its base build."""
