"""Check a built artifact numerically: our kernels on the CPU against PyTorch."""

from webslm.resources import data_path

# The fixed text `webslm eval` scores and `webslm bench` takes its prompts from (kept with the
# tests, as the bench issue asks, and shipped in the wheel; light to import, unlike the
# modules that use TVM).
EVAL_TEXT = data_path("tests/data/eval_text.txt")
