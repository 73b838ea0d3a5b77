"""Check a built artifact numerically: our kernels on the CPU against PyTorch."""

from pathlib import Path

# The fixed text `webslm eval` scores and `webslm bench` takes its prompts from (kept with the
# tests, as the bench issue asks; light to import, unlike the modules that use TVM).
EVAL_TEXT = Path(__file__).resolve().parents[2] / "tests" / "data" / "eval_text.txt"
