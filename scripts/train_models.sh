#!/bin/bash
# Trains the shipped models (models/*.safetensors) on this machine (the 2-core CPU recipe); logs in
# bench/networks/.
#   stage 1: Starry Night networks from scratch (temporal weight 100 / 50) -> build/models-stage1/
#   stage 2: fine-tuned with a 30x stronger temporal weight (stage 1 learnt to ignore the prior), and
#            The Scream networks fine-tuned from the Starry Night stage-1 networks -> vsstylize/$M/
#   stage 3: the per-frame image networks (johnson-48, no temporal loss: the papers' baseline)
#   stage 4: starry_night-prior, the prior-image network started from the image network (Ruder eq. 17's
#            pre-trained image network; its prior weights start at zero) and fine-tuned with the temporal loss
#            (bench/networks/prior-from-image.md: temporal weight 1500 / 2200 / 3000 and 300 / 450 iterations
#            trade flicker against style loss). The stage-2 Starry Night prior network stays in
#            build/models-stage2/; the_scream-prior is still the stage-2 recipe.
#   stage 5: the temporal variants of the arbitrary network (issue 28, vsstylize.train.arbitrary):
#            models/temporal/arbitrary-prior (the prior head, 2 -> 3 -> 5 frames) and arbitrary-flowfree (the
#            transformer's convolutions, Huang's two-frame loss), over the four shared paintings and nine of Magenta's
#            examples (Camille_Mauclair and towers_1916_sq held out for the benchmark); logs in bench/temporal-arbitrary/
# Usage: scripts/train_models.sh [STAGE1_ITERATIONS] [STAGE2_ITERATIONS] [SCREAM_ITERATIONS] [IMAGE_ITERATIONS]
#        [PRIOR_FROM_IMAGE_ITERATIONS] [ARBITRARY_PRIOR_ITERATIONS] [ARBITRARY_FLOWFREE_ITERATIONS]
#        (each run resumes from its checkpoint; ONLY="name ..." trains just those outputs, e.g.
#        ONLY="starry_night-image")
set -e
cd "$(dirname "$0")/.."
S=${SHARED:-../shared}/data
M=models
IT1=${1:-600}
IT2=${2:-300}
IT3=${3:-200}
IT4=${4:-600}
IT5=${5:-300}
IT6=${6:-2400}
IT7=${7:-1000}
run() { # out arch style iterations extra...
  local out=$1 arch=$2 style=$3 its=$4; shift 4
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $(basename "$out") "* ]]; then return; fi
  /usr/bin/time -v .venv/bin/python -m vsstylize train --arch "$arch" --style "$S/styles/$style.jpg" \
    --data "$S/content" --data "$S/videos" -o "$out" --size 128 --content-weight 2 --style-weight 10 \
    --tv-weight 1e-4 --checkpoint-every 50 --iterations "$its" --quiet "$@" >> "bench/networks/train-$(basename "$out").log" 2>&1
}
ST1=build/models-stage1
run $ST1/starry_night-flowfree huang-res48 starry_night "$IT1" --batch-size 2 --temporal-weight 100
run $ST1/starry_night-prior ruder-prior-48 starry_night "$IT1" --batch-size 4 --temporal-weight 50
run $M/starry_night-flowfree huang-res48 starry_night "$IT2" --batch-size 2 --temporal-weight 1500 \
  --init-from $ST1/starry_night-flowfree
ST2=build/models-stage2
run $ST2/starry_night-prior ruder-prior-48 starry_night "$IT2" --batch-size 4 --temporal-weight 1500 \
  --init-from $ST1/starry_night-prior
run $M/the_scream-flowfree huang-res48 the_scream "$IT3" --batch-size 2 --temporal-weight 1500 \
  --init-from $ST1/starry_night-flowfree
run $M/the_scream-prior ruder-prior-48 the_scream "$IT3" --batch-size 4 --temporal-weight 1500 \
  --init-from $ST1/starry_night-prior
for style in starry_night the_scream; do
  run $M/$style-image johnson-48 $style "$IT4" --batch-size 4 --temporal-weight 0
done
run $M/starry_night-prior ruder-prior-48 starry_night "$IT5" --batch-size 4 --temporal-weight 2200 \
  --init-from $M/starry_night-image
# stage 5 (each a single CPU thread, so both run side by side on the 2 cores)
PAINTINGS=()
for p in starry_night the_scream shipwreck woman-with-hat-matisse; do PAINTINGS+=(--style "$S/styles/$p.jpg"); done
for p in La_forma Theo_van_Doesburg_sq black_zigzag bricks_sq clouds-over-bor-1940_sq piano-keyboard-sketch_sq \
         pink_zigzag red_texture_sq zigzag_colorful; do PAINTINGS+=(--style "$S/styles/magenta/$p.jpg"); done
arbitrary() { # variant iterations extra...
  local variant=$1 its=$2; shift 2
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" arbitrary-$variant "* ]]; then return; fi
  .venv/bin/python -m vsstylize.train.arbitrary "$variant" "${PAINTINGS[@]}" --data "$S/content" --data "$S/videos" \
    -o "$M/temporal/arbitrary-$variant.safetensors" --size 192 --iterations "$its" --threads 1 --quiet "$@" \
    >> "bench/temporal-arbitrary/train-arbitrary-$variant.log" 2>&1
}
mkdir -p bench/temporal-arbitrary
arbitrary prior "$IT6" --learning-rate 5e-4 --temporal-weight 3 &
arbitrary flowfree "$IT7" --learning-rate 5e-5 --temporal-weight 15 --distill l1 --texture-weight 3 &
wait
