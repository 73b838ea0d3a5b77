"""`webslm verify DIR`: compile the artifact's model for the CPU, run it on the weights the
artifact stores, and compare against PyTorch."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from webslm.artifacts.manifest import read_manifest
from webslm.compile.cpu_model import CpuModel
from webslm.source.merged import MergedSource
from webslm.verify.f16_range import F16Range, long_prompt, measure_f16_range
from webslm.verify.reference import load_weights_into, stored_as_hf, teacher_forced_logits
from webslm.verify.twin import load_cpu_twin

SEQ_LEN = 64
F16_RANGE_TOKENS = 2048  # an f16 build's range is measured up to this much of its context
LOGIT_TOL = 1e-3
TOP1_MIN = 0.95
SAMPLE_TEXT = (
    "The lighthouse keeper climbed the spiral stairs at dusk, counting each step as his "
    "father had taught him. Below, the harbour filled with fishing boats returning from the "
    "grey water, their lamps swaying like slow fireflies. He wound the great clockwork, "
    "trimmed the wick, and wrote the date in the logbook: calm seas, wind from the west."
)


@dataclasses.dataclass
class VerifyReport:
    quantization: str
    positions: int
    max_abs_diff: float            # CPU kernels vs PyTorch on the stored (dequantized) weights
    top1_vs_source: float          # argmax agreement with the unquantized source model
    prefill_max_abs_diff: float    # one multi-token prefill vs PyTorch
    exact: bool = False            # q0f32 (adapter merged): must also match the source
    source_max_abs_diff: float = float("nan")  # vs the source model (a fine-tune: PEFT unmerged)
    f16_range: F16Range | None = None  # f16 builds: do the activations fit f16?

    @property
    def passed(self) -> bool:
        return (self.max_abs_diff < LOGIT_TOL and self.prefill_max_abs_diff < LOGIT_TOL
                and self.top1_vs_source >= TOP1_MIN
                and (not self.exact or self.source_max_abs_diff < LOGIT_TOL)
                and (self.f16_range is None or self.f16_range.fits))

    def lines(self) -> list[str]:
        ok = lambda good: "ok" if good else "FAIL"  # noqa: E731
        return [
            f"quantization            {self.quantization}",
            f"teacher-forced tokens   {self.positions}",
            f"max |logit diff| decode {self.max_abs_diff:.2e}  (< {LOGIT_TOL:g}) "
            f"{ok(self.max_abs_diff < LOGIT_TOL)}",
            f"max |logit diff| prefill {self.prefill_max_abs_diff:.2e}  (< {LOGIT_TOL:g}) "
            f"{ok(self.prefill_max_abs_diff < LOGIT_TOL)}",
            f"top-1 vs source model   {self.top1_vs_source:.1%}  (>= {TOP1_MIN:.0%}) "
            f"{ok(self.top1_vs_source >= TOP1_MIN)}",
            f"max |logit diff| source {self.source_max_abs_diff:.2e}"
            + (f"  (< {LOGIT_TOL:g}, unquantized) {ok(self.source_max_abs_diff < LOGIT_TOL)}"
               if self.exact else "  (quantized: not gated)"),
            *([self.f16_range.line()] if self.f16_range else []),
        ]


def kept_adapter_model(base_model, twin):
    """PEFT's unmerged model on a kept-adapter build's stored weights: the base as stored
    (dequantized), the adapter's A and B as stored (scale taken back out of B)."""
    import torch
    from peft import PeftModel

    from webslm.convert.kept_adapter import KeptAdapter

    kept = KeptAdapter.of(twin.source, twin.arch)
    model = PeftModel.from_pretrained(base_model, twin.source.adapter.path).eval()
    state = model.state_dict()
    with torch.no_grad():
        for name, a, b in kept.unstacked(twin.stored):
            module = "base_model.model." + name.removesuffix(".weight")
            state[f"{module}.lora_A.default.weight"].copy_(torch.from_numpy(a))
            state[f"{module}.lora_B.default.weight"].copy_(torch.from_numpy(b))
    return model


def sample_token_ids(tokenizer_dir: Path, n: int = SEQ_LEN) -> list[int]:
    from tokenizers import Tokenizer

    ids = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).encode(SAMPLE_TEXT).ids
    while len(ids) < n:
        ids = ids + ids
    return ids[:n]


def verify_artifact(artifact_dir: Path, progress: Callable[[str], None] | None = None,
                    source_spec: str | None = None) -> VerifyReport:
    say = progress or (lambda _m: None)
    read_manifest(artifact_dir)  # fail on a wrong directory before compiling anything
    say("compiling the CPU twin")
    twin = load_cpu_twin(artifact_dir, source_spec)
    tokens = sample_token_ids(artifact_dir)

    say("running PyTorch references")
    model = twin.source.load_reference_model()
    source_logits = teacher_forced_logits(model, tokens)
    if isinstance(twin.source, MergedSource):  # a fine-tune's source is base + adapter in PEFT
        source_logits = teacher_forced_logits(twin.source.load_source_model(), tokens)
    hf_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    load_weights_into(model, stored_as_hf(twin.stored, twin.compiled.params, twin.arch.weight_map,
                                          hf_shapes, twin.scheme))
    if "adapter" in twin.manifest["build"]:  # kept apart: PEFT unmerged on the stored weights
        model = kept_adapter_model(model, twin)
    ref_logits = teacher_forced_logits(model, tokens)
    f16 = None
    if twin.scheme.act_dtype == "float16":
        say("measuring the f16 range of the activations")
        n = min(F16_RANGE_TOKENS, twin.manifest["build"]["context_window"])
        f16 = measure_f16_range(model, long_prompt(Path(artifact_dir), n),
                                residual_f32=twin.compiled.config.residual_dtype == "float32")
    del model

    say("running the compiled model")
    cpu = CpuModel(twin.compiled, twin.stored)
    ours = [cpu.prefill(tokens[:1])] + [cpu.decode(t) for t in tokens[1:]]
    ours = np.stack(ours)
    cpu.reset()
    prefill_last = cpu.prefill(tokens)
    return VerifyReport(
        quantization=twin.quantization,
        positions=len(tokens),
        exact=twin.quantization == "q0f32" and "adapter" not in twin.manifest["build"],
        source_max_abs_diff=float(np.abs(ours - source_logits).max()),
        max_abs_diff=float(np.abs(ours - ref_logits).max()),
        top1_vs_source=float((ours.argmax(-1) == source_logits.argmax(-1)).mean()),
        prefill_max_abs_diff=float(np.abs(prefill_last - ref_logits[-1]).max()),
        f16_range=f16,
    )
