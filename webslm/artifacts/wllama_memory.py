"""Will the CPU engine's GGUF run in wllama's WASM memory? Decided from config.json alone (or
from the bytes of a GGUF served as it is), so a model that cannot is refused before anything
is downloaded, and the page can say so before a download too (web/static/engines.js).

wllama 3.13 runs llama.cpp in a Memory64 module (it needs JSPI and Memory64: Chrome and Edge
137+), yet declares at most 65536 pages of 64 KiB: 4 GiB, like wasm32. Reading the GGUF
through JSPI (no mmap), llama.cpp copies every tensor into that memory once; beside the
weights it holds the f16 KV cache for its n_ctx, one prompt batch's activations (n_batch 512
tokens, wllama-client.js) with one layer's attention scores over the whole context, the
last position's logits, and its own code and allocator slack.
"""

from __future__ import annotations

from webslm.memory_fit import longest_fitting
from webslm.source.config import head_dim

WLLAMA_MEMORY_BYTES = 4 << 30  # the maximum wllama 3.13's module declares (its CMakeLists)
RUNTIME_BYTES = 192 << 20      # llama.cpp's code, stacks, allocator slack
BATCH = 512                    # n_batch the page loads with (wllama-client.js)
KV_BYTES = 2                   # llama.cpp's default KV cache type: f16
# The CPU GGUF's types, best first: Q8_0 where it fits, else Q4_0 (at about half the size)
QTYPES = ("Q8_0", "Q4_0")


def _block_bits(qtype: str) -> float:
    """Bits per weight of a llama.cpp type, scales included (gguf-py's block table)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[qtype]]
    return 8 * size / block


def gguf_weight_bytes(config: dict, qtype: str) -> int:
    """The GGUF webslm writes for `config` (gguf_file.py's types): linears at qtype, the
    embedding and a separate lm_head at Q8_0 in a Q4_0 file, norms in F32."""
    hidden, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    q = config["num_attention_heads"] * head_dim(config)
    kv = (config.get("num_key_value_heads") or config["num_attention_heads"]) * head_dim(config)
    linears = layers * (hidden * (q + 2 * kv) + q * hidden + 3 * hidden * inter)
    tables = config["vocab_size"] * hidden * (1 if config.get("tie_word_embeddings") else 2)
    table_type = "Q8_0" if qtype == "Q4_0" else qtype
    norms = (2 * layers + 1) * hidden * 32
    return int((linears * _block_bits(qtype) + tables * _block_bits(table_type) + norms) / 8)


def heap_bytes(config: dict, weight_bytes: int, context: int) -> int:
    """The WASM memory llama.cpp reaches with `weight_bytes` of GGUF at an n_ctx of `context`
    (the module docstring says what each term is)."""
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    kv = (config.get("num_key_value_heads") or heads) * head_dim(config)
    cache = 2 * layers * kv * KV_BYTES * context
    batch = min(BATCH, context)
    widest = max(config["intermediate_size"] * 2, heads * head_dim(config) + 2 * kv)
    activations = 4 * batch * (4 * config["hidden_size"] + widest + heads * context)
    logits = 4 * config["vocab_size"]
    return int(weight_bytes + cache + activations + logits + RUNTIME_BYTES)


def largest_context(config: dict, weight_bytes: int) -> int:
    """The longest n_ctx at which the GGUF fits in wllama's memory (0: none does)."""
    return longest_fitting(lambda n: heap_bytes(config, weight_bytes, n), WLLAMA_MEMORY_BYTES)


def wllama_plan(config: dict, context_window: int, least: int,
                weight_bytes: dict[str, int] | None = None) -> tuple[str | None, int, str]:
    """(qtype, context, note): the best GGUF type that holds at least `least` tokens in
    wllama's memory, with the context it holds (the build's, or less), and a note saying what
    was given up; qtype None, with why, when none fits. `weight_bytes`: the GGUF's bytes by
    type when known (a GGUF served as it is), else estimated from the config."""
    sizes = weight_bytes or {q: gguf_weight_bytes(config, q) for q in QTYPES}
    notes = []
    for qtype, size in sizes.items():
        fits = min(context_window, largest_context(config, size))
        if fits >= least:
            if fits < context_window:
                notes.append(f"the {qtype} GGUF holds {fits} tokens in wllama's WASM memory, "
                             f"not {context_window}")
            return qtype, fits, "; ".join(notes)
        notes.append(refusal(config, qtype, size, least))
    return None, 0, "; ".join(notes)


def refusal(config: dict, qtype: str, weight_bytes: int, context: int) -> str:
    need = heap_bytes(config, weight_bytes, context)
    return (f"the {qtype} GGUF ({weight_bytes / 2**30:.1f} GiB) needs about {need / 2**30:.1f} "
            f"GiB of WASM memory for {context} tokens, over the {WLLAMA_MEMORY_BYTES >> 30} GiB "
            "wllama's module can grow to")

