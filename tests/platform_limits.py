"""Skips that `make test` allows: what this machine's kernel or sandbox forbids (mounting a
small filesystem needs CAP_SYS_ADMIN), as opposed to something `make install` provides
(Chromium, Node, npm packages, emcc), whose absence must fail the run (tests/conftest.py)."""

from __future__ import annotations

import pytest

MARK = "platform limit:"


def skip_platform_limit(why: str):
    pytest.skip(f"{MARK} {why}")
