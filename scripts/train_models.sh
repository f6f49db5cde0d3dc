#!/bin/bash
# Trains the shipped models (models/*.safetensors) one after another; logs in bench/networks/.
# Usage: scripts/train_models.sh [ITERATIONS]   (resumes each model from its checkpoint)
set -e
cd "$(dirname "$0")/.."
S=${SHARED:-../shared}/data
ITS=${1:-600}
run() { # name arch style extra...
  local name=$1 arch=$2 style=$3; shift 3
  /usr/bin/time -v .venv/bin/python -m vsstylize train --arch "$arch" --style "$S/styles/$style.jpg" \
    --data "$S/content" --data "$S/videos" -o "models/$name" --size 128 --content-weight 2 --style-weight 10 \
    --tv-weight 1e-4 --checkpoint-every 50 --iterations "$ITS" --quiet "$@" >> "bench/networks/train-$name.log" 2>&1
}
run starry_night-flowfree huang-res48 starry_night --batch-size 2 --temporal-weight 100
run starry_night-prior ruder-prior-48 starry_night --batch-size 4 --temporal-weight 50
run the_scream-flowfree huang-res48 the_scream --batch-size 2 --temporal-weight 100
run the_scream-prior ruder-prior-48 the_scream --batch-size 4 --temporal-weight 50
