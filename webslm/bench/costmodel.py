"""Decode speed on a GPU, modeled from what a token costs: a token takes
(bytes moved) / (memory bandwidth) + (dispatches) x (per-dispatch overhead).

At batch 1 a decoded token is memory-bound (every weight is read once), and WebGPU adds a
fixed cost per compute dispatch (pass encoding, bind group creation, validation) that is
large next to a small model's per-token time. The GPUs below are the ones `bench/gpu.sh`
targets, the WebLLM paper measured on, and the plain M3 that llama.cpp's WebGPU figures
come from, with their published bandwidths.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    name: str
    bandwidth_gb_s: float   # peak memory bandwidth, the vendor's figure
    dispatch_us: float      # WebGPU API cost per dispatch on its backend
    source: str


# Per-dispatch costs: J. Maczan, "Characterizing WebGPU Dispatch Overhead for LLM Inference
# Across Four GPU Vendors, Three Backends, and Three Browsers", arXiv:2604.02344 (2026):
# 24-36 us per dispatch on Vulkan, 32-71 us on Metal (sequential-dispatch method); we take
# the middle of each range.
VULKAN_DISPATCH_US = 30.0
METAL_DISPATCH_US = 50.0


def implied_dispatch_us(tokens_per_s: float, dispatches: int, bytes_per_token: float,
                        bandwidth_gb_s: float) -> float:
    """The per-dispatch cost a measured decode speed implies under this model."""
    return (1 / tokens_per_s - bytes_per_token / (bandwidth_gb_s * 1e9)) / dispatches * 1e6


# llama.cpp's WebGPU backend on a plain Apple M3 in Chrome (abhijitramesh/webgpu-bench,
# data/machines/apple-m3-16gb-darwin.json, llama.cpp d12cc3d1, 2026-04-12): gemma-3-270m-it
# Q4_K_M decodes at 120.12 tok/s, with 564 dispatches a token (one per ggml op: 31 a layer x
# 18 + 6; that browser build fuses nothing and has no flash attention) reading about 241 MB.
# Under this model that is 10.5 us a dispatch, not the 32-71 us measured dispatch by dispatch
# (its one compute pass per 64 kernels); the sweep's other quantizations (55-67 tok/s) imply
# about 25 us. docs/BENCHMARKS.md, "Gemma 3 270M decode cost".
LLAMA_CPP_M3_RUN = {"tokens_per_s": 120.12, "dispatches": 564, "bytes_per_token": 241e6,
                    "bandwidth_gb_s": 100}

GPUS = (
    GpuSpec("NVIDIA H200 (Vulkan)", 4800, VULKAN_DISPATCH_US,
            "NVIDIA H200 datasheet: 4.8 TB/s HBM3e (the GPU of this project's device machine)"),
    GpuSpec("NVIDIA RTX 4090 (Vulkan)", 1008, VULKAN_DISPATCH_US,
            "NVIDIA GeForce RTX 4090 specifications: 1008 GB/s GDDR6X"),
    GpuSpec("Apple M3 Max (Metal)", 400, METAL_DISPATCH_US,
            "Apple M3 Max (40-core GPU) specifications: 400 GB/s; the WebLLM paper's "
            "machine (Ruan et al., arXiv:2412.15803)"),
    GpuSpec("Apple M3 (Metal)", 100, METAL_DISPATCH_US,
            "Apple M3 (10-core GPU) specifications: 100 GB/s unified memory; the machine of "
            "llama.cpp's WebGPU gemma-3-270m figure that issue 29 sets as the goal"),
    GpuSpec("Apple M3 (Chrome, llama.cpp's run)", 100, implied_dispatch_us(**LLAMA_CPP_M3_RUN),
            "the plain M3 at the per-dispatch cost llama.cpp's own gemma-3-270m run there "
            "implies (LLAMA_CPP_M3_RUN): both engines modeled at one constant"),
)


@dataclasses.dataclass(frozen=True)
class Estimate:
    tokens_per_s: float
    dispatch_share: float   # of a token's time, spent on per-dispatch overhead
    excess_share: float     # of a token's time, spent moving bytes beyond weights + KV cache


def estimate(bytes_per_token: float, floor_bytes: float, dispatches: float,
             gpu: GpuSpec) -> Estimate:
    bandwidth = gpu.bandwidth_gb_s * 1e9
    moving = bytes_per_token / bandwidth
    overhead = dispatches * gpu.dispatch_us * 1e-6
    total = moving + overhead
    return Estimate(tokens_per_s=1 / total, dispatch_share=overhead / total,
                    excess_share=max(bytes_per_token - floor_bytes, 0) / bandwidth / total)
