"""Drive vspreview (the VapourSynth previewer) on a stylize script, as a user would, and check what it shows.

In a fresh process, vspreview's own window (``MainWindow.load_script``, ``switch_frame``, ``switch_output``)
loads the script, seeks to frames 50, 10 and 30 of output 0 (the first seek walks the chain from frame 0: the
progress bar "computing frames 0..50 of the chain" appears on stderr), switches to output 1 and back; each
picture it displays is compared with the frame rendered in order by vspipe's way (a separate process that
requests frames 0, 1, 2 ... and converts them to RGB24 with VapourSynth's resizer). Prints one line per step
and exits with 1 when a picture differs.

Needs a display: run it under a virtual one. Recipe (README, "Previewing with vspreview"):

    apt-get install -y xvfb libpulse0 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 \
        libxcb-image0 libxcb-render-util0 libegl1 libgl1 libfontconfig1 libdbus-1-3
    pip install vspreview==0.20.1 vsjetpack==1.5.0
    xvfb-run -a python scripts/vspreview_check.py script.vpy

Usage: ``python scripts/vspreview_check.py SCRIPT [--frames 50,10,30] [--outputs 0,1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: Largest mean absolute difference (0-255 RGB) between vspreview's picture and the reference conversion (vspreview
#: converts to RGB its own way: 0.2 on bikes.mp4 itself, 1.8 on its stylized frames, whose chroma is busier; another
#: frame of the same clip differs by 49-59).
TOLERANCE = 3.0


def _reference(script: Path, frames: list[int], outputs: list[int], folder: Path) -> dict[str, object]:
    """In this (fresh) process: output ``o``'s frames requested in order 0 .. max(frames), the wanted ones
    converted to RGB24 and saved as ``ref_{o}_{n}.npy``; returns each output's format and frame props."""
    import runpy

    import vapoursynth as vs

    os.chdir(script.parent)
    runpy.run_path(str(script), run_name="__vapoursynth__")
    info: dict[str, object] = {}
    for o in outputs:
        clip = vs.get_output(o)
        clip = clip.clip if isinstance(clip, vs.VideoOutputTuple) else clip
        rgb = vs.core.resize.Bicubic(clip, format=vs.RGB24)
        for n in range(max(frames) + 1):
            f = rgb.get_frame(n)
            if n in frames:
                np.save(folder / f"ref_{o}_{n}.npy", np.stack([np.asarray(f[p]) for p in range(3)], axis=-1))
        props = clip.get_frame(0).props
        info[str(o)] = {"format": clip.format.name, **{k: int(props[k]) for k in ("_Matrix", "_Primaries", "_Transfer")
                                                        if k in props}}
    return info


def _shown(main: object) -> np.ndarray:
    """The picture vspreview displays for its current output, as (H, W, 3) uint8 RGB."""
    from PyQt6.QtGui import QImage

    item = main.current_output.graphics_scene_item  # type: ignore[attr-defined]
    image = item.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def _preview(script: Path, steps: list[tuple[int, int]], folder: Path) -> list[dict[str, object]]:
    """vspreview's window on ``script``: for each ``(output, frame)`` step switch and seek like a user, then
    compare the displayed picture with the reference."""
    from PyQt6.QtWidgets import QApplication
    from vspreview.core.vsenv import set_vsengine_loop
    from vspreview.main import MainWindow

    os.chdir(script.parent)  # as vspreview does: the script's relative paths are from its folder
    app = QApplication([sys.argv[0]])
    set_vsengine_loop()
    main = MainWindow(script.parent, True, False, False)
    main.load_script(script, [], False, 0)
    app.processEvents()
    results = []
    for output, frame in steps:
        t0 = time.perf_counter()
        if main.current_output.index != output:
            main.switch_output(output)
        main.switch_frame(frame)
        app.processEvents()
        seconds = time.perf_counter() - t0
        shown = _shown(main)
        ref = np.load(folder / f"ref_{output}_{frame}.npy")
        diff = float(np.abs(shown.astype(np.float32) - ref).mean()) if shown.shape == ref.shape else float("inf")
        others = [float(np.abs(shown.astype(np.float32) - np.load(p)).mean()) for p in folder.glob(f"ref_{output}_*.npy")
                  if p.name != f"ref_{output}_{frame}.npy"]
        results.append({"output": output, "frame": frame, "shown_frame": int(main.current_output.last_showed_frame),
                        "seconds": round(seconds, 2), "mean_abs_diff": round(diff, 3),
                        "nearest_other_frame_diff": round(min(others), 3) if others else None,
                        "chain_start": main.current_output.props.get("StylizeChainStart")})
    main.hide()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("script", type=Path)
    parser.add_argument("--frames", default="50,10,30")
    parser.add_argument("--outputs", default="0,1")
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    script = args.script.resolve()
    frames = [int(v) for v in args.frames.split(",")]
    outputs = [int(v) for v in args.outputs.split(",")]
    if args.reference:
        print(json.dumps(_reference(script, frames, outputs, args.reference)))
        return 0
    import tempfile

    import vspreview
    import vstools

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        ref = subprocess.run([sys.executable, __file__, str(script), "--frames", args.frames, "--outputs", args.outputs,
                              "--reference", str(folder)], capture_output=True, text=True)
        if ref.returncode != 0:
            print(ref.stderr[-3000:], file=sys.stderr)
            return 1
        print(json.dumps({"reference_in_order_seconds": round(time.perf_counter() - t0, 1),
                          "outputs": json.loads(ref.stdout.splitlines()[-1]), "vspreview": vspreview.__version__,
                          "vstools": getattr(vstools, "__version__", "?"), "display": os.environ.get("DISPLAY")}))
        steps = [(outputs[0], n) for n in frames] + [(o, frames[-1]) for o in outputs[1:]] + [(outputs[0], frames[-1])]
        results = _preview(script, steps, folder)
    ok = True
    for r in results:
        good = r["shown_frame"] == r["frame"] and r["mean_abs_diff"] <= TOLERANCE and (
            r["nearest_other_frame_diff"] is None or r["nearest_other_frame_diff"] > r["mean_abs_diff"])
        ok &= good
        print(json.dumps({**r, "ok": good}))
    print("vspreview check " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
