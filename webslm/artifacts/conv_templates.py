"""Chat formats as data, turned into the `conv_template` object WebLLM renders prompts from.

WebLLM never runs the model's Jinja chat template: it rebuilds every prompt from the plain
strings in `mlc-chat-config.json`'s `conv_template`. A chat format here is that recipe, with
token *names* instead of ids, so one format serves every tokenizer that uses it. Ids are
always looked up in the tokenizer that ships with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError

from webslm.artifacts.template_process import render
from webslm.artifacts.template_sandbox import MAX_TEMPLATE_CHARS
from webslm.errors import WebslmError
from webslm.model_files import read_object, read_template_file

SYSTEM = "{system_message}"


@dataclass(frozen=True)
class ChatFormat:
    """One prompt layout, in WebLLM's terms (see Conversation.getPromptArray)."""

    name: str
    system_template: str  # contains SYSTEM once
    system_message: str  # default when the user gives none ("" = no system turn)
    roles: dict[str, str]  # "user"/"assistant" -> the text that opens that turn
    seps: tuple[str, ...]  # closes message i with seps[i % len(seps)]
    role_content_sep: str  # between role text and message text
    role_empty_sep: str  # after the role text of the reply header
    stop_tokens: tuple[str, ...]  # first one must exist in the vocabulary
    optional_stop_tokens: tuple[str, ...] = ()
    prefix_tokens: tuple[str, ...] = ()  # token names prepended before the first turn
    add_role_after_system_message: bool = True


def _chatml(name: str, system_message: str) -> ChatFormat:
    return ChatFormat(
        name=name,
        system_template=f"<|im_start|>system\n{SYSTEM}<|im_end|>\n",
        system_message=system_message,
        roles={"user": "<|im_start|>user", "assistant": "<|im_start|>assistant"},
        seps=("<|im_end|>\n",),
        role_content_sep="\n",
        role_empty_sep="\n",
        stop_tokens=("<|im_end|>",),
        optional_stop_tokens=("<|endoftext|>",),
    )


FORMATS: dict[str, ChatFormat] = {
    # Plain ChatML has no default system turn; SmolLM2's own template adds one, which
    # `derive_from_chat_template` picks up from the tokenizer.
    "chatml": _chatml("chatml", ""),
    "qwen2": _chatml("qwen2", "You are a helpful assistant."),
    "llama-3": ChatFormat(
        name="llama-3",
        system_template=f"<|start_header_id|>system<|end_header_id|>\n\n{SYSTEM}<|eot_id|>",
        system_message="",
        roles={"user": "<|start_header_id|>user", "assistant": "<|start_header_id|>assistant"},
        seps=("<|eot_id|>",),
        role_content_sep="<|end_header_id|>\n\n",
        role_empty_sep="<|end_header_id|>\n\n",
        stop_tokens=("<|eot_id|>",),
        optional_stop_tokens=("<|end_of_text|>", "<|eom_id|>"),
        prefix_tokens=("<|begin_of_text|>",),
    ),
    # Gemma has no system turn: a system message opens the first user turn (WebLLM renders it
    # that way when add_role_after_system_message is off). The model's turn is "model".
    "gemma": ChatFormat(
        name="gemma",
        system_template=f"<start_of_turn>user\n{SYSTEM}\n\n",
        system_message="",
        roles={"user": "<start_of_turn>user", "assistant": "<start_of_turn>model"},
        seps=("<end_of_turn>\n",),
        role_content_sep="\n",
        role_empty_sep="\n",
        stop_tokens=("<end_of_turn>",),
        optional_stop_tokens=("<eos>",),
        prefix_tokens=("<bos>",),
        add_role_after_system_message=False,
    ),
    "phi-3": ChatFormat(
        name="phi-3",
        system_template=f"<|system|>\n{SYSTEM}<|end|>\n",
        system_message="",
        roles={"user": "<|user|>", "assistant": "<|assistant|>"},
        seps=("<|end|>\n",),
        role_content_sep="\n",
        role_empty_sep="\n",
        stop_tokens=("<|end|>",),
        optional_stop_tokens=("<|endoftext|>",),
    ),
}


def get_format(chat_format: str) -> ChatFormat:
    """The named format, or a WebslmError that lists the known ones."""
    try:
        return FORMATS[chat_format]
    except KeyError:
        raise WebslmError(
            f"unknown chat format {chat_format!r}",
            fix=f"use one of: {', '.join(sorted(FORMATS))}",
        ) from None


def load_vocab(tokenizer_dir: Path) -> dict[str, int]:
    """Token text -> id from tokenizer.json: the model vocabulary plus added tokens."""
    path = Path(tokenizer_dir) / "tokenizer.json"
    if not path.is_file():
        raise WebslmError(
            f"no tokenizer.json in {tokenizer_dir}",
            fix="WebLLM loads tokenizer.json only; convert the tokenizer with "
            "transformers (AutoTokenizer(...).save_pretrained) first",
        )
    data = read_object(path)
    model = data.get("model") or {}
    model_vocab = model.get("vocab") or {} if isinstance(model, dict) else None
    if isinstance(model_vocab, list):  # Unigram: [[piece, score], ...]
        if not all(isinstance(item, list) and item and isinstance(item[0], str) for item in model_vocab):
            _bad_tokenizer(path, "model.vocab is a list but not of [piece, score] pairs")
        vocab = {item[0]: i for i, item in enumerate(model_vocab)}
    elif isinstance(model_vocab, dict):
        if not all(_is_id(v) for v in model_vocab.values()):
            _bad_tokenizer(path, "model.vocab maps some token to something other than an id")
        vocab = dict(model_vocab)
    else:
        _bad_tokenizer(path, f"model.vocab is a {type(model_vocab).__name__}, not a vocabulary")
    added = data.get("added_tokens") or []
    if not isinstance(added, list):
        _bad_tokenizer(path, "added_tokens is not a list")
    for tok in added:
        if not (isinstance(tok, dict) and isinstance(tok.get("content"), str) and _is_id(tok.get("id"))):
            _bad_tokenizer(path, f"added_tokens holds {str(tok)[:80]!r}, not a {{content, id}} object")
        vocab[tok["content"]] = tok["id"]
    return vocab


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bad_tokenizer(path: Path, what: str):
    raise WebslmError(f"{path} is not a tokenizer webslm can read: {what}",
                      "restore tokenizer.json from the model's repository")


def token_id(vocab: dict[str, int], token: str, *, fmt: str) -> int:
    """The id of a special token the format needs; a clear error when the model lacks it."""
    if token not in vocab:
        raise WebslmError(
            f"chat format {fmt!r} needs token {token!r}, which the tokenizer does not have",
            fix="pick the chat format that matches this model's chat template",
        )
    return vocab[token]


@dataclass(frozen=True)
class SystemSetup:
    """How the system turn looks for one concrete model (may differ from the format default)."""

    system_template: str
    system_message: str
    prefix_tokens: tuple[str, ...]


def conv_template_dict(fmt: ChatFormat, vocab: dict[str, int], setup: SystemSetup) -> dict:
    """The exact JSON object WebLLM reads as `conv_template`."""
    stops = list(fmt.stop_tokens) + [t for t in fmt.optional_stop_tokens if t in vocab]
    conv = {  # key order as MLC-LLM writes it
        "name": fmt.name,
        "system_template": setup.system_template,
        "system_message": setup.system_message,
        "system_prefix_token_ids": [token_id(vocab, t, fmt=fmt.name) for t in setup.prefix_tokens],
        "add_role_after_system_message": fmt.add_role_after_system_message,
        "roles": dict(fmt.roles),
        "role_templates": {
            "user": "{user_message}",
            "assistant": "{assistant_message}",
            "tool": "{tool_message}",
        },
        "messages": [],
        "seps": list(fmt.seps),
        "role_content_sep": fmt.role_content_sep,
        "role_empty_sep": fmt.role_empty_sep,
        "stop_str": stops,
        "stop_token_ids": [token_id(vocab, t, fmt=fmt.name) for t in stops],
        "function_string": "",
        "use_function_calling": False,
    }
    if not conv["system_prefix_token_ids"]:
        del conv["system_prefix_token_ids"]  # MLC-LLM omits it when unset
    if setup.system_message == "" and setup.system_template.replace(SYSTEM, "") != "":
        # Without this WebLLM would render an empty system turn the model never saw.
        conv["render_empty_system_message"] = False
    return conv


# --- Aligning a format with the model's own Jinja chat template -------------------------
# Sentinels are single words so templates that trim or strip content leave them intact.
_SYS, _U1, _A1, _U2 = "WSLMSYSTEMX", "WSLMUSERX", "WSLMREPLYX", "WSLMAGAINX"


def read_chat_template(tokenizer_dir: Path) -> tuple[str | None, dict]:
    """The model's chat template (chat_template.jinja or tokenizer_config.json) and that config."""
    tokenizer_dir = Path(tokenizer_dir)
    cfg_path = tokenizer_dir / "tokenizer_config.json"
    cfg = read_object(cfg_path) if cfg_path.is_file() else {}
    jinja_path = tokenizer_dir / "chat_template.jinja"
    if jinja_path.is_file():
        return _checked_template(read_template_file(jinja_path), jinja_path), cfg
    template = cfg.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        if not all(isinstance(t, dict) for t in template):
            _bad_template(cfg_path, "chat_template is a list, but not of {name, template} objects")
        named = {t.get("name"): t.get("template") for t in template}
        template = named.get("default", template[0].get("template") if template else None)
    if template is not None and not isinstance(template, str):
        _bad_template(cfg_path, f"chat_template is a {type(template).__name__}, not a template string")
    return (None if template is None else _checked_template(template, cfg_path)), cfg


def _checked_template(template: str, path: Path) -> str:
    if len(template) > MAX_TEMPLATE_CHARS:
        _bad_template(path, f"the chat template is {len(template)} characters long "
                            f"(real ones are < {MAX_TEMPLATE_CHARS // 1000} k)")
    return template


def _bad_template(path: Path, what: str):
    raise WebslmError(f"{path}: {what}", "restore the file from the model's repository, or pass "
                                         f"--chat-format, one of: {', '.join(sorted(FORMATS))}")


def _token_text(cfg: dict, key: str) -> str:
    value = cfg.get(key)
    if isinstance(value, dict):  # serialized AddedToken
        value = value.get("content")
    return value if isinstance(value, str) else ""


class _Mismatch(Exception):
    """The rendered template does not have the format's shape."""


def _render(template: str, cfg: dict, messages: list[dict]) -> str:
    """The model's template rendered for `messages`, bounded (template_process.py)."""
    specials = {k: _token_text(cfg, k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    return render(template, specials, messages)


def _expected(fmt: ChatFormat, setup: SystemSetup, messages: list[dict]) -> str:
    """The text WebLLM would build for `messages` plus a reply header (prefix tokens as text)."""
    system = next((m["content"] for m in messages if m["role"] == "system"), setup.system_message)
    head = setup.system_template.replace(SYSTEM, system) if system else ""
    turns = [m for m in messages if m["role"] != "system"]
    body = "".join(
        _opening(fmt, m["role"], first=i == 0, after_system=bool(head)) + m["content"]
        + fmt.seps[i % len(fmt.seps)]
        for i, m in enumerate(turns)
    )
    return "".join(setup.prefix_tokens) + head + body + fmt.roles["assistant"] + fmt.role_empty_sep


def _opening(fmt: ChatFormat, role: str, first: bool, after_system: bool) -> str:
    """What opens a turn: its role text, but not for the first turn after a system prompt in
    a format that folds the system message into that turn (WebLLM's omitRole)."""
    if first and after_system and not fmt.add_role_after_system_message:
        return ""
    return fmt.roles[role] + fmt.role_content_sep


def derive_from_chat_template(fmt: ChatFormat, template: str, cfg: dict) -> SystemSetup:
    """Read the system turn (template, default message, BOS prefix) off the real template.

    Models of one format differ exactly there (SmolLM2 vs plain ChatML, Qwen2 vs Qwen3), and
    WebLLM can only reproduce them if the config says so. Raises if the template does not
    follow the format at all, since the model would then be prompted in a way it never saw.
    """
    bos = _token_text(cfg, "bos_token")
    uses_bos = bool(bos) and "bos_token" in template  # SmolLM2's bos is <|im_start|>: not a prefix
    heads, starts_with_bos, rendered = [], [], ""
    try:
        for msgs in ([], [{"role": "system", "content": _SYS}]):
            tail = (_opening(fmt, "user", first=True, after_system=bool(msgs)) + _U1 + fmt.seps[0]
                    + fmt.roles["assistant"] + fmt.role_empty_sep)
            rendered = _render(template, cfg, msgs + [{"role": "user", "content": _U1}])
            starts_with_bos.append(uses_bos and rendered.startswith(bos))
            if starts_with_bos[-1]:
                rendered = rendered[len(bos) :]
            if not rendered.endswith(tail):
                raise _Mismatch
            heads.append(rendered[: -len(tail)])
        no_sys, with_sys = heads
        if with_sys.count(_SYS) != 1:
            raise _Mismatch
        system_template = with_sys.replace(_SYS, SYSTEM)
        before, after = system_template.split(SYSTEM)
        if no_sys == "":
            message = ""
        elif (
            no_sys.startswith(before)
            and no_sys.endswith(after)
            and len(no_sys) >= len(before + after)
        ):
            message = no_sys[len(before) : len(no_sys) - len(after)]
        else:
            raise _Mismatch
        setup = SystemSetup(system_template, message, (bos,) if all(starts_with_bos) else ())
        for first in ([], [{"role": "system", "content": _SYS}]):
            msgs = first + [
                {"role": "user", "content": _U1},
                {"role": "assistant", "content": _A1},
                {"role": "user", "content": _U2},
            ]
            rendered = _render(template, cfg, msgs)
            if rendered != _expected(fmt, setup, msgs):
                raise _Mismatch
        return setup
    except (_Mismatch, TemplateError) as err:
        detail = f" ({err})" if str(err) else ""
        raise WebslmError(
            f"the model's chat template does not follow chat format {fmt.name!r}{detail}; "
            f"it renders: {rendered[:300]!r}",
            fix=f"pass --chat-format with the format the model follows; known: {', '.join(sorted(FORMATS))}",
        ) from None


def detect_chat_format(tokenizer_dir: Path, prefer: str | None = None) -> str:
    """The known format the model's own chat template follows (`prefer` is tried first).

    Fine-tunes often change the template of their base (Axolotl's chatml on a Llama base), so
    a format is read off the template the model ships, by rendering sample conversations with
    both and comparing; a template that matches none is an error, never a guess.
    """
    template, cfg = read_chat_template(tokenizer_dir)
    if template is None:
        if prefer:
            return prefer
        raise WebslmError(f"{tokenizer_dir} has no chat template, so its chat format is unknown",
                          fix=f"pass --chat-format, one of: {', '.join(sorted(FORMATS))}")
    origin = _template_origin(Path(tokenizer_dir))
    try:
        sample = _render(template, cfg, [{"role": "user", "content": _U1}])
    except SecurityError as err:  # hostile or runaway: no format can be read off it
        raise WebslmError(f"the chat template in {origin} was stopped by webslm's sandbox: {err}",
                          fix="restore the model's original chat template (webslm renders it "
                              "sandboxed, with bounded time and output)") from None
    except TemplateError as err:
        sample = f"(the template fails to render: {err})"
    order = ([prefer] if prefer in FORMATS else []) + [n for n in FORMATS if n != prefer]
    problems = []
    for name in order:
        try:
            build_conv_template(name, tokenizer_dir)
            return name
        except WebslmError as err:
            problems.append(f"{name}: {err.problem.split(';')[0]}")
    raise WebslmError(
        f"the chat template in {origin} matches none of the chat formats webslm knows "
        f"({'; '.join(problems)}); a user turn renders as {sample[:200]!r}",
        fix="pass --chat-format NAME if the model was trained on one of them, or add the format "
            "to webslm/artifacts/conv_templates.py")


def _template_origin(tokenizer_dir: Path) -> Path:
    jinja = tokenizer_dir / "chat_template.jinja"
    return jinja if jinja.is_file() else tokenizer_dir / "tokenizer_config.json"


def completion_prefix(conv_template: dict, tokenizer_dir: Path) -> str:
    """The text a plain completion starts with: the tokens a chat starts with (Gemma's <bos>).
    WebLLM's completions API prefills the prompt's own tokens and adds none, so a page that
    continues text for a base model puts these in front."""
    by_id = {i: t for t, i in load_vocab(tokenizer_dir).items()}
    return "".join(by_id[i] for i in conv_template.get("system_prefix_token_ids", []))


def build_conv_template(chat_format: str, tokenizer_dir: Path) -> dict:
    """`conv_template` for this model: the format, aligned with its own template when it has one."""
    fmt = get_format(chat_format)
    vocab = load_vocab(tokenizer_dir)
    template, cfg = read_chat_template(tokenizer_dir)
    if template is None:
        setup = SystemSetup(fmt.system_template, fmt.system_message, fmt.prefix_tokens)
    else:
        setup = derive_from_chat_template(fmt, template, cfg)
    return conv_template_dict(fmt, vocab, setup)
