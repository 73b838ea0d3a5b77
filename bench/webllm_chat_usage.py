"""One greedy chat turn per build in the unmodified WebLLM, on a test rig, back to back, and
what WebLLM reports for it (usage.extra: prefill and decode tokens/s), with the load time:
how a kept adapter's decode compares with the merged build's on the same machine.

    python bench/webllm_chat_usage.py BUILD_DIR... [--prompt TEXT] [--max-tokens 16]
        [--rig dawn] [--beside BASE_DIR]

BASE_DIR: a kept adapter's base build, served beside it (its tensor-cache.json names the
base's shards by a relative path). An f16 build needs the dawn rig (shader-f16).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lora_adapter import QUESTION  # noqa: E402


def main() -> None:
    from harness import run_webllm

    from webslm.artifacts.files import model_library
    from webslm.artifacts.manifest import read_manifest

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", type=Path)
    parser.add_argument("--prompt", default=QUESTION)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--rig", default="dawn")
    parser.add_argument("--beside", type=Path, action="append", default=[])
    args = parser.parse_args()
    for art in args.builds:
        record = read_manifest(art)["webllm_model_record"]
        result = run_webllm(art, art / model_library(art.name), art.name, prompt=args.prompt,
                            max_tokens=args.max_tokens, timeout=900, rig=args.rig,
                            required_features=record.get("required_features"),
                            beside={b.name: b for b in args.beside if b.name != art.name})
        if result["error"]:
            print(art.name, "failed:", result["error"])
            continue
        extra = result["usage"]["extra"]
        print(json.dumps({"build": art.name, "text": result["text"],
                          "completion_tokens": result["usage"]["completion_tokens"],
                          "load_s": round(result["stage_times"]["loaded"], 1),
                          "prefill_tok_s": round(extra["prefill_tokens_per_s"], 2),
                          "decode_tok_s": round(extra["decode_tokens_per_s"], 3),
                          "s_per_decoded_token": round(extra["time_per_output_token_s"], 2)}))


if __name__ == "__main__":
    main()
