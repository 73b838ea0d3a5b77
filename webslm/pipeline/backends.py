"""What `webslm build --backend` takes, in a module the command line can read without loading
the compiler: webgpu (WebLLM builds), cpu (one folder with transformers.js's ONNX and wllama's
GGUF), or all."""

BACKENDS = ("webgpu", "cpu", "all")
ALIASES = {"onnx": "cpu"}  # the CPU backend's first name, still accepted


def canonical_backend(name: str) -> str:
    return ALIASES.get(name, name)
