"""The npm package tests reuse the browser helpers of tests/serve (Chromium on SwiftShader,
the documented static server with COOP/COEP headers)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
