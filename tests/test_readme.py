"""The README's pipelines run as written: every ``vspipe ... | ffmpeg`` line and every ``vsstylize run --encoder``
example, in a folder holding the README's ``script.vpy``, with ``ffmpeg`` on the PATH being imageio-ffmpeg's binary.
Only the length and size change (``vspipe -e``, ``-a width= -a iterations=`` for stylize.vpy, which the README's
``vsstylize script > stylize.vpy`` writes, ``vsstylize run --frames --width 160``: x265 refuses frames of less than 64
rows). Each output file must decode with the colour tags of the frames that went into it, and no two write the same
file."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest
import vapoursynth as vs

from .conftest import DATA, REPO

pytestmark = [pytest.mark.data, pytest.mark.slow]

README = (REPO / "README.md").read_text()
VSPIPE_END = 2  # vspipe renders frames 0..2
RUN_FRAMES = 3


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    """The README's pipelines: shell lines that pipe vspipe into an encoder or give vsstylize run an encoder."""
    found = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if (line.startswith("vspipe ") and "|" in line) or (line.startswith("vsstylize run ") and "--encoder" in line):
                found.append(line)
    return found


def _script() -> str:
    scripts = [b for b in _blocks("python") if b.startswith("# script.vpy")]
    assert len(scripts) == 1, "the README has one script.vpy"
    return scripts[0]


def test_the_readme_has_its_pipelines() -> None:
    commands = _commands()
    assert sum(c.startswith("vspipe -c y4m script.vpy") for c in commands) == 1
    assert sum(c.startswith("vspipe -c mkv") for c in commands) == 1
    assert sum(" stylize.vpy " in c for c in commands) == 1
    assert sum(c.startswith("vsstylize run") and "x265" in c for c in commands) == 2
    outputs = [_output(c) for c in commands]
    assert len(set(outputs)) == len(outputs), outputs  # each pipeline writes its own file
    assert "vsstylize script > stylize.vpy" in "".join(_blocks("sh"))


def _shortened(command: str) -> str:
    if command.startswith("vspipe "):
        extra = f"-e {VSPIPE_END - ('stylize.vpy' in command)}"
        if " stylize.vpy " in command:
            extra += " -a width=64 -a iterations=20,10"
        return command.replace("vspipe ", f"vspipe {extra} ", 1)
    head, sep, rest = command.partition(" --encoder ")
    return f"{head} --frames 0:{RUN_FRAMES} --width 160{sep}{rest}"  # x265 needs 64+ rows


def _output(command: str) -> str:
    if command.startswith("vspipe "):
        return shlex.split(command)[-1]
    args = shlex.split(command)
    return args[args.index("-o") + 1]


def _colour(props: vs.FrameProps) -> tuple[int, int, int, str]:
    full = props.get("_Range", vs.RANGE_LIMITED) == vs.RANGE_FULL
    return int(props["_Matrix"]), int(props["_Primaries"]), int(props["_Transfer"]), "full" if full else "limited"


@pytest.fixture(scope="module")
def tagged_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bikes.mp4's first frames tagged BT.709 (the README's ``input.mp4`` / ``clip.mp4``)."""
    path = tmp_path_factory.mktemp("clip") / "tagged.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(DATA / "videos" / "bikes.mp4"), "-frames:v", "8", "-f",
                          "rawvideo", "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    subprocess.run([ffmpeg, "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "640x272", "-r", "25",
                    "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
                    "-i", "-", "-c:v", "libx264", str(path)], input=raw, check=True)
    return path


def _folder(tmp_path: Path, clip: Path) -> dict[str, str]:
    """The user's folder: the README's script.vpy, stylize.vpy (written by ``vsstylize script``), bikes.mp4,
    input.mp4/clip.mp4, ``ffmpeg`` on the PATH."""
    (tmp_path / "script.vpy").write_text(_script())
    (tmp_path / "bikes.mp4").symlink_to(DATA / "videos" / "bikes.mp4")
    for name in ("input.mp4", "clip.mp4"):
        (tmp_path / name).symlink_to(clip)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with (tmp_path / "stylize.vpy").open("w") as script:
        subprocess.run([sys.executable, "-m", "vsstylize", "script"], stdout=script, env=env, check=True)
    return env


def _script_output_colour(folder: Path) -> tuple[int, int, int, str]:
    """The colour props of the README script's output 0 (evaluated here, as vspipe and previewers do)."""
    cwd = Path.cwd()
    try:
        os.chdir(folder)
        vs.clear_outputs()
        runpy.run_path("script.vpy")
        out = vs.get_output(0)
        clip = out.clip if isinstance(out, vs.VideoOutputTuple) else out
        assert clip.format.id == vs.YUV420P8  # the source's format: what y4m takes
        return _colour(clip.get_frame(0).props)
    finally:
        vs.clear_outputs()
        os.chdir(cwd)


def _name(command: str) -> str:
    args = shlex.split(command)
    if args[0] == "vspipe":
        return f"vspipe-{args[args.index('-c') + 1]}-{Path(next(a for a in args if a.endswith('.vpy'))).stem}"
    return f"run-encoder-{shlex.split(args[args.index('--encoder') + 1])[0]}"


@pytest.mark.parametrize("command", _commands(), ids=_name)
def test_readme_pipeline_runs_as_written(command: str, tmp_path: Path, tagged_clip: Path) -> None:
    if "x265 --input" in command and shutil.which("x265") is None:
        pytest.skip("the x265 program is not installed (apt-get install x265)")
    env = _folder(tmp_path, tagged_clip)
    result = subprocess.run(["bash", "-o", "pipefail", "-c", _shortened(command)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / _output(command)
    clip = vs.core.bs.VideoSource(str(out))
    frames = VSPIPE_END if "stylize.vpy" in command else RUN_FRAMES if command.startswith("vsstylize") else VSPIPE_END + 1
    assert clip.num_frames == frames
    tags = _colour(clip.get_frame(0).props)
    if " script.vpy " in command:
        assert tags == _script_output_colour(tmp_path) == (6, 6, 6, "limited")
    else:  # the stylized clip keeps the input's colour (tagged BT.709)
        assert tags == _colour(vs.core.bs.VideoSource(str(tagged_clip)).get_frame(0).props) == (1, 1, 1, "limited")
