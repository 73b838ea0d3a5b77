"""The README shows exactly the screenshots docs/screenshots/capture.py takes, and each exists:
a picture added by hand, or one the script no longer takes, fails here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHOTS_DIR = REPO / "docs" / "screenshots"


def captured_names() -> set[str]:
    spec = importlib.util.spec_from_file_location("capture", SHOTS_DIR / "capture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.SHOTS)


def test_readme_shows_what_the_script_takes():
    shown = set(re.findall(r"\(docs/screenshots/([\w.-]+\.png)\)", (REPO / "README.md").read_text()))
    assert shown == captured_names()
    assert {p.name for p in SHOTS_DIR.glob("*.png")} == shown
    for name in shown:
        assert (SHOTS_DIR / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
