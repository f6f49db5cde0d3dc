"""`vsstylize run` end to end: a real clip in, a playable stylized video tagged with its colour and a contact sheet
made from the encoded frames out; every bad input a one-line message naming the option, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import vapoursynth as vs

from vsstylize.cli.main import main
from vsstylize.media.encode import EncoderError, check_frame_size

from .conftest import DATA

pytestmark = pytest.mark.data


def _frames(clip: vs.VideoNode) -> np.ndarray:
    rgb = vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")
    return np.stack([np.stack([np.asarray(rgb.get_frame(n)[p]) for p in range(3)]) for n in range(rgb.num_frames)])


@pytest.mark.slow
def test_run_writes_playable_stylized_video(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    sheet = tmp_path / "sheet.png"
    cmd = [sys.executable, "-m", "vsstylize", "run", str(DATA / "videos" / "bikes.mp4"),
           "--style", str(DATA / "styles" / "starry_night.jpg"), "-o", str(out), "--width", "96",
           "--frames", "10:14", "--iterations", "60,15", "--init", "image,prevWarped", "--matrix", "170m",
           "--sheet", str(sheet)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.is_file() and sheet.is_file()
    assert not list(tmp_path.glob(".*partial*"))
    video = vs.core.bs.VideoSource(str(out))
    assert (video.num_frames, video.width, video.height) == (4, 96, 40)
    src = vs.core.resize.Bicubic(vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[10:14], 96, 40)
    got, ref = _frames(video), _frames(src)
    # strongly stylized ...
    assert np.abs(got - ref).mean() > 0.08
    # ... while keeping the scene's structure: luminance still correlates with the input's
    lum_got, lum_ref = got.mean(axis=1).ravel(), ref.mean(axis=1).ravel()
    assert np.corrcoef(lum_got, lum_ref)[0, 1] > 0.3


BIKES = DATA / "videos" / "bikes.mp4"
FLOWFREE = ["--method", "flowfree", "--network", "starry_night-flowfree"]


def _tagged_clip(path: Path, frames: int = 4, **tags: str) -> Path:
    """bikes.mp4's first frames re-encoded with colour tags (ffmpeg's -colorspace ... on the raw input)."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(BIKES), "-frames:v", str(frames), "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    flags = [part for key, value in tags.items() for part in (f"-{key}", value)]
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "640x272", "-r", "25",
                    *flags, "-i", "-", "-c:v", "libx264", str(path)], input=raw, check=True)
    return path


def _colour(path: Path) -> tuple[int, int, int, str]:
    """(_Matrix, _Primaries, _Transfer, range) that BestSource reads from the file (container and bitstream)."""
    props = vs.core.bs.VideoSource(str(path)).get_frame(0).props
    full = props.get("_Range", vs.RANGE_LIMITED) == vs.RANGE_FULL
    return props["_Matrix"], props["_Primaries"], props["_Transfer"], "full" if full else "limited"


@pytest.mark.parametrize("tags, expected", [
    ({"colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709", "color_range": "tv"}, (1, 1, 1, "limited")),
    ({"colorspace": "bt470bg", "color_primaries": "bt470bg", "color_trc": "smpte170m", "color_range": "pc"},
     (5, 5, 6, "full")),
    ({}, (6, 2, 2, "limited")),  # untagged SD: read and tagged as BT.601; primaries and transfer not invented
], ids=["bt709", "bt601-full", "untagged"])
def test_run_tags_the_output_with_the_sources_colour(tmp_path: Path, tags: dict, expected: tuple) -> None:
    source = _tagged_clip(tmp_path / "in.mp4", **tags) if tags else BIKES
    if tags:
        assert _colour(source) == expected  # the source says so ...
    out = tmp_path / "out.mp4"
    assert main(["run", str(source), "-o", str(out), "--frames", "0:3", "--width", "96", *FLOWFREE]) == 0
    assert _colour(out) == expected  # ... and so does the stylized file


def test_run_matrix_option_converts_and_tags(tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    assert main(["run", str(BIKES), "-o", str(out), "--frames", "0:2", "--width", "64", "--matrix", "709", *FLOWFREE]) == 0
    assert _colour(out)[0] == vs.MATRIX_BT709


def test_sheet_is_made_from_the_encoded_frames(tmp_path: Path, recursive_filters: list) -> None:
    """--sheet keeps the picked frames as they pass to the encoder: the chain computes every frame once (the old
    sheet asked for frames 4 and 7 again, which a chain walks from the nearest frame it keeps), and the sheet's
    lower row is the video's frames."""
    from PIL import Image

    out, sheet = tmp_path / "out.mp4", tmp_path / "sheet.png"
    assert main(["run", str(BIKES), "-o", str(out), "--sheet", str(sheet), "--frames", "30:42", "--width", "96",
                 "--method", "network", "--network", "starry_night-prior", "--no-estimate"]) == 0
    assert [f.computed for f in recursive_filters] == [12]
    image = np.asarray(Image.open(sheet).convert("RGB"), dtype=np.float32) / 255
    assert image.shape == (2 * 40, 4 * 96, 3)
    video = vs.core.resize.Bicubic(vs.core.bs.VideoSource(str(out)), format=vs.RGBS)
    tiles = [image[40:, 96 * k:96 * (k + 1)] for k in range(4)]
    for k, n in enumerate((0, 4, 7, 11)):
        f = video.get_frame(n)
        frame = np.stack([np.asarray(f[p]) for p in range(3)], axis=-1)
        errors = [float(np.abs(tile - frame).mean()) for tile in tiles]
        assert errors[k] < 0.03 and errors[k] == min(errors), (n, errors)  # frame n as encoded (x264 crf 18)


# the README's x265 command: x265 refuses frames smaller than one coding tree unit and then never exits
X265 = "x265 --input - --input-res {width}x{height} --fps {fps} --crf 22 -o {output}"


def test_x265_frame_size_rule() -> None:
    """Frames of one coding tree unit or more pass; the unit follows --ctu; other encoders are not concerned."""
    check_frame_size(X265, 64, 64)
    check_frame_size(X265.replace("--crf", "--ctu 16 --crf"), 32, 18)
    check_frame_size("ffmpeg -f rawvideo -s {width}x{height} -i - -c:v libx265 {output}", 64, 28)  # libx265 copes
    check_frame_size(None, 16, 16)
    with pytest.raises(EncoderError, match="at least 16x16 pixels"):
        check_frame_size(X265.replace("--crf", "--ctu 16 --crf"), 32, 14)


def _bad_input_cases(tmp: Path, inputs: Path) -> list[tuple[list[str], str]]:
    """(arguments, the start of the one line) of each bad input; the files they read are in ``inputs``."""
    (tmp / "a_file").write_text("not a folder")
    inputs.mkdir()
    (inputs / "empty.mp4").write_bytes(b"")
    (inputs / "truncated.mp4").write_bytes(BIKES.read_bytes()[:30000])
    (inputs / "notes.jpg").write_text("not an image")
    run = ["run", str(BIKES), "--frames", "0:2", "--width", "64", "--no-estimate"]
    out = ["-o", str(tmp / "o.mp4")]
    clip = ["--frames", "0:2", "--width", "64", *out, *FLOWFREE]
    return [
        (["run", str(inputs / "missing.mp4"), *clip], f"input '{inputs}/missing.mp4' not found"),
        (["run", str(inputs / "empty.mp4"), *clip], f"input '{inputs}/empty.mp4' is empty (0 bytes); give a video file"),
        (["run", str(inputs / "truncated.mp4"), *clip],
         f"input '{inputs}/truncated.mp4' is not a readable video (VideoSource: Couldn't open"),
        ([*run, *out, "--style", str(inputs / "missing.jpg")],
         f"--style '{inputs}/missing.jpg' not found: give an image file or a shipped style (starry_night, the_scream)"),
        ([*run, *out, "--style", str(inputs / "notes.jpg")], f"--style: style file '{inputs}/notes.jpg' is not a readable image"),
        ([*run, *out, "--method", "network", "--network", "no_such_model"],
         "--network: no model file 'no_such_model' (a .safetensors path or one of the shipped models: "),
        ([*run, *out, "--method", "network", "--network", "starry_night-flowfree"],
         "--network: "),
        ([*run, "-o", "/sys/o.mp4", *FLOWFREE], "-o/--output /sys/o.mp4: cannot write in /sys ("),
        ([*run, *out, "--cache", "/sys/vsstylize-cache", *FLOWFREE], "--cache /sys/vsstylize-cache: cannot write in /sys ("),
        ([*run, *out, "--cache", str(tmp / "a_file"), *FLOWFREE], f"--cache {tmp}/a_file is a file; give a folder"),
        ([*run, "-o", str(tmp / "a_file" / "o.mp4"), *FLOWFREE],
         f"-o/--output {tmp}/a_file/o.mp4: {tmp}/a_file is a file, not a folder"),
        ([*run, "-o", str(tmp / "o.xyz"), *FLOWFREE],
         f"-o/--output {tmp}/o.xyz: ffmpeg cannot write this file: Unable to choose an output format for 'o.xyz'"),
        ([*run, "-o", str(tmp / "o.gif"), *FLOWFREE],
         f"-o/--output {tmp}/o.gif: ffmpeg cannot write this file: gif muxer supports only codec gif"),
        ([*run, *out, "--frames", "5:2", *FLOWFREE], "--frames 5:2 is reversed: A:B needs A < B (B exclusive)"),
        ([*run, *out, "--frames", "3:3", *FLOWFREE], "--frames 3:3 is empty"),
        ([*run, *out, "--frames", "0:9999", *FLOWFREE], "--frames 0:9999 is outside the clip's 250 frames (0:250)"),
        ([*run, *out, "--width", "101", *FLOWFREE], "--width must be a positive multiple of 2 (the video is 4:2:0), got 101"),
        ([*run, *out, "--width", "98", "--projection", "equirect", "--method", "network", "--network", "starry_night-prior"],
         "--width must be a positive multiple of 4 (--projection equirect is 2:1 with an even height), got 98"),
        ([*run, *out, "--method", "network"], "network='arbitrary-prior' needs --style: any painting"),
        ([*run, *out, "--method", "network", "--network", "arbitrary", "--style", "starry_night"],
         "--method network takes a prior-image network: for any style image that is 'arbitrary-prior', the default"),
        ([*run, *out, "--method", "network", "--network", "starry_night-prior", "--style", "starry_night"],
         "--method network does not use --style"),
        ([*run, *out, "--crf", "99", *FLOWFREE], "--crf must be between 0 and 51 (libx264), got 99"),
        ([*run, *out, "--stroke-scale", "0", *FLOWFREE], "--stroke-scale must be a number > 0, got 0.0"),
        ([*run, *out, "--border-margin", "-2", *FLOWFREE], "--border-margin must be an integer >= 0, got -2"),
        ([*run, *out, "--encoder", "cat", *FLOWFREE], "--encoder must write to {output}, got 'cat'"),
        ([*run, *out, "--encoder", "x265 {input} -o {output}", *FLOWFREE], "--encoder has the unknown placeholder {input}"),
        ([*run, *out, "--encoder", X265, *FLOWFREE],
         "--encoder: the x265 program needs frames of at least 64x64 pixels (one coding tree unit, its --ctu), got 64x28"),
        ([*run, *out, "--encoder", X265, "--ray", "--cache", str(tmp / "cache"), *FLOWFREE],  # before the cluster starts
         "--encoder: the x265 program needs frames of at least 64x64 pixels (one coding tree unit, its --ctu), got 64x28"),
        ([*run, *out, "--encoder", X265.replace("--crf", "--ctu=32 --crf"), *FLOWFREE],
         "--encoder: the x265 program needs frames of at least 32x32 pixels (one coding tree unit, its --ctu), got 64x28"),
        ([*run, "-o", str(tmp / "new" / "o.mp4"), "--encoder", "no-such-encoder {output}", *FLOWFREE],
         "--encoder: cannot start 'no-such-encoder'"),
        ([*run, "-o", str(tmp / "new" / "o.mp4"), "--encoder", "sh -c 'echo broken >&2; exit 3' {output}", *FLOWFREE],
         "the encoder sh failed (exit 3): broken"),
        ([*run, "-o", str(tmp / "o.mp4"), "--sheet", str(tmp / "a_file" / "s.png"), *FLOWFREE],
         f"--sheet {tmp}/a_file/s.png: {tmp}/a_file is a file, not a folder"),
    ]


def test_bad_input_gives_one_line_naming_the_option_and_writes_nothing(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's table of bad inputs, rerun: each is one line `vsstylize run: <option> ...`, exit status 2, no
    traceback, and nothing is left on disk (no output, no partial file, no folder made for it)."""
    inputs = tmp_path / "inputs"
    cases = _bad_input_cases(tmp_path, inputs)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not line.startswith("stylize:")]
        assert lines == [lines[-1]] and lines[0].startswith(f"vsstylize run: {message}"), (argv, err)
        assert "Traceback" not in err
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, argv


_IMPORTED = """
import sys
from vsstylize.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted({m.split(".")[0] if m.startswith("vsstylize_bench") else ".".join(m.split(".")[:2])
              for m in sys.modules if m.startswith(("vsstylize_bench", "vsstylize.train"))}))
"""


def test_run_help_imports_neither_training_nor_benchmark_code() -> None:
    """The sub-commands are built lazily: ``vsstylize run --help`` loads no training or benchmark module;
    ``vsstylize --help`` still lists bench and train."""
    from .conftest import REPO

    def imported(*words: str) -> tuple[str, str]:
        out = subprocess.run([sys.executable, "-c", _IMPORTED, *words], capture_output=True, text=True, cwd=REPO,
                             check=True).stdout
        return out.splitlines()[-1], out

    assert imported("run", "--help")[0] == "[]"
    last, text = imported("--help")
    assert last == "['vsstylize.train', 'vsstylize_bench']" and "bench" in text and "train" in text
