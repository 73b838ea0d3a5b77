#!/usr/bin/env bash
# One prepared GPU benchmark run (issue 6): headless Chromium on the machine's NVIDIA GPU
# through Vulkan, SmolLM2-135M with every engine, then the three named models at full size
# (random weights with their exact configs: speed does not depend on the values) in q4f16_1
# and q4f32_1 with WebLLM. One run each, short contexts, so it fits in about 10 minutes on a
# 16-core machine with a GPU. Results land in results/gpu/ (JSON, markdown, PNG per model).
#
#   bench/gpu.sh                  # the real run (needs a GPU that Chromium's WebGPU sees)
#   SWIFTSHADER=1 MODELS= CONTEXTS=8 NEW_TOKENS=2 bench/gpu.sh   # a CPU smoke run, SmolLM2 only
#
# The first model is also built with dlight's WebGPU GEMV tiling (1 row x 64 threads) in place
# of ours (8 x 8, webslm/compile/schedules.py) and benched into $OUT/dlight-gemv: the A/B for
# the decode matmul schedule. GEMV_AB=0 skips it.
#
# Every WebLLM bench is followed by `webslm bench --profile` of the same build (dispatches and
# modeled bytes per token, into $OUT/profile), and bench/profile_vs_measured.py prints the
# decode speed the cost model predicts for this GPU next to the measured one (issue 17).
#
# Environment: MODELS (default "llama-3.2-1b qwen2.5-1.5b phi-3.5-mini"), OUT (results/gpu),
# CONTEXTS (128,1024), NEW_TOKENS (32), JOBS (parallel builds, 3), GEMV_AB (1), PROFILE_TOKENS (4).
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS-"llama-3.2-1b qwen2.5-1.5b phi-3.5-mini"}
OUT=${OUT:-results/gpu}
CONTEXTS=${CONTEXTS:-128,1024}
NEW_TOKENS=${NEW_TOKENS:-32}
JOBS=${JOBS:-3}
GEMV_AB=${GEMV_AB:-1}
WHERE=--gpu AB_QUANT=q4f16_1
[ "${SWIFTSHADER:-0}" = 1 ] && WHERE=--swiftshader AB_QUANT=q4f32_1  # no shader-f16 there
AB_MODEL=${MODELS%% *}
PY=.venv/bin/python
WORK=$(mktemp -d /tmp/webslm-gpu-XXXX)
trap 'rm -rf "$WORK"' EXIT

make install >/dev/null
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
mkdir -p "$OUT"
[ -d dist/smollm2-135m-q4f16_asym ] && [ -d dist/smollm2-135m-q4f32_asym ] && [ -d dist/smollm2-135m-cpu ] \
  || .venv/bin/webslm build smollm2-135m --out dist --force

# Random full-size checkpoints and their builds, in parallel (each build is mostly one core).
build_one() {
  local model=$1
  "$PY" - "$model" "$WORK" <<'PYTHON'
import sys
from pathlib import Path
sys.path.insert(0, "bench")
from random_checkpoint import write_checkpoint
from tokenizer_dirs import tokenizer_dir
model, work = sys.argv[1], Path(sys.argv[2])
write_checkpoint(model, work / model, tokenizer_dir(model, work / f"{model}-tokenizer"))
PYTHON
  .venv/bin/webslm build "$model" --q4f16 --q4f32 --backend webgpu --source "$WORK/$model" \
    --out "$WORK/dist" --force >"$WORK/$model.log" 2>&1 || { tail -20 "$WORK/$model.log"; return 1; }
  if [ "$GEMV_AB" = 1 ] && [ "$model" = "$AB_MODEL" ]; then
    DLIGHT=1 "$PY" bench/gemv_experiment.py build "$model" --quantization "$AB_QUANT" \
      --backend webgpu --source "$WORK/$model" --out "$WORK/dist-dlight" --force \
      >>"$WORK/$model.log" 2>&1 || { tail -20 "$WORK/$model.log"; return 1; }
  fi
  rm -rf "${WORK:?}/$model"
  echo "built $model"
}
export -f build_one
export PY WORK GEMV_AB AB_MODEL AB_QUANT
[ -n "$MODELS" ] && printf '%s\n' $MODELS | xargs -P "$JOBS" -I{} bash -c 'build_one {}'

# SmolLM2: WebLLM (f16 build when the adapter has shader-f16), wllama on the same GGUF, and
# transformers.js on the ONNX build: q8 on WASM, then q4f16 on WebGPU (a second report).
.venv/bin/webslm bench smollm2-135m $WHERE --engines webllm,wllama,transformersjs \
  --contexts "$CONTEXTS" --new-tokens "$NEW_TOKENS" --runs 1 --out "$OUT"
[ "$WHERE" = --swiftshader ] || .venv/bin/webslm bench smollm2-135m $WHERE --engines transformersjs \
  --onnx-device webgpu --onnx-dtype q4f16 --contexts "$CONTEXTS" --new-tokens "$NEW_TOKENS" \
  --runs 1 --out "$OUT/tjs-webgpu"
profile() {  # the decode cost profile of one build, at the first context
  .venv/bin/webslm bench "$1" $WHERE --profile --contexts "${CONTEXTS%%,*}" \
    --new-tokens "$PROFILE_TOKENS" --out "$OUT/profile"
}
PROFILE_TOKENS=${PROFILE_TOKENS:-4}
SMOLLM2_QUANT=q4f16_asym
[ "$WHERE" = --swiftshader ] && SMOLLM2_QUANT=q4f32_asym
profile "dist/smollm2-135m-$SMOLLM2_QUANT"
for model in $MODELS; do
  for quant in q4f16_1 q4f32_1; do
    [ "$WHERE" = --swiftshader ] && [ $quant = q4f16_1 ] && continue  # no shader-f16 there
    .venv/bin/webslm bench "$WORK/dist/$model-$quant" $WHERE --engines webllm \
      --contexts "$CONTEXTS" --new-tokens "$NEW_TOKENS" --runs 1 --out "$OUT"
    profile "$WORK/dist/$model-$quant"
  done
done
if [ "$GEMV_AB" = 1 ] && [ -n "$AB_MODEL" ]; then
  .venv/bin/webslm bench "$WORK/dist-dlight/$AB_MODEL-$AB_QUANT" $WHERE --engines webllm \
    --contexts "$CONTEXTS" --new-tokens "$NEW_TOKENS" --runs 1 --out "$OUT/dlight-gemv"
  cat "$OUT"/dlight-gemv/*.md
fi
cat "$OUT"/*.md "$OUT"/profile/*.md
"$PY" bench/profile_vs_measured.py "$OUT"
