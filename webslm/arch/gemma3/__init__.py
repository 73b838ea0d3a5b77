"""Gemma 3 (text, Gemma3ForCausalLM): gemma-3-270m and 1b, and their fine-tunes."""

from webslm.arch.gemma3 import checkpoints
from webslm.arch.gemma3.config import Gemma3Config
from webslm.arch.gemma3.mapping import GEMMA3_WEIGHTS
from webslm.arch.record import Architecture, GgufLayout

ARCH = Architecture(
    model_type="gemma3_text",
    hf_architectures=("Gemma3ForCausalLM",),
    config_from_hf=Gemma3Config.from_hf,
    model="webslm.arch.gemma3.model:Gemma3ForCausalLM",
    weight_map=GEMMA3_WEIGHTS,
    # its CPU build is a GGUF where there is one (pipeline/onnx_build.py gguf_route): the base's
    # source GGUF as it is, a merged fine-tune's written by webslm. llama.cpp's gemma3 stores the
    # norms as 1 + w, reads no RoPE base for the sliding layers (10k) and scales no RoPE
    gguf=GgufLayout("gemma3", norm_shift=1.0,
                    assumed={"rope_local_theta": 10000.0, "rope_global_factor": 1.0}),
    published=checkpoints.PUBLISHED,
    onnx_f16_refusal="Gemma 3's residual stream exceeds float16's range (65,504; 270M reaches "
    "103,795), so an ONNX graph with fp16 activations (q4f16) overflows; its CPU dtypes (q4, q8) "
    "compute in float32",
    tiny=checkpoints.TINY,
    refused={
        "Gemma3ForConditionalGeneration": "the multimodal Gemma 3 (4B and up: a vision tower "
        "over the text model); webslm compiles text-only checkpoints (gemma-3-270m, gemma-3-1b)",
        "Gemma3nForCausalLM": "Gemma 3n's per-layer embeddings, AltUp and MatFormer blocks are "
        "another architecture",
        "Gemma3nForConditionalGeneration": "Gemma 3n (per-layer embeddings, AltUp, audio and "
        "vision towers) is another architecture",
        "Gemma2ForCausalLM": "Gemma 2 caps attention and final logits with tanh (softcapping) "
        "and has no q/k norms; webslm compiles Gemma 3",
    },
)
