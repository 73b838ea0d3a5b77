"""models.yaml: every named model resolves to a source the build can fetch reproducibly."""

import re

from webslm.arch import ARCHITECTURES
from webslm.registry import load_registry


def test_hub_models_are_pinned_to_a_commit():
    for entry in load_registry().values():
        if not entry.source.startswith("pypi:"):
            assert re.fullmatch(r"[0-9a-f]{40}", entry.revision or ""), entry.name


def test_every_entry_names_a_registered_architecture():
    import webslm.arch  # noqa: F401  (registers every architecture)

    known = set(ARCHITECTURES)
    for entry in load_registry().values():
        assert entry.architecture in known, entry.name


# The user's own models file, merged over models.yaml (--models FILE / $WEBSLM_MODELS).

import pytest  # noqa: E402

from webslm.cli import main  # noqa: E402
from webslm.errors import WebslmError  # noqa: E402
from webslm.registry import USER_MODELS_ENV  # noqa: E402

MINE = """models:
  my-llama:
    description: my fine-tune
    source: /models/my-llama
    revision: null
    architecture: LlamaForCausalLM
    chat_format: llama-3
    context_window: 1024
    prefill_chunk: 256
    quantizations: [q4f32_1]
  smollm2-135m:
    context_window: 1024
"""


def test_user_entries_add_and_override_by_name(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(MINE)
    builtin, merged = load_registry(), load_registry(mine)
    assert set(merged) == set(builtin) | {"my-llama"}
    assert merged["my-llama"].quantizations == ("q4f32_1",)
    smol = merged["smollm2-135m"]
    assert smol.context_window == 1024 and smol.source == builtin["smollm2-135m"].source


def test_the_environment_and_the_cli_option_name_the_file(tmp_path, monkeypatch, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text(MINE)
    monkeypatch.setenv(USER_MODELS_ENV, str(mine))
    assert "my-llama" in load_registry()
    monkeypatch.setenv(USER_MODELS_ENV, "")  # restored after the test, whatever main sets
    assert "my-llama" not in load_registry()
    assert main(["--models", str(mine), "models"]) == 0
    assert "my-llama" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    (None, "cannot read the model registry"),
    ("models: [\n", "cannot read the model registry"),
    ("other: {}\n", "cannot read the model registry"),
    ("models: [a, b]\n", "must map each model name"),
    ("models:\n  smollm2-135m: {context_windw: 5}\n", "unknown fields ['context_windw']"),
    ("models:\n  new: {description: x}\n", "missing fields"),
    ("models:\n  smollm2-135m: {quantizations: q4f32_1}\n", "must be a list"),
])
def test_a_bad_user_file_is_a_clear_error(tmp_path, monkeypatch, capsys, text, message):
    mine = tmp_path / "mine.yaml"
    if text is not None:
        mine.write_text(text)
    with pytest.raises(WebslmError, match=re.escape(message)) as err:
        load_registry(mine)
    assert str(mine) in err.value.fix
    monkeypatch.setenv(USER_MODELS_ENV, "")
    assert main(["--models", str(mine), "models"]) == 2
    err = capsys.readouterr().err
    assert message in err and "fix:" in err and "Traceback" not in err


def test_only_the_pretrained_base_is_completion_only():
    from webslm.registry import load_registry

    assert {n for n, e in load_registry().items() if e.completion_only} == {"gemma-3-270m"}
