"""The encoder end of ``vsstylize run``: frames piped to an encoder process with the colour tags their frame
properties carry, written atomically, and the contact sheet made from the frames the encoder received.

The encoder reads raw ``yuv420p`` (8-bit 4:2:0, planes Y, U, V) on its standard input. The default is the
ffmpeg binary of imageio-ffmpeg with libx264; ``--encoder`` takes any command line with placeholders
(:data:`PLACEHOLDERS`). The colour tags come from the first frame's ``_Matrix``, ``_Primaries``, ``_Transfer``
and ``_Range`` (ITU-T H.273 codes, which VapourSynth, ffmpeg and x265 share), written with the names that
ffmpeg's ``-colorspace/-color_primaries/-color_trc/-color_range`` and x265's ``--colormatrix/--colorprim/
--transfer/--range`` both accept.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import string
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np
import vapoursynth as vs
from tqdm import tqdm

from .interrupt import Interrupted, check_interrupt, deferred_signals, interrupted, stop_frames, stop_signal

__all__ = ["PLACEHOLDERS", "ColourTags", "ContactSheet", "EncoderError", "check_encoder", "check_frame_size",
           "encoder_command", "frame_tile", "render"]

#: The format the encoder reads (raw ``yuv420p``).
ENCODER_FORMAT = vs.YUV420P8

#: H.273 code -> name, as ffmpeg and x265 spell them ("unknown" = unspecified).
MATRIX_NAMES = {1: "bt709", 2: "unknown", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
                9: "bt2020nc", 10: "bt2020c", 12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp"}
PRIMARIES_NAMES = {1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
                   9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432"}
TRANSFER_NAMES = {1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "linear",
                  9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10",
                  15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}

#: The x265 program's coding tree unit without ``--ctu`` (pixels): the smallest picture it encodes.
X265_DEFAULT_CTU = 64

#: Placeholders of an ``--encoder`` command line.
PLACEHOLDERS = ("output", "width", "height", "fps", "matrix", "primaries", "transfer", "range")


class EncoderError(Exception):
    """The encoder cannot write the output (bad output name, settings, missing program, failure): one line."""


@dataclass(frozen=True)
class ColourTags:
    """The colour description of encoded frames, as encoder option values.

    :ivar matrix: ``bt709``, ``smpte170m`` ... (:data:`MATRIX_NAMES`), ``unknown`` when unspecified.
    :ivar primaries: :data:`PRIMARIES_NAMES`.
    :ivar transfer: :data:`TRANSFER_NAMES`.
    :ivar range: ``limited`` or ``full``.
    """

    matrix: str = "unknown"
    primaries: str = "unknown"
    transfer: str = "unknown"
    range: str = "limited"

    @classmethod
    def of(cls, props: Mapping[str, object]) -> ColourTags:
        """The tags of a YUV frame's properties (``_Matrix``, ``_Primaries``, ``_Transfer``, ``_Range`` or, on
        VapourSynth before R75, ``_ColorRange``); codes without a name become ``unknown``."""
        def name(table: dict[int, str], key: str) -> str:
            value = props.get(key)
            return table.get(int(value), "unknown") if isinstance(value, int) else "unknown"

        key = "_Range" if "_Range" in props else "_ColorRange" if "_ColorRange" in props else None
        full = key is not None and props[key] == vs.RANGE_FULL
        return cls(name(MATRIX_NAMES, "_Matrix"), name(PRIMARIES_NAMES, "_Primaries"),
                   name(TRANSFER_NAMES, "_Transfer"), "full" if full else "limited")

    def ffmpeg_input_options(self) -> list[str]:
        """ffmpeg options that describe raw input frames (given before ``-i``, so that they reach the encoder
        and the container); unspecified ones are left out."""
        pairs = [("-colorspace", self.matrix), ("-color_primaries", self.primaries), ("-color_trc", self.transfer),
                 ("-color_range", self.range)]
        return [part for flag, value in pairs if value != "unknown" for part in (flag, value)]


def _ffmpeg_command(output: Path, width: int, height: int, fps: Fraction, crf: int, tags: ColourTags) -> list[str]:
    import imageio_ffmpeg

    return [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(fps),
            *tags.ffmpeg_input_options(), "-i", "-",
            "-c:v", "libx264", "-crf", str(crf), "-preset", "medium", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(output)]


def _placeholders(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]


def encoder_command(template: str | None, output: Path, width: int, height: int, fps: Fraction, crf: int,
                    tags: ColourTags) -> list[str]:
    """The encoder's command line: ``template`` (an ``--encoder`` string, its :data:`PLACEHOLDERS` filled in) or
    the default ffmpeg/libx264 command at ``crf``, both reading raw ``yuv420p`` of ``width x height`` at ``fps``
    on standard input and writing ``output``.

    :raises EncoderError: a template with an unknown placeholder or without ``{output}``.
    """
    if template is None:
        return _ffmpeg_command(output, width, height, fps, crf, tags)
    check_template(template)
    values = {"output": str(output), "width": width, "height": height, "fps": f"{fps.numerator}/{fps.denominator}",
              "matrix": tags.matrix, "primaries": tags.primaries, "transfer": tags.transfer, "range": tags.range}
    return [part.format(**values) for part in shlex.split(template)]


def check_template(template: str) -> None:
    """:raises EncoderError: an ``--encoder`` template with an unknown placeholder, without ``{output}``, or one
    that is not a command line."""
    try:
        parts = shlex.split(template)
        fields = [f for part in parts for f in _placeholders(part)]
    except ValueError as exc:
        raise EncoderError(f"--encoder is not a command line ({exc}): {template!r}") from None
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown:
        raise EncoderError(f"--encoder has the unknown placeholder {{{unknown[0]}}}; it takes "
                           + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    if not parts or "output" not in fields:
        raise EncoderError(f"--encoder must write to {{output}}, got {template!r}")


def check_encoder(template: str | None, output: Path, crf: int) -> None:
    """Check before rendering that the encoder can write ``output``: the default ffmpeg command encodes one
    16x16 frame into a file of the same name in a temporary folder (so an output name without a muxer, or a bad
    ``crf``, fails here in a fraction of a second instead of after the first stylized frame); a template is
    checked for its placeholders.

    :raises EncoderError: naming ``-o/--output`` (or ``--crf``, ``--encoder``) with ffmpeg's reason.
    """
    if template is not None:
        check_template(template)
        return
    if not 0 <= crf <= 51:
        raise EncoderError(f"--crf must be between 0 and 51 (libx264), got {crf}")
    with tempfile.TemporaryDirectory() as folder:
        cmd = _ffmpeg_command(Path(folder) / output.name, 16, 16, Fraction(25), crf, ColourTags())
        result = subprocess.run(cmd, input=bytes(2 * 16 * 16 * 3 // 2), capture_output=True)  # two frames
    if result.returncode != 0:
        reason = _message(result.stderr.decode(errors="replace"), first=True).replace(f"{folder}/", "")
        raise EncoderError(f"-o/--output {output}: ffmpeg cannot write this file: {reason}")


def check_frame_size(template: str | None, width: int, height: int) -> None:
    """Check, before any frame is rendered, that the encoder takes frames of ``width x height``: the x265 program
    refuses a picture smaller than one coding tree unit (``--ctu``, 64 pixels by default) and then never exits,
    so the render would hang on its full pipe. (ffmpeg's libx265 encodes such frames.)

    :raises EncoderError: naming ``--encoder`` and the sizes that work.
    """
    if template is None:
        return
    parts = shlex.split(template)
    if not parts or Path(parts[0]).name != "x265":
        return
    ctu = X265_DEFAULT_CTU
    for option, value in itertools.pairwise([*parts, ""]):
        if option.startswith("--ctu="):
            option, value = "--ctu", option.split("=", 1)[1]
        if option == "--ctu" and value.isdigit():
            ctu = int(value)
    if width < ctu or height < ctu:
        raise EncoderError(f"--encoder: the x265 program needs frames of at least {ctu}x{ctu} pixels (one coding "
                           f"tree unit, its --ctu), got {width}x{height}: choose a larger --width, or --ctu 32 or 16 "
                           "in the x265 command")


def _message(text: str, first: bool = False) -> str:
    """The first (ffmpeg's cause) or last line of an encoder's messages, without ffmpeg's ``[muxer @ 0x...]``."""
    lines = [re.sub(r"^\[[^]]*\]\s*", "", line.strip()) for line in text.splitlines() if line.strip()]
    return (lines[0] if first else lines[-1]) if lines else "no message"


def frame_tile(frame: vs.VideoFrame, width: int) -> np.ndarray:
    """``frame`` (any format; YUV converted with its ``_Matrix`` and ``_Range``) downscaled to ``width`` (aspect
    kept) as ``(H, W, 3)`` uint8 RGB, with VapourSynth's resizer."""
    core = vs.core
    height = max(1, round(frame.height * width / frame.width))
    blank = core.std.BlankClip(format=frame.format.id, width=frame.width, height=frame.height, length=1)
    held = core.std.ModifyFrame(blank, blank, lambda n, f: frame)
    rgb = core.resize.Bicubic(held, width, height, format=vs.RGB24).get_frame(0)
    return np.stack([np.asarray(rgb[p]) for p in range(3)], axis=-1).copy()


class ContactSheet:
    """A PNG of ``count`` evenly spaced frames, source above, result below, collected while rendering: only the
    picked frames' tiles (at most ``tile_width`` pixels wide) are kept, so its memory is the sheet's own.

    :param source: the source clip (any format VapourSynth's resizer converts to RGB without a matrix choice:
        RGB, or YUV with ``_Matrix``), same length as the render.
    :param count: frames on the sheet.
    :param tile_width: width of one tile (frames narrower than this keep their size).
    """

    def __init__(self, source: vs.VideoNode, count: int = 4, tile_width: int = 480) -> None:
        picks = np.linspace(0, source.num_frames - 1, num=min(count, source.num_frames)).round().astype(int)
        self.picks = tuple(dict.fromkeys(int(n) for n in picks))
        self.tile_width = min(tile_width, source.width)
        height = max(1, round(source.height * self.tile_width / source.width))
        self._source_tiles = vs.core.resize.Bicubic(source, self.tile_width, height, format=vs.RGB24)
        self.tiles: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, n: int, result: vs.VideoFrame) -> None:
        """Keep the tiles of frame ``n``: the source's and that of the frame the encoder received."""
        f = self._source_tiles.get_frame(n)
        source = np.stack([np.asarray(f[p]) for p in range(3)], axis=-1).copy()
        self.tiles[n] = (source, frame_tile(result, self.tile_width))

    def save(self, path: Path) -> Path:
        """Write the sheet atomically; returns ``path``."""
        from PIL import Image

        from .cache import atomic_write

        rows = [np.concatenate([self.tiles[n][row] for n in self.picks], axis=1) for row in (0, 1)]
        sheet = np.concatenate(rows, axis=0)
        return atomic_write(path, lambda tmp: Image.fromarray(sheet).save(tmp, format="PNG"))


def _write_planes(stdin: IO[bytes], frame: vs.VideoFrame) -> None:
    for p in range(frame.format.num_planes):
        stdin.write(np.ascontiguousarray(np.asarray(frame[p])).tobytes())


def render(clip: vs.VideoNode, output: Path, *, encoder: str | None = None, crf: int = 18,
           sheet: ContactSheet | None = None, desc: str = "stylize", frames: Iterator[vs.VideoFrame | None] | None = None,
           done: Callable[[], int] | None = None, finish: Callable[[Path], None] | None = None) -> float:
    """Render ``clip`` (YUV420P8) through the encoder into ``output`` atomically; returns seconds per frame.

    The encoder starts with the first frame, tagged with its colour properties (:class:`ColourTags`); a
    progress bar shows frames done, seconds per frame and the ETA. The video is written to a hidden temporary
    file beside ``output`` (its folder is created) and renamed when the encoder succeeded; on any failure the
    temporary file and the folders made for it are removed. With ``sheet``, its picked frames of ``clip`` are
    added to it as they pass.

    :param frames: the frames of ``clip`` to encode, in order, with ``None`` items while they are not ready
        (:func:`vsstylize.cli.distributed.render_on_ray`); default ``clip.frames()``.
    :param done: frames finished so far, for the progress bar (default: frames encoded), e.g. by every Ray worker.
    :param finish: called with the encoded temporary file before it is renamed to ``output`` (it may rewrite
        the file in place, e.g. :func:`vsstylize.media.audio.mux_audio`); what it raises leaves nothing behind.

    :raises EncoderError: the encoder is missing, stops early or fails (its last message in the text); the
        encoder does not take frames of the clip's size (:func:`check_frame_size`, before any frame is rendered).
    :raises ValueError: ``clip`` is not YUV420P8.
    """
    if clip.format.id != ENCODER_FORMAT:
        raise ValueError(f"render needs YUV420P8 frames, got {clip.format.name}")
    check_frame_size(encoder, clip.width, clip.height)
    fps = Fraction(clip.fps_num, clip.fps_den) if clip.fps_num else Fraction(25)
    made = [p for p in (output.parent, *output.parent.parents) if not p.exists()]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.stem}.partial{output.suffix}")
    proc: subprocess.Popen[bytes] | None = None
    cmd: list[str] = []
    t0 = time.perf_counter()
    encoded = 0
    with tempfile.TemporaryFile() as log:
        try:
            with deferred_signals(), tqdm(total=clip.num_frames, desc=desc, unit="frame") as bar:
                for frame in frames if frames is not None else clip.frames(close=True):
                    check_interrupt()  # a signal came: stop between two frames (the handler only set the flag)
                    if frame is not None:
                        if proc is None:
                            cmd = encoder_command(encoder, tmp, clip.width, clip.height, fps, crf,
                                                  ColourTags.of(frame.props))
                            proc = _start(cmd, log)
                        if sheet is not None and encoded in sheet.picks:
                            sheet.add(encoded, frame)
                        assert proc.stdin is not None
                        _write_planes(proc.stdin, frame)
                        encoded += 1
                    count = done() if done is not None else encoded
                    if count > bar.n or frame is not None:
                        bar.update(count - bar.n)
                        bar.set_postfix_str(f"{(time.perf_counter() - t0) / max(bar.n, 1):.1f} s/frame"
                                            + ("" if done is None else f", {encoded} encoded"))
            assert proc is not None and proc.stdin is not None
            proc.stdin.close()
            if proc.wait() != 0 or not tmp.is_file():
                raise EncoderError(_failure(cmd, proc, log))
            if finish is not None:
                finish(tmp)
            os.replace(tmp, output)
        except BrokenPipeError:
            assert proc is not None
            try:  # the encoder's pipe broke because it stopped: its exit is at hand
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # it runs: another pipe broke (our stderr's reader went away)
                proc.kill()
                proc.wait()
                _clean(tmp, made)
                stop_frames()  # the process cannot report any more: the frames being computed stop too
                raise
            _clean(tmp, made)
            raise EncoderError(_failure(cmd, proc, log)) from None
        except BaseException as exc:
            if proc is not None:
                proc.kill()
                proc.wait()
            _clean(tmp, made)
            if interrupted():  # a frame thread's error after the signal, or the signal itself
                stop = exc if isinstance(exc, Interrupted) else Interrupted(stop_signal())
                stop.frame = encoded
                raise stop from None
            raise
    return (time.perf_counter() - t0) / max(clip.num_frames, 1)


def _start(cmd: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    try:
        # its own process group: a Ctrl-C in the terminal reaches vsstylize only, which stops the encoder itself
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=log, process_group=0)
    except OSError as exc:
        raise EncoderError(f"--encoder: cannot start {cmd[0]!r} ({exc.strerror})") from None


def _failure(cmd: list[str], proc: subprocess.Popen[bytes], log: IO[bytes]) -> str:
    log.seek(0)
    reason = _message(log.read().decode(errors="replace"))
    return f"the encoder {Path(cmd[0]).name} failed (exit {proc.returncode}): {reason}"


def _clean(tmp: Path, made: list[Path]) -> None:
    tmp.unlink(missing_ok=True)
    for folder in made:  # innermost first
        try:
            folder.rmdir()
        except OSError:
            break
