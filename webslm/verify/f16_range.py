"""Will an f16 build's activations fit f16? Measured in f32 on the stored weights.

An f16 build (q4f16_*, q0f16) keeps in f16 the tensors that pass between its kernels: the
token embeddings, the residual stream after every block and the output of every linear layer
(those accumulate in f32 inside the kernel, then round to f16). f16's largest finite value is
65,504; a tensor that goes past it becomes inf, then NaN. The reductions that are larger
still stay in f32 inside their kernels: RMSNorm's sum of squares (TVM's rms_norm casts to f32
first), the matmul and attention accumulators and the logits. So this checks the tensors
between kernels, over a long prompt (outliers grow with position), with transformers' own
model as the independent reference.
"""

from __future__ import annotations

import dataclasses

F16_MAX = 65504.0
# Rounding in f16 adds error in proportion to the value, so a tensor near the limit is also
# where the build is least exact; half the range is the margin asked for.
HEADROOM_MIN = 2.0


@dataclasses.dataclass
class F16Range:
    tokens: int                     # prompt length the maxima were taken over
    largest: dict[str, float]       # site (module path) -> max |value| in f32

    @property
    def worst(self) -> tuple[str, float]:
        return max(self.largest.items(), key=lambda kv: kv[1])

    @property
    def headroom(self) -> float:
        """F16_MAX over the largest value anywhere: below 1 overflows, below 2 is close."""
        return F16_MAX / max(self.worst[1], 1e-30)

    @property
    def fits(self) -> bool:
        return self.headroom >= HEADROOM_MIN

    def overflowing(self) -> list[str]:
        return [site for site, value in self.largest.items() if value >= F16_MAX]

    def line(self) -> str:
        site, value = self.worst
        verdict = "ok" if self.fits else ("OVERFLOWS" if self.overflowing() else "CLOSE")
        return (f"f16 range over {self.tokens} tokens: largest |activation| {value:,.0f} at {site}, "
                f"headroom {self.headroom:.1f}x (>= {HEADROOM_MIN:g}) {verdict}")


def _sites(model, residual_f32: bool = False):
    """(site, module, whether the site is the module's input): what an f16 build stores in
    f16. The outputs of the embedding, each decoder block and every linear layer; and every
    norm's input, which is the residual stream wherever it is read (after the attention
    half of a block too), or a q/k projection. A build whose residual stream is f32 (Gemma 3)
    keeps only the embedding and the linear outputs in f16."""
    import torch

    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            if module is model.get_output_embeddings():
                continue  # the lm_head writes f32 logits
            yield name, module, False
        elif residual_f32:
            continue
        elif type(module).__name__.endswith("DecoderLayer"):
            yield name, module, False
        elif type(module).__name__.endswith("RMSNorm"):
            yield f"{name} (input)", module, True


def measure_f16_range(model, token_ids: list[int], residual_f32: bool = False) -> F16Range:
    """One f32 forward pass of `model` (transformers) over `token_ids`, recording the largest
    |value| each f16-stored tensor takes."""
    import torch

    largest: dict[str, float] = {}

    def keep(name, value):
        value = value[0] if isinstance(value, tuple) else value
        largest[name] = max(largest.get(name, 0.0), float(value.detach().abs().max()))

    handles = [m.register_forward_pre_hook(lambda _m, args, name=name: keep(name, args))
               if is_input else
               m.register_forward_hook(lambda _m, _args, out, name=name: keep(name, out))
               for name, m, is_input in _sites(model, residual_f32)]
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([token_ids], dtype=torch.long))
    finally:
        for h in handles:
            h.remove()
    return F16Range(len(token_ids), largest)


def long_prompt(tokenizer_dir, n: int) -> list[int]:
    """The first `n` tokens of the eval text (repeated if it is shorter)."""
    from tokenizers import Tokenizer

    from webslm.verify import EVAL_TEXT

    ids = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).encode(EVAL_TEXT.read_text()).ids
    return (ids * (n // max(len(ids), 1) + 1))[:n] if ids else []

