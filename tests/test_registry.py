"""models.yaml: every named model resolves to a source the build can fetch reproducibly."""

import re

from webslm.compile.arch.registry import ARCHITECTURES
from webslm.registry import load_registry


def test_hub_models_are_pinned_to_a_commit():
    for entry in load_registry().values():
        if not entry.source.startswith("pypi:"):
            assert re.fullmatch(r"[0-9a-f]{40}", entry.revision or ""), entry.name


def test_every_entry_names_a_registered_architecture():
    import webslm.compile.arch  # noqa: F401  (registers every architecture)

    known = set(ARCHITECTURES)
    for entry in load_registry().values():
        assert entry.architecture in known, entry.name
