"""The comparison `webslm build --lora` prints before it builds a fine-tune, on its own (no
compile): each candidate build scored against PEFT running the adapter unmerged, and the pick.
The table in docs/FINETUNES.md comes from it.

    python bench/finetune_choice.py ADAPTER_DIR [--base smollm2-135m] [--quantization q4f32_asym ...]
                                    [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    from webslm.arch import find_architecture
    from webslm.pipeline.finetune import choose_builds
    from webslm.pipeline.inputs import resolve_input
    from webslm.quantize.schemes import get_scheme

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter")
    parser.add_argument("--base", default="smollm2-135m", help="a models.yaml name")
    parser.add_argument("--quantization", nargs="+", default=["q4f32_asym"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    source = resolve_input(args.base, lora=args.adapter).source
    started = time.time()
    choices = choose_builds(source, find_architecture(source.config),
                            [get_scheme(q) for q in args.quantization], False, print)
    print(f"compared in {time.time() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({c.scheme.name: c.manifest for c in choices}, indent=1))


if __name__ == "__main__":
    main()
