"""The child process export.py runs: onnxruntime-genai's model builder, after one shim.

Why a shim and not a staged config.json: the builder reads its config through transformers'
AutoConfig, and transformers 5 turns any Gemma 3 config (rope_theta, rope_local_base_freq,
rope_scaling as transformers 4 wrote them, or its own form) into per-layer-type
`rope_parameters` ({"sliding_attention": {...}, "full_attention": {...}}). The builder 0.18's
Gemma 3 reads the transformers 4 names: `rope_parameters["rope_type"]`, `rope_theta` (global
layers) and `rope_local_base_freq` (sliding layers). So, on the config object the builder
holds, those names are set from the per-layer-type form before it reads them.

    python -m webslm.onnx.builder_child <the builder's own arguments>
"""

from __future__ import annotations

import runpy

LOCAL, GLOBAL = "sliding_attention", "full_attention"


def legacy_rope(config) -> None:
    """Per-layer-type rope_parameters -> rope_theta, rope_local_base_freq and a flat
    rope_parameters (the global layers'). The builder gives both caches the global layers'
    scaling, so only plain ("default") sliding-layer RoPE is carried."""
    params = getattr(config, "rope_parameters", None)
    if not isinstance(params, dict) or GLOBAL not in params or LOCAL not in params:
        return
    if params[LOCAL].get("rope_type", "default") != "default":
        raise SystemExit(f"sliding layers' RoPE {params[LOCAL]} is not plain RoPE, which is all "
                         "the builder's Gemma 3 gives them")
    config.rope_local_base_freq = params[LOCAL]["rope_theta"]
    config.rope_theta = params[GLOBAL]["rope_theta"]
    config.rope_parameters = {"rope_type": "default", **params[GLOBAL]}


def _patch() -> None:
    import onnxruntime_genai.models  # noqa: F401  (puts the builder's own modules on sys.path)
    from builders.gemma import Gemma3Model  # the module object builder.py imports

    original = Gemma3Model.make_config_init

    def make_config_init(self, config):
        if type(self) is Gemma3Model:  # Gemma 4 reads the per-layer-type form itself
            legacy_rope(config)
        original(self, config)

    Gemma3Model.make_config_init = make_config_init


if __name__ == "__main__":
    _patch()
    runpy.run_module("onnxruntime_genai.models.builder", run_name="__main__", alter_sys=True)
