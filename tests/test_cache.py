"""atomic_write: a writer SIGKILLed mid-write leaves only a hidden temporary file, never a partial entry, and the
next write of the same file removes that temporary file once its process is gone (a live writer's is kept)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vsstylize.media.cache import atomic_write

from .conftest import REPO

# writes half an entry, says so, then waits to be killed
_WRITER = """
import sys, time
from pathlib import Path
from vsstylize.media.cache import atomic_write

def write(tmp):
    tmp.write_bytes(b"half")
    print(tmp, flush=True)
    time.sleep(600)

atomic_write(Path(sys.argv[1]), write)
"""


def _writer_mid_write(target: Path) -> tuple[subprocess.Popen[str], Path]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.parent == target.parent and tmp.name.startswith(f".{target.name}-") and tmp.read_bytes() == b"half"
    return proc, tmp


def test_a_killed_writers_temporary_file_goes_with_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "ab" / "entry.png"
    killed, orphan = _writer_mid_write(target)
    alive, kept = _writer_mid_write(target)
    try:
        killed.send_signal(signal.SIGKILL)  # not reaped yet: a zombie counts as gone
        deadline = time.monotonic() + 30
        while Path(f"/proc/{killed.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not target.exists() and orphan.exists()  # no partial file under the entry's name
        atomic_write(target, lambda tmp: tmp.write_bytes(b"entry"))
        assert target.read_bytes() == b"entry"
        assert not orphan.exists()  # the dead writer's temporary file is gone
        assert kept.exists()  # a running writer's is not touched
        assert sorted(p.name for p in target.parent.iterdir()) == sorted(["entry.png", kept.name])
    finally:
        for proc in (killed, alive):
            proc.kill()
            proc.wait()


def test_open_cache_is_the_one_way_to_open_a_cache(tmp_path) -> None:
    from vsstylize.media.cache import DiskCache, open_cache

    assert open_cache(None, "stylize", "stylize") is None
    cache = open_cache(tmp_path, "stylize", "flow")
    assert isinstance(cache, DiskCache) and cache.root == tmp_path / "flow" and cache.suffix == ".png"
    assert cache.path("abcdef") == tmp_path / "flow" / "ab" / "abcdef.png"
