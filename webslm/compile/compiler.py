"""Model definition -> Relax IRModule -> VM executable for one target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import tvm
from tvm import relax
from tvm.target import Target

from webslm.compile.layers import assign_linear_grids
from webslm.compile.logit_processors import attach_logit_processors
from webslm.compile.lora import attach_lora
from webslm.compile.lowering import make_pipeline
from webslm.compile.sampling import attach_sampler
from webslm.compile.spec import BuildShape, CompiledModel, LoraPlan, ParamSpec
from webslm.quantize.schemes import QuantScheme

if TYPE_CHECKING:  # the compiler reads an architecture's record; records never import it
    from webslm.arch.record import Architecture


# TVM 0.27's TIR common-subexpression pass can emit a use before its definition in the
# paged-attention kernels when Llama-3 rope scaling meets GQA groups of 4 (Llama-3.2-1B):
# "variable cse_vN has been used before definition". The kernels are correct without it.
_PASS_CONFIG = {"tirx.disable_cse_tir": True}


def export_module(arch: Architecture, hf_config: dict[str, Any], scheme: QuantScheme,
                  target: Target, shape: BuildShape, lora: LoraPlan | None = None):
    """Build the Relax IRModule: the model's entry points plus, for GPUs, the sampler; with a
    LoRA plan, the planned linears also add their low-rank branch."""
    cfg = arch.config_from_hf(hf_config)
    model = arch.model_class()(cfg, scheme, target)
    assign_linear_grids(model, scheme)
    if lora is not None:
        attach_lora(model, lora)
    mod, named_params = model.export_tvm(spec=model.export_spec())
    bounds = {"seq_len": shape.prefill_chunk, "batch_size": shape.max_batch_size,
              "num_samples": shape.max_batch_size, "num_positions": shape.max_batch_size,
              "total_seq_len": shape.context_window}
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            mod[gv] = (func.with_attr("tir_var_upper_bound", bounds)
                       .with_attr("tir_non_negative_var", ["vocab_size"]))
    if target.kind.name != "llvm":
        bb = relax.BlockBuilder(mod)
        attach_sampler(bb, cfg.vocab_size)
        attach_logit_processors(bb)
        mod = bb.finalize()
    params = [ParamSpec(name, tuple(int(d) for d in p.shape), p.dtype) for name, p in named_params]
    return mod, params, cfg


def build_metadata(arch: Architecture, cfg: Any, scheme: QuantScheme, shape: BuildShape,
                   params: list[ParamSpec]) -> dict[str, Any]:
    return {
        "model_type": arch.model_type,
        "quantization": scheme.name,
        "context_window_size": shape.context_window,
        "sliding_window_size": -1,
        "attention_sink_size": -1,
        "prefill_chunk_size": shape.prefill_chunk,
        "max_batch_size": shape.max_batch_size,
        "tensor_parallel_shards": 1,
        "pipeline_parallel_stages": 1,
        "kv_state_kind": "kv_cache",
        "kv_cache": {
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "head_dim": cfg.head_dim,
        },
        "params": [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype, "preprocs": []}
                   for p in params],
    }


def kernel_calls(arch: Architecture, hf_config: dict[str, Any], scheme: QuantScheme,
                 target: Target, shape: BuildShape, lora: LoraPlan | None = None):
    """Each entry function's kernel calls and the parameters, after the Relax passes alone
    (no kernel code is generated): what dispatch counts need, in seconds."""
    mod, params, cfg = export_module(arch, hf_config, scheme, target, shape, lora)
    metadata = build_metadata(arch, cfg, scheme, shape, params)
    with tvm.transform.PassContext(config=_PASS_CONFIG):
        make_pipeline(target, metadata)(mod)
    return metadata["kernel_calls"], params


def compile_model(arch: Architecture, hf_config: dict[str, Any], scheme: QuantScheme,
                  target: Target, shape: BuildShape,
                  progress: Callable[[str], None] | None = None,
                  lora: LoraPlan | None = None) -> CompiledModel:
    say = progress or (lambda _msg: None)
    say(f"exporting {arch.model_type} ({scheme.name}) for {target.kind.name}")
    mod, params, cfg = export_module(arch, hf_config, scheme, target, shape, lora)
    metadata = build_metadata(arch, cfg, scheme, shape, params)
    say("lowering and generating kernels")
    with tvm.transform.PassContext(config=_PASS_CONFIG):
        ex = relax.build(mod, target, relax_pipeline=make_pipeline(target, metadata))
    return CompiledModel(ex, metadata, params, cfg)
