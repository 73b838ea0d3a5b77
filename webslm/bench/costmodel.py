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
