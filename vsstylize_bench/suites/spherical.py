"""Spherical images and videos with the optimization method (Ruder et al. 2018 sec. 8, appendix A.9).

``still``: petra_equirect.jpg stylized on the cube map three ways — six independent faces (Table 6's
baseline), border consistency by the temporal-loss constraint alone, and constraint + feathered blend
(the default) — with E_gradient at the cube edges of the stitched equirectangular image (2 px) and at the
inner edges of the border priors in the faces (4 px); a stitched PNG and a cube-face contact sheet.

``video``: the photo under a camera yaw (exact per-face flow): the spherical video method against the
same optimization on the planar front-face video (same settings, same exact flow): temporal error, and
E_gradient at the cube edges per frame (Table 7).

``network``: the same still with prior-image networks (sec. 6, Table 6's columns): per model (``--network``,
repeatable: video-trained models, or ``arbitrary-prior`` with ``--style``; ``--network-ft``: fine-tuned on border
samples, sec. 6.2) independent faces,
border priors as the network's prior input, and border priors + feathered blend; one set per face geometry
(``--face-size``/``--overlap``), written to ``network.md``.

Numbers and PNGs go to ``--out`` (``README.md``, ``results.json``; written atomically).
Run with ``nice -n 10``: ``python -m vsstylize_bench spherical --part still`` then ``--part video``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import vapoursynth as vs
from PIL import Image

import vsstylize
from vsstylize.media.cache import atomic_write
from vsstylize.media.frames import frame_to_tensor
from vsstylize.methods.spherical import face_clip
from vsstylize.resources import shipped_styles
from vsstylize.spherical.projection import (
    CubeGeometry,
    faces_to_equirect,
    strip_to_faces,
)
from vsstylize.weights import TEMPORAL
from vsstylize_bench.machine import machine as _machine
from vsstylize_bench.metrics import temporal_error
from vsstylize_bench.seams import (
    cube_edge_e_gradient,
    face_cut_e_gradient,
    prior_edge_e_gradient,
)
from vsstylize_bench.sources import shared_file
from vsstylize_bench.spherical_video import array_clip, yaw_sequence

#: (name, stylize options) of the network part, run for every model.
NETWORK_MODES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("independent faces", {"border_consistency": False}),
    ("border priors", {"border_blend": False}),
    ("border priors + blend", {}),
)

STILL_MODES: dict[str, dict[str, Any]] = {
    "independent": {"border_consistency": False},
    "border constraint": {"border_consistency": True, "border_blend": False, "border_feather": 0},
    "border constraint + blend": {"border_consistency": True},
}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _equirect(path: Path, height: int) -> np.ndarray:
    """(3, H, 2H) float32 RGB in [0, 1], shrunk with antialiasing."""
    with Image.open(path) as im:
        img = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return F.interpolate(img, size=(height, 2 * height), mode="bilinear", antialias=True)[0].numpy()


def _faces(clip: vs.VideoNode, n: int) -> torch.Tensor:
    """(6, 3, S, S) faces of frame ``n`` of a cube strip clip."""
    return strip_to_faces(frame_to_tensor(clip.get_frame(n)))[0].contiguous()


def _to_png(img: torch.Tensor) -> Image.Image:
    return Image.fromarray((img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))


def _save_png(image: Image.Image, path: Path) -> None:
    """A 256-colour PNG (small files for the repository), written atomically."""
    small = image.quantize(256, method=Image.Quantize.MEDIANCUT)
    atomic_write(path, lambda p: small.save(p, format="PNG", optimize=True))


def _stack(images: list[Image.Image], gap: int = 4) -> Image.Image:
    w = max(i.width for i in images)
    out = Image.new("RGB", (w, sum(i.height for i in images) + gap * (len(images) - 1)), "white")
    y = 0
    for img in images:
        out.paste(img, (0, y))
        y += img.height + gap
    return out


def _row(faces: torch.Tensor, gap: int = 4) -> Image.Image:
    return _hstack([_to_png(f) for f in faces], gap)


def _hstack(images: list[Image.Image], gap: int = 4) -> Image.Image:
    out = Image.new("RGB", (sum(i.width for i in images) + gap * (len(images) - 1), max(i.height for i in images)), "white")
    x = 0
    for img in images:
        out.paste(img, (x, 0))
        x += img.width + gap
    return out


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {"model": args.model, "tol_loss_relative": 0, "face_size": args.face_size, "overlap": args.overlap,
            "cube_output": True, "seed": 0}


def _measure_still(args: argparse.Namespace, geom: CubeGeometry, height: int,
                   runs: list[tuple[str, Callable[[vs.VideoNode], vs.VideoNode]]], label: str, png: str) -> dict[str, Any]:
    """E_gradient of the content and of each ``(name, clip -> stylized cube strip)`` run on the still;
    ``{png}_stitched.png`` and ``{png}_cube_faces.png`` (none when ``png`` is empty)."""
    content = _equirect(args.image, height)
    clip = array_clip([content])
    results: dict[str, Any] = {}
    rows, stitched = [], [_to_png(torch.from_numpy(content))]
    content_faces = _faces(vsstylize.equirect_to_cube(clip, face_size=geom.face_size, overlap=geom.overlap), 0)
    results["content"] = {"e_gradient_cube_edges": cube_edge_e_gradient(faces_to_equirect(content_faces[None], geom, height)[0]),
                          "e_gradient_cut_edges_face_planes": face_cut_e_gradient(content_faces, geom)}
    for name, make in runs:
        t0 = time.perf_counter()
        faces = _faces(make(clip), 0)
        seconds = time.perf_counter() - t0
        equi = faces_to_equirect(faces[None], geom, height)[0]
        results[name] = {"e_gradient_cube_edges": cube_edge_e_gradient(equi),
                         "e_gradient_cut_edges_face_planes": face_cut_e_gradient(faces, geom),
                         "e_gradient_prior_inner_edges": prior_edge_e_gradient(faces, geom),
                         "seconds": seconds}
        _log(f"{label} {name}: {results[name]}")
        rows.append(_row(faces))
        stitched.append(_to_png(equi))
    if png:
        _save_png(_stack(stitched), args.out / f"{png}_stitched.png")
        _save_png(_stack(rows), args.out / f"{png}_cube_faces.png")
    return results


def run_still(args: argparse.Namespace, geom: CubeGeometry, height: int) -> dict[str, Any]:
    runs = [(name, lambda clip, mode=mode: vsstylize.stylize(
        clip, str(args.style), projection="equirect", num_iterations=args.iterations, init="image", **mode, **_common(args)))
        for name, mode in STILL_MODES.items()]
    return _measure_still(args, geom, height, runs, "still", "petra")


def run_network(args: argparse.Namespace, geom: CubeGeometry, height: int) -> dict[str, Any]:
    """The still with the prior-image networks, :data:`NETWORK_MODES` per model (one forward pass per face)."""
    models = [*(args.network or ["starry_night-prior"]), args.network_ft]
    runs = [(f"{model}: {name}", lambda clip, model=model, mode=mode: vsstylize.stylize(
        clip, str(args.style) if model in TEMPORAL else None, method="network", projection="equirect", network=model,
        face_size=geom.face_size, overlap=geom.overlap, cube_output=True, **mode))
        for model in models for name, mode in NETWORK_MODES]
    png = f"petra_network_{geom.face_size}+{geom.overlap}" if args.pngs else ""
    results = _measure_still(args, geom, height, runs, "network", png)
    return {"models": {"video": models[:-1], "fine_tuned": args.network_ft}, "pngs": bool(args.pngs), **results}


def run_video(args: argparse.Namespace, geom: CubeGeometry, height: int) -> dict[str, Any]:
    seq = yaw_sequence(_equirect(args.image, height), args.frames, args.shift, geom)
    flows, weights = seq.flow_clips()
    its = (args.iterations, args.later_iterations)
    settings = {"num_iterations": its, "init": ("image", "prevWarped"), "model": args.model,
                "tol_loss_relative": 0, "seed": 0}
    t0 = time.perf_counter()
    cube = vsstylize.stylize(seq.clip(), str(args.style), projection="equirect", flows=flows, reliability=weights,
                             face_size=geom.face_size, overlap=geom.overlap, cube_output=True, **settings)
    faces = torch.stack([_faces(cube, n) for n in range(args.frames)])  # (T, 6, 3, S, S)
    sph_seconds = time.perf_counter() - t0
    flow = seq.face_flow[None].expand(args.frames, -1, -1, -1, -1)
    valid = seq.face_valid[None, :, 0].expand(args.frames, -1, -1, -1)
    per_face = np.stack([temporal_error(faces[:, k], flow[:, k], valid[:, k]) for k in range(6)])  # (6, T-1)
    e_grad = [cube_edge_e_gradient(faces_to_equirect(faces[n:n + 1], geom, height)[0]) for n in range(args.frames)]
    e_grad_planes = [face_cut_e_gradient(faces[n], geom) for n in range(args.frames)]
    # planar reference: the front face as an ordinary video, same settings and exact flow
    t0 = time.perf_counter()
    front = face_clip(vsstylize.equirect_to_cube(seq.clip(), face_size=geom.face_size, overlap=geom.overlap), 0)
    planar = vsstylize.stylize(front, str(args.style), flows=face_clip(flows, 0), reliability=face_clip(weights, 0),
                               **settings)
    planar_frames = torch.stack([frame_to_tensor(planar.get_frame(n))[0] for n in range(args.frames)])
    planar_seconds = time.perf_counter() - t0
    planar_err = temporal_error(planar_frames, flow[:, 0], valid[:, 0])
    _save_png(_stack([_hstack([_to_png(faces_to_equirect(faces[n:n + 1], geom, height)[0]) for n in (0, args.frames - 1)]),
                      _hstack([_to_png(f) for f in planar_frames[[0, -1]]] + [_to_png(faces[-1, 0])])]),
              args.out / "yaw_video.png")
    return {
        "frames": args.frames, "shift_px_per_frame": args.shift, "yaw_deg_per_frame": math.degrees(seq.angle),
        "temporal_error_spherical_per_frame": per_face.mean(0).tolist(),
        "temporal_error_spherical_mean": float(per_face.mean()),
        "temporal_error_spherical_per_face": dict(zip("FRBLUD", per_face.mean(1).tolist())),
        "temporal_error_spherical_front_face": float(per_face[0].mean()),
        "temporal_error_planar_front_face": float(np.mean(planar_err)),
        "temporal_error_planar_per_frame": planar_err.tolist(),
        "e_gradient_cube_edges_per_frame": e_grad,
        "e_gradient_cut_edges_face_planes_per_frame": e_grad_planes,
        "seconds_spherical": sph_seconds, "seconds_planar": planar_seconds,
    }


def _fmt_still(still: dict[str, Any], seconds_digits: int = 0) -> list[str]:
    head = ("| faces | E_gradient cut edges, face planes (2 px) | E_gradient cube edges, equirectangular (2 px) | "
            "E_gradient prior inner edges (4 px) | seconds |")
    lines = [head, "|---|---|---|---|---|"]
    for name, r in still.items():
        inner = r.get("e_gradient_prior_inner_edges")
        lines.append(f"| {name} | {r['e_gradient_cut_edges_face_planes']:.3f} | {r['e_gradient_cube_edges']:.3f} | "
                     f"{'' if inner is None else f'{inner:.3f}'} | {r.get('seconds', 0):.{seconds_digits}f} |")
    return lines


def _fmt_video(v: dict[str, Any]) -> list[str]:
    frames = " | ".join(f"#{n}" for n in range(v["frames"]))
    return [
        f"{v['frames']} frames, yaw {v['yaw_deg_per_frame']:.2f} degrees ({v['shift_px_per_frame']} px) per frame, exact flow.",
        "",
        "| temporal error (MSE, [0,1] pixels, non-disoccluded) | value |", "|---|---|",
        f"| spherical, mean over the 6 faces | {v['temporal_error_spherical_mean']:.5f} |",
        f"| spherical, front face | {v['temporal_error_spherical_front_face']:.5f} |",
        f"| planar video of the front face, same settings | {v['temporal_error_planar_front_face']:.5f} |",
        "",
        "per face: " + ", ".join(f"{k} {e:.5f}" for k, e in v["temporal_error_spherical_per_face"].items()),
        "",
        f"| frame | {frames} |", "|---" * (v["frames"] + 1) + "|",
        "| E_gradient cut edges, face planes | "
        + " | ".join(f"{e:.3f}" for e in v.get("e_gradient_cut_edges_face_planes_per_frame", [])) + " |",
        "| E_gradient cube edges, equirectangular | "
        + " | ".join(f"{e:.3f}" for e in v["e_gradient_cube_edges_per_frame"]) + " |",
        "",
        f"Run time: spherical {v['seconds_spherical']:.0f} s, planar front face {v['seconds_planar']:.0f} s.",
    ]


def _fmt_network(key: str, r: dict[str, Any]) -> list[str]:
    face, overlap = key.split("_", 1)[1].split("+")
    rows = {k: v for k, v in r.items() if isinstance(v, dict) and "e_gradient_cube_edges" in v}
    sheets = ((f"`petra_network_{face}+{overlap}_stitched.png`: content, then the stitched results (order of the table). "
               f"`petra_network_{face}+{overlap}_cube_faces.png`: the six extended faces (F R B L U D) of each mode.")
              if r.get("pngs", True) else "")
    return [f"## Faces {face} px + {overlap} px overlap (equirectangular {2 * r['height']}x{r['height']})", "",
            (f"Models: {', '.join(f'`{m}`' for m in r['models']['video'])} (video-trained), `{r['models']['fine_tuned']}` "
            "(fine-tuned on border samples)."),
            "", *_fmt_still(rows, seconds_digits=2), "", sheets, ""]


def write_network_report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """``network.md``: every ``network_<face>+<overlap>`` part of ``results``."""
    networks = sorted(k for k in results if k.startswith("network_"))
    text = ["# Spherical image with the prior-image network (Ruder et al. 2018 sec. 6.1-6.2, Table 6)", "",
            *(f"Command ({k}): `nice -n 10 {results['commands'][k]}`" for k in networks if k in results.get("commands", {})),
            "",
            ("petra_equirect.jpg, style of the models (starry_night.jpg). One forward pass per face, faces in the order "
             "F R B L U D; with border priors each face's prior input is its stylized neighbours reprojected into its "
             "plane (eq. 22), mask feathered over overlap / 2 px; `+ blend`: the face is then blended with its prior by "
             "the mask (as the optimization rows of `README.md`). E_gradient (appendix A.9, eq. 23; 1 = the image's "
             "average gradient) at the cut edges in the face planes (2 px), at the cube edges of the stitched "
             "equirectangular image (2 px; raised by the cube map's change of scale for any texture, see `content`), and "
             "at the inner edges of the border priors in the faces (4 px). Equirectangular height pi s / 2."), ""]
    for k in networks:
        text += _fmt_network(k, results[k])
    if (args.out / "finetune.md").is_file():
        text += ["## Fine-tuning", "", (args.out / "finetune.md").read_text().strip(), ""]
    text += ["## Machine", "", *(f"- {k}: {v}" for k, v in results["machine"].items()), ""]
    atomic_write(args.out / "network.md", lambda p: p.write_text("\n".join(text)))
    atomic_write(args.out / "results.json", lambda p: p.write_text(json.dumps(results, indent=1)))


def write_report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    text = ["# Spherical images and videos: optimization method (Ruder et al. 2018 sec. 8)", "",
            *(f"Command ({part}): `nice -n 10 {cmd}`" for part, cmd in results["commands"].items()), "",
            (f"Settings: style {args.style.name}, loss network {args.model}, faces {args.face_size} px + {args.overlap} px "
            f"overlap ({args.face_size + 2 * args.overlap} px optimised), equirectangular {2 * results['height']}x"
            f"{results['height']} (pi s / 2 high), L-BFGS, artistic-videos weights (content 5, style 100, temporal/border 1e3), "
            "init from the content."), ""]
    if "still" in results:
        text += ["## Spherical image (petra_equirect.jpg)", "",
                 (f"{args.iterations} iterations per face. E_gradient = appendix A.9 eq. 23 (1 = the region has the image's "
                 "average gradient). Cut edges in the face planes: each extended face shows its inner square and, in its "
                 "margin, the owning neighbours reprojected (what a viewer of the stitched sphere sees), measured at the "
                 "inner square's border; the same on the stitched equirectangular image, where the cube map's own change "
                 "of scale (a face pixel at a cube edge spans half the angle of one at the centre) raises the gradients "
                 "of any face-sized texture near the edges, the unstylized photo included. Prior inner edges in the "
                 "stylized faces. `content` = the unstylized photo through the same projection (below 1 in the face planes: "
                 "the reprojected margin is bilinearly resampled, a little softer than the inner square)."), "",
        *_fmt_still(results["still"]), "",
                 ("`petra_stitched.png`: content, then the three stitched results (top to bottom, order of the table). "
                 "`petra_cube_faces.png`: the six extended faces (F R B L U D) of each mode."), ""]
    if any(k.startswith("network_") for k in results):
        text += ["## Prior-image network", "", ("The same still with the prior-image network, video-trained and "
                 "fine-tuned on border samples (sec. 6.2): `network.md`."), ""]
    if "video" in results:
        text += ["## Spherical video (camera yaw over petra_equirect.jpg)", "",
                 (f"Iterations {args.iterations} (first frame) / {args.later_iterations} (later frames), init image / "
                 "prevWarped, temporal loss along the exact per-face flow, border constraint + blend."), "",
                 *_fmt_video(results["video"]), "",
                 ("`yaw_video.png`: stitched first and last frame; below, planar front face first/last and the "
                 "spherical front face of the last frame."), ""]
    text += ["## Machine", "", *(f"- {k}: {v}" for k, v in results["machine"].items()), ""]
    atomic_write(args.out / "README.md", lambda p: p.write_text("\n".join(text)))
    atomic_write(args.out / "results.json", lambda p: p.write_text(json.dumps(results, indent=1)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["still", "video", "both", "network"], default="both",
                   help="network: the still with the prior-image networks (--network, --network-ft)")
    p.add_argument("--image", type=Path, default=shared_file("360/petra_equirect.jpg"),
                   help="equirectangular photo (default petra_equirect.jpg of $VSSTYLIZE_SHARED)")
    p.add_argument("--style", type=Path, default=shipped_styles()["starry_night"])
    p.add_argument("--model", default="vgg16")
    p.add_argument("--face-size", type=int, default=80)
    p.add_argument("--overlap", type=int, default=10)
    p.add_argument("--iterations", type=int, default=80, help="per face (video: first frame)")
    p.add_argument("--later-iterations", type=int, default=30, help="video: later frames")
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--shift", type=int, default=2, help="video: equirectangular columns per frame")
    p.add_argument("--network", action="append",
                   help="network part: video-trained prior-image model (repeat; default starry_night-prior)")
    p.add_argument("--network-ft", default="starry_night-prior-cube",
                   help="network part: the model fine-tuned on border samples")
    p.add_argument("--no-pngs", dest="pngs", action="store_false", help="network part: numbers only")
    p.add_argument("--out", type=Path, default=Path("bench/spherical"))
    args = p.parse_args(argv)
    command = "python -m vsstylize_bench spherical " + " ".join(argv if argv is not None else sys.argv[1:])
    geom = CubeGeometry(args.face_size, args.overlap)
    height = 2 * round(math.pi * args.face_size / 4)
    previous = args.out / "results.json"
    results: dict[str, Any] = json.loads(previous.read_text()) if previous.is_file() else {}
    part = f"network_{args.face_size}+{args.overlap}" if args.part == "network" else args.part
    results.setdefault("commands", {})[part] = command
    if args.part == "network":  # its own report; the optimization parts' settings stay as they were run
        results.setdefault("machine", _machine())
        results[part] = {"height": height, **run_network(args, geom, height)}
        write_network_report(args, results)
        print((args.out / "network.md").read_text())
        return 0
    results.update({"height": height, "machine": _machine()})
    if args.part in ("still", "both"):
        results["still"] = run_still(args, geom, height)
        write_report(args, results)
    if args.part in ("video", "both"):
        results["video"] = run_video(args, geom, height)
        write_report(args, results)
    print((args.out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
