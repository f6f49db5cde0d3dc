"""A content-addressed on-disk cache with atomic writes.

Used for flows and stylized frames (compact PNG entries, :mod:`vsstylize.media.compact`). An entry is written to
a temporary file in the same folder and renamed into place, so an interrupted render (SIGINT, SIGKILL, power loss) never
leaves a half-written entry under a valid name; a later run recomputes what is missing. The temporary file of a
writer killed mid-write (SIGKILL, out of memory) stays behind, hidden (``.<entry>-<host>-<pid>-...``); the
next write of the same file from the same machine (the rerun, a Ray retry) removes it once that process is gone.
"""

from __future__ import annotations

import glob
import hashlib
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["PROP_CACHE_ENTRY", "PROP_CACHE_INDEX", "DiskCache", "atomic_write", "digest", "open_cache"]

T = TypeVar("T")

#: Frame property of a stylized frame served by or written to a disk cache: the entry's path relative to the
#: cache folder (``stylize/ab/ab12....png``), so a reader (the Ray driver) can load it without the graph.
PROP_CACHE_ENTRY = "StylizeCacheEntry"
#: Row of the frame in an entry holding several frames stacked vertically (multipass shots); absent: 0.
PROP_CACHE_INDEX = "StylizeCacheIndex"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask() is process-wide and not thread-safe
_HOST = socket.gethostname().replace("/", "_")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (a zombie, killed and not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): os.kill's answer
    return state not in ("Z", "X")


def _remove_orphans(target: Path) -> None:
    """Remove the temporary files of ``target`` left by writers on this machine that are gone (killed mid-write)."""
    prefix = f".{target.name}-{_HOST}-"
    for tmp in target.parent.glob(glob.escape(prefix) + "*"):
        pid = tmp.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it onto ``path``.

    The temporary file is removed if ``write`` fails, so no partial file is ever left under ``path``. It is named
    ``.<name>-<host>-<pid>-<random><suffix>``; after the rename, those of ``path`` whose process on this machine
    is gone (a writer SIGKILLed mid-write) are removed too.

    :raises OSError: when the folder cannot be created or the rename fails; whatever ``write`` raises.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-{_HOST}-{os.getpid()}-",
                                    suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _remove_orphans(target)
    return target


def digest(*parts: bytes | str) -> str:
    """Hex BLAKE2b digest (32 hex characters) of ``parts`` joined unambiguously."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class DiskCache:
    """Files keyed by a hex digest under ``root/<namespace>/<key[:2]>/<key><suffix>``.

    :param root: cache folder; created if missing.
    :param func: public filter name, for error messages.
    :param namespace: sub-folder (e.g. ``"flow"``, ``"stylize"``).
    :param suffix: file extension of entries (e.g. ``".png"``).
    :raises vs.Error: when the folder cannot be created or written (read-only, full disk).
    """

    def __init__(self, root: str | os.PathLike[str], func: str, namespace: str, suffix: str) -> None:
        self.func = func
        self.suffix = suffix
        self.namespace = namespace
        self.root = Path(root).expanduser() / namespace
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True) as probe:
                probe.write(b"x")
                probe.flush()
        except OSError as exc:
            from ..errors import error  # VapourSynth's error type, imported only here: training needs no VapourSynth

            raise error(func, f"cache folder {str(self.root)!r} is not writable: {exc.strerror or exc}") from exc

    def path(self, key: str) -> Path:
        """Where the entry for ``key`` lives (it may not exist)."""
        return self.root / key[:2] / f"{key}{self.suffix}"

    def entry_name(self, key: str) -> str:
        """The entry of ``key`` relative to the cache folder (``namespace/ab/key.suffix``)."""
        return f"{self.namespace}/{key[:2]}/{key}{self.suffix}"

    def load(self, key: str, reader: Callable[[Path], T]) -> T | None:
        """Read the entry for ``key`` with ``reader(path)``; ``None`` when it is missing or unreadable.

        An unreadable entry (e.g. truncated by a crash of another tool) is removed so it is recomputed.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return reader(path)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            return None

    def store(self, key: str, writer: Callable[[Path], object]) -> Path:
        """Write the entry for ``key`` atomically: ``writer(tmp_path)`` then rename.

        :raises vs.Error: when writing fails (disk full, permissions), naming the folder.
        """
        try:
            return atomic_write(self.path(key), writer)
        except OSError as exc:
            from ..errors import error

            raise error(self.func, f"cannot write to cache folder {str(self.root)!r}: {exc.strerror or exc}") from exc


def open_cache(root: str | os.PathLike[str] | None, func: str, namespace: str, suffix: str = ".png") -> DiskCache | None:
    """The :class:`DiskCache` of ``namespace`` under ``root``, or ``None`` when no cache folder is given: the one way
    the filters and methods open their caches.

    :raises vs.Error: the folder cannot be created or written (see :class:`DiskCache`).
    """
    return DiskCache(root, func, namespace, suffix) if root is not None else None
