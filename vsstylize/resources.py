"""Where vsstylize finds its files.

* **Shipped models and styles** are package data (``vsstylize/models``, ``vsstylize/styles``), read through
  :mod:`importlib.resources`, so a wheel install has them. The networks live in the top-level ``models/`` folder of
  the source tree, which the wheel installs as ``vsstylize/models`` (``pyproject.toml``'s ``package-dir``); a
  checkout (editable install, ``PYTHONPATH``) reads that folder.
* **Downloads** (``python -m vsstylize download NAME``: standard VGG / RAFT weights) go to the per-user data
  folder (:func:`platformdirs.user_data_path`, e.g. ``~/.local/share/vsstylize/models`` on Linux).
* ``$VSSTYLIZE_MODELS``: an ``os.pathsep``-separated list of folders searched first, for standard weights and
  stylization networks alike; downloads go to its first folder. This is its only meaning.

Nothing outside the package, the per-user folder, ``$VSSTYLIZE_MODELS`` and the torch hub cache is read unless
a path is given explicitly.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "MODELS_ENV",
    "download_dir",
    "model_search_path",
    "package_models_dir",
    "read_style_image",
    "resolve_style",
    "shipped_models",
    "shipped_styles",
    "stylize_script",
    "user_models_dir",
]

#: Environment variable: folders searched first for weights and models; downloads go to the first.
MODELS_ENV = "VSSTYLIZE_MODELS"
_STYLE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _package_dir(name: str) -> Path:
    return Path(str(files("vsstylize") / name))


def package_models_dir() -> Path:
    """The shipped models: the package data ``vsstylize/models`` of an installed wheel, else (a checkout) the
    top-level ``models/`` folder it is built from."""
    installed = _package_dir("models")
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "models"


def user_models_dir() -> Path:
    """The per-user folder of downloaded weights (not created here)."""
    import platformdirs  # imported when needed: training on a bare GPU machine passes every path itself

    return platformdirs.user_data_path("vsstylize", appauthor=False) / "models"


def _env_dirs() -> list[Path]:
    env = os.environ.get(MODELS_ENV, "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p]


def model_search_path() -> list[Path]:
    """Folders searched for weights and models, in order: ``$VSSTYLIZE_MODELS``, the per-user folder, the shipped
    models."""
    return [*_env_dirs(), user_models_dir(), package_models_dir()]


def download_dir() -> Path:
    """Where downloads go: the first folder of ``$VSSTYLIZE_MODELS``, else :func:`user_models_dir`."""
    env = _env_dirs()
    return env[0] if env else user_models_dir()


def shipped_models() -> list[str]:
    """Names of the shipped stylization networks (e.g. ``starry_night-prior``)."""
    return sorted(p.stem for p in package_models_dir().glob("*.safetensors"))


def stylize_script() -> Path:
    """The vspipe script of the ``vsstylize run`` job (package data ``vsstylize/vpy/stylize.vpy``; ``vsstylize
    script`` prints it)."""
    return _package_dir("vpy") / "stylize.vpy"


def shipped_styles() -> dict[str, Path]:
    """The shipped style images by name (``starry_night``, ``the_scream``: the styles of the shipped models)."""
    return {p.stem: p for p in sorted(_package_dir("styles").iterdir()) if p.suffix.lower() in _STYLE_SUFFIXES}


def resolve_style(name: str | os.PathLike[str]) -> Path | None:
    """A style image given as a file path or a shipped style name; ``None`` when neither exists."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    return shipped_styles().get(str(name))


def read_style_image(name: str | os.PathLike[str]) -> torch.Tensor:
    """A style image (file path or shipped style name, :func:`resolve_style`) as ``(1, 3, H, W)`` float32 RGB in
    [0, 1] (Pillow, any mode converted to RGB).

    :raises FileNotFoundError: neither a file nor a shipped style.
    :raises ValueError: not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    path = resolve_style(name)
    if path is None:
        raise FileNotFoundError(f"style file {os.fspath(name)!r} not found (an image file or a shipped style: "
                                f"{', '.join(shipped_styles())})")
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"style file {str(path)!r} is not a readable image ({exc})") from exc
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()
