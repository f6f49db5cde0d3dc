#!/usr/bin/env bash
# One prepared device run for the GPU fast path (issue 16), <= 9 minutes on an H100/H200:
#   python scripts/gpu_kit.py            # here, once: .gpukit/ (wheels, float16 VGG-16 and RAFT, photos)
#   run(command="bash scripts/gpu_run_network.sh", carry=[".gpukit"], timeout_s=600)
# Installs the kit's wheels into a temporary folder, then runs scripts/bench_gpu_network.py (the networks alone per
# precision, end to end through VapourSynth at 1024x436 and 1920x1080, the stage profile of one 1080p frame, flow
# quality) and tars report and results into $OUT. PYTHON and OUT may be set; SIZES, FRAMES and PARTS shorten a
# rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-out/gpu-network}
KIT=.gpukit
site=$(mktemp -d)
"$PYTHON" -m pip install -q --no-deps --no-index --find-links "$KIT/wheels" --target "$site" vapoursynth flow-vis platformdirs
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1
export VSSTYLIZE_MODELS="$PWD/$KIT/models" VSSTYLIZE_SHARED=""
mkdir -p "$OUT/gpu-network"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; } > "$OUT/gpu-network/gpu.txt"
timeout 520 "$PYTHON" scripts/bench_gpu_network.py --out "$OUT/gpu-network" --photos "$KIT/photos" \
  --loss-weights "$KIT/models/vgg16-caffe-fp16.safetensors" --raft raft-sintel \
  --sizes "${SIZES:-1024x436,1920x1080}" --frames "${FRAMES:-60}" --parts "${PARTS:-forward,e2e,profile,quality}" \
  2>&1 | tee "$OUT/gpu-network/log.txt"
tar -czf "$OUT/gpu-network.tar.gz" -C "$OUT" gpu-network
