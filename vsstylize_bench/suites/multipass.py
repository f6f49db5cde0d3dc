"""Multi-pass and long-term consistency, measured on ground-truth sequences (Ruder et al. 2018 Figs. 9, 10).

1. Border contrast (Fig. 10): a ``fast_pan`` sequence (new content enters from one border every frame)
   stylized single-pass (init prevWarped + temporal loss) and multi-pass; per frame, the standard deviation
   in the band entering from the border relative to the image centre (:func:`vsstylize_bench.metrics.border_contrast`,
   1 = as much contrast as the centre) and the short-term temporal error with the exact flow. The raw ratio
   also follows the content (a photo's band can hold a sky while the centre holds a facade), so it is
   printed for the content frames and for per-frame stylization too (``--reference-iterations`` from the
   content image, each frame independent: no drift possible), and each method's ratio is also given
   *relative to per-frame stylization* (method ratio / per-frame ratio, 1 = the border keeps the contrast
   per-frame stylization gives it; :func:`vsstylize_bench.measure.relative_border_contrast`). With
   ``--stationary P`` the background (and the object) is a random-phase texture of the photo without
   structures longer than ``P`` frame pixels (:func:`vsstylize_bench.sources.stationary_texture`), so that
   the content's own band/centre ratio stays near 1 and the raw ratio is meaningful too. ``--band-inset PX``
   measures the band ``PX`` pixels inside the image edge; ``--save FILE.npz`` keeps the frames of every
   method and ``--load FILE.npz`` measures saved frames again (same sequence options) without stylizing.
2. Long-term consistency (Fig. 9): an ``occluder_pass`` sequence (an object covers part of the background
   and leaves) stylized with J = {1} and J = {1, 10, 20, 40}; the long-term error between frames t and t-k
   over the formerly occluded background only (:meth:`vsstylize.train.sequences.Sequence.occluded_between`).

Usage: ``python -m vsstylize_bench multipass [--size 128x96] [--frames 16] [--stationary 12] [--lt-frames 30]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import vapoursynth as vs

import vsstylize
from vsstylize.media.cache import atomic_write
from vsstylize.train.sequences import MAX_SOURCE_SCALE, Sequence, make_sequence
from vsstylize_bench import metrics
from vsstylize_bench.config import DEFAULT_STYLE
from vsstylize_bench.measure import border_band, relative_border_contrast
from vsstylize_bench.runner import clip_array
from vsstylize_bench.sources import default_photos, stationary_texture


def _net(args: argparse.Namespace) -> dict[str, object]:
    """Loss-network options shared by every run."""
    return {"model": args.model, "model_file": args.model_weights, "precision": args.precision}


def _render(clip: vs.VideoNode) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    frames = clip_array(clip)
    return frames, time.perf_counter() - t0


def pan_sequence(args: argparse.Namespace, w: int, h: int) -> Sequence:
    """The ``fast_pan`` sequence; with ``--stationary P`` its background and object are random-phase textures
    of the photos with periods up to ``P`` frame pixels. The texture is made at the size the sequence
    generator resizes the photo to (``source_resized_size`` of a first sequence from the photo: the camera
    path depends on the seed only), where one frame pixel spans ``MAX_SOURCE_SCALE`` texture pixels."""
    kw = {"num_frames": args.frames, "size": (w, h), "seed": args.seed, "long_steps": ()}
    seq = make_sequence("fast_pan", args.image, texture=args.texture, photos=default_photos(), **kw)
    if args.stationary is None:
        return seq
    size = tuple(seq.metadata["params"]["source_resized_size"])
    period = args.stationary * MAX_SOURCE_SCALE
    background = stationary_texture(seq.metadata["image"], size, period, seed=args.seed)
    obj = stationary_texture(seq.metadata["texture"], size, period, seed=args.seed + 1)
    print(f"[border] stationary random-phase textures {size[0]}x{size[1]} of {seq.metadata['image']} (background) "
          f"and {seq.metadata['texture']} (object), periods up to {args.stationary:g} frame px", flush=True)
    return make_sequence("fast_pan", background, texture=obj, **kw)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to the temp name
        np.savez_compressed(f, **{name.replace("-", "_"): a for name, a in arrays.items()})


def _stylize_border(args: argparse.Namespace, style: str, seq: Sequence) -> dict[str, tuple[np.ndarray, float]]:
    """``{method: (frames (T, 3, H, W), seconds)}`` of per-frame, single-pass and multi-pass stylization."""
    clips = seq.to_clips(vs.core)
    clip = clips.frames
    first, later = args.iterations
    # --true-flow: the methods get the exact flow and disocclusion mask instead of DIS flow and its consistency
    # check (DIS can fail on the fine random-phase textures of --stationary)
    single_flow = ({"flows": clips.flow_backward, "reliability": clips.reliability_backward} if args.true_flow else {})
    multi_flow = ({"flows": (clips.flow_backward, clips.flow_forward),
                   "reliability": (clips.reliability_backward, clips.reliability_forward)} if args.true_flow else {})
    runs = {
        "per-frame": vsstylize.stylize(clip, style, num_iterations=args.reference_iterations, init=("image", "image"),
                                       temporal_weight=0.0, tol_loss_relative=0, seed=args.seed, **_net(args)),
        "single-pass": vsstylize.stylize(clip, style, num_iterations=(first, later), init=("image", "prevWarped"),
                                         tol_loss_relative=0, seed=args.seed, **single_flow, **_net(args)),
        "multi-pass": vsstylize.stylize(clip, style, "multipass", num_passes=args.passes,
                                        use_temporal_loss_after=args.temporal_after, blend_weight=args.blend,
                                        num_iterations=args.pass_iterations, init="image",
                                        max_shot_length=max(2, args.frames), tol_loss_relative=0, seed=args.seed,
                                        **multi_flow, **_net(args)),
    }
    w, h = seq.size
    print(f"[border] fast_pan {w}x{h}, {args.frames} frames, background {seq.metadata['image']}; "
          f"per-frame {args.reference_iterations} iterations from the content image; "
          f"single-pass {first},{later} iterations; multi-pass {args.passes} passes x {args.pass_iterations} "
          f"iterations, temporal loss from pass {args.temporal_after}, delta {args.blend}; "
          f"{'exact flow and masks' if args.true_flow else 'DIS flow'} for the methods", flush=True)
    return {name: _render(out) for name, out in runs.items()}


def _load_border(path: Path, seq: Sequence) -> dict[str, tuple[np.ndarray, float]]:
    """Frames saved by ``--save`` (no timings); the content must be the sequence's."""
    with np.load(path) as saved:
        frames = {name.replace("_", "-"): saved[name] for name in saved.files}
    if not np.array_equal(frames.pop("content"), seq.frames):
        raise SystemExit(f"--load {path}: saved with other sequence settings (--size, --frames, --seed, --image, --stationary)")
    print(f"[border] frames loaded from {path}", flush=True)
    return {name: (f, float("nan")) for name, f in frames.items()}


def border_part(args: argparse.Namespace, style: str) -> None:
    w, h = (int(v) for v in args.size.split("x"))
    seq = pan_sequence(args, w, h)
    side, band = border_band(seq)
    inset = args.band_inset
    rendered = _load_border(args.load, seq) if args.load else _stylize_border(args, style, seq)
    if args.save:
        atomic_write(args.save, lambda tmp: _save_npz(tmp, {"content": seq.frames, **{n: f for n, (f, _) in rendered.items()}}))
        print(f"[border] frames (T, 3, H, W) saved to {args.save}", flush=True)
    print(f"[border] new content from the {side}, band {band} px"
          f"{f' starting {inset} px inside the image edge' if inset else ' at the image edge'}", flush=True)
    contrast = {"content": metrics.border_contrast(seq.frames, side, band, inset)}
    for name, (frames, sec) in rendered.items():
        contrast[name] = metrics.border_contrast(frames, side, band, inset)
        err = metrics.temporal_error(frames, seq.flow_backward, seq.mask_backward)
        print(f"[border] {name:11s}: {sec / args.frames:6.2f} s/frame, temporal error {np.nanmean(err):.5f}", flush=True)
    half = args.frames // 2
    relative = relative_border_contrast(contrast, "per-frame")
    for name in ("single-pass", "multi-pass"):
        raw, rel = contrast[name], relative[name]
        print(f"[border] {name:11s}: border/centre std first {raw[0]:.3f} last {raw[-1]:.3f}, mean over the last half "
              f"{np.mean(raw[half:]):.3f}, range {raw.min():.3f}-{raw.max():.3f}, frames within 10 % of the centre "
              f"{np.mean(np.abs(raw - 1) <= 0.1):.0%}; relative to per-frame: mean over the first half "
              f"{np.mean(rel[:half]):.3f}, last half {np.mean(rel[half:]):.3f}, frames within 10 % "
              f"{np.mean(np.abs(rel - 1) <= 0.1):.0%}", flush=True)
    print("[border] per frame, border/centre std (" + " | ".join(contrast) + ") and relative to "
          "per-frame (single-pass | multi-pass):")
    for t in range(args.frames):
        print(f"[border] t={t:3d}: " + " | ".join(f"{contrast[n][t]:.3f}" for n in contrast) + "  rel: "
              + " | ".join(f"{relative[n][t]:.3f}" for n in ("single-pass", "multi-pass")))


def longterm_part(args: argparse.Namespace, style: str) -> None:
    w, h = (int(v) for v in args.lt_size.split("x"))
    seq = make_sequence("occluder_pass", args.image, num_frames=args.lt_frames, size=(w, h), seed=args.seed,
                        texture=args.texture, photos=default_photos())
    clip = seq.to_clips(vs.core).frames
    first, later = args.iterations
    print(f"[long-term] occluder_pass {w}x{h}, {args.lt_frames} frames, iterations {first},{later}", flush=True)
    errors: dict[str, dict[int, float]] = {}
    for name, js in (("J={1}", (1,)), ("J={1,10,20,40}", (1, 10, 20, 40))):
        out = vsstylize.stylize(clip, style, num_iterations=(first, later), init=("image", "prevWarped"),
                                flow_relative_indices=js, tol_loss_relative=0, seed=args.seed, **_net(args))
        frames, sec = _render(out)
        parts, errors[name] = [], {}
        for k in (k for k in (5, 10) if k in seq.long_flows):
            region = np.stack([np.zeros((h, w), bool)] * k
                              + [seq.occluded_between(t, k) for t in range(k, seq.num_frames)])
            err = metrics.long_term_error(frames, seq.long_flows[k], seq.long_masks[k], k, region=region)
            errors[name][k] = float(np.nanmean(err))
            parts.append(f"k={k}: {errors[name][k]:.5f} ({int(region.sum())} px-frames)")
        short = np.nanmean(metrics.temporal_error(frames, seq.flow_backward, seq.mask_backward))
        print(f"[long-term] {name:15s}: {sec / args.lt_frames:6.2f} s/frame, short-term {short:.5f}, "
              f"long-term error over the formerly occluded background: {'; '.join(parts)}", flush=True)
    short_j, long_j = errors.values()
    print("[long-term] J={1} / J={1,10,20,40}: " + "; ".join(f"k={k}: {short_j[k] / long_j[k]:.2f}x" for k in short_j),
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", default=str(DEFAULT_STYLE))
    parser.add_argument("--image", default=None, help="background photo (default: drawn from $VSSTYLIZE_SHARED's photos)")
    parser.add_argument("--texture", default=None, help="photo the foreground object is cut from")
    parser.add_argument("--stationary", type=float, default=None, metavar="P",
                        help="border part: random-phase textures of the photos, periods up to P frame pixels")
    parser.add_argument("--band-inset", type=int, default=0, metavar="PX",
                        help="border part: measure the band PX pixels inside the image edge (default 0: at the edge)")
    parser.add_argument("--save", type=Path, default=None, metavar="FILE.npz",
                        help="border part: save the content and stylized frames (T, 3, H, W) of every method")
    parser.add_argument("--load", type=Path, default=None, metavar="FILE.npz",
                        help="border part: measure frames saved with --save instead of stylizing (same sequence options)")
    parser.add_argument("--true-flow", action="store_true",
                        help="border part: the methods get the exact flow and masks instead of DIS flow")
    parser.add_argument("--model", default="vgg19")
    parser.add_argument("--model-weights", default=None, help="loss-network weights (name or file)")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="128x96")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--iterations", default="60,20", help="single-pass first,later")
    parser.add_argument("--passes", type=int, default=6)
    parser.add_argument("--temporal-after", type=int, default=4)
    parser.add_argument("--blend", type=float, default=0.5)
    parser.add_argument("--pass-iterations", type=int, default=20)
    parser.add_argument("--reference-iterations", type=int, default=60, help="per-frame reference iterations")
    parser.add_argument("--lt-size", default="96x72")
    parser.add_argument("--lt-frames", type=int, default=30)
    parser.add_argument("--parts", default="border,longterm")
    args = parser.parse_args()
    args.iterations = tuple(int(v) for v in args.iterations.split(","))
    warnings.filterwarnings("ignore", category=UserWarning)
    t0 = time.perf_counter()
    if "border" in args.parts:
        border_part(args, args.style)
    if "longterm" in args.parts:
        longterm_part(args, args.style)
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
