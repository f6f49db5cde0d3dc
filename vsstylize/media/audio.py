"""The source's audio in ``vsstylize run``'s output: the audio of the rendered frame range, muxed beside the
stylized video with the ffmpeg binary of imageio-ffmpeg.

The audio is cut at the times of the rendered frames (``start / fps`` to ``end / fps``, seconds on the source's
timeline) and copied without re-encoding when the output container accepts its codec; otherwise it is encoded
as AAC. A stream copy starts at the audio packet that contains the start time (AAC packets are about 21 ms);
PCM is cut to the sample (:func:`mux_audio`).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

__all__ = ["AudioError", "AudioRange", "audio_codec", "has_audio", "mux_audio"]

#: Bit rate of the AAC encoding used when the container does not take the source's audio codec.
AAC_BITRATE = "192k"


class AudioError(Exception):
    """The output container takes neither the source's audio codec nor AAC (e.g. a raw ``.hevc`` stream)."""


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def audio_codec(path: Path) -> str | None:
    """The codec of the first audio stream of ``path`` (ffmpeg's name: ``aac``, ``pcm_s16le`` ...), ``None``
    when it has none (read from ffmpeg's description of the input)."""
    result = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True)
    found = re.search(r"Stream #\S+.*?: Audio: (\w+)", result.stderr.decode(errors="replace"))
    return found.group(1) if found else None


def has_audio(path: Path) -> bool:
    """Whether the file ``path`` has an audio stream."""
    return audio_codec(path) is not None


@dataclass(frozen=True)
class AudioRange:
    """The audio that belongs to frames ``start`` to ``end`` (exclusive) of a clip at ``fps`` frames per second.

    :ivar source: the file with the audio.
    """

    source: Path
    start: int
    end: int
    fps: Fraction

    @property
    def seconds(self) -> tuple[float, float]:
        """(start time, duration) in seconds."""
        return float(self.start / self.fps), float((self.end - self.start) / self.fps)


def mux_audio(video: Path, audio: AudioRange) -> str:
    """Add ``audio`` to the video file ``video`` in place (its video stream copied as it is).

    Compressed audio is copied (cut at its packets, a few ms); PCM, whose packets in a container can hold a
    second or more, is written again in its own codec (cut to the sample, lossless); where the container
    refuses that codec, the audio is encoded as AAC.

    :returns: how: ``"copied"``, ``"copied (pcm_s16le, cut to the sample)"`` or ``"encoded as AAC"``.
    :raises AudioError: the container takes no audio (ffmpeg's message in the text).
    """
    start, duration = audio.seconds
    codec = audio_codec(audio.source)
    first = (codec, f"copied ({codec}, cut to the sample)") if codec and codec.startswith("pcm_") else ("copy", "copied")
    tmp = video.with_name(f"{video.stem}.audio{video.suffix}")
    reason = ""
    try:
        for encoder, how in (first, ("aac", "encoded as AAC")):
            cmd = [_ffmpeg(), "-v", "error", "-y", "-i", str(video), "-ss", f"{start:.6f}", "-t", f"{duration:.6f}",
                   "-i", str(audio.source), "-map", "0:v", "-map", "1:a:0", "-c:v", "copy", "-c:a", encoder,
                   *(["-b:a", AAC_BITRATE] if encoder == "aac" else []), str(tmp)]
            result = subprocess.run(cmd, capture_output=True)
            if result.returncode == 0:
                os.replace(tmp, video)
                return how
            lines = result.stderr.decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit {result.returncode}"
    finally:
        tmp.unlink(missing_ok=True)
    raise AudioError(reason)
