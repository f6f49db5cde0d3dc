"""``vsstylize bench`` settings: the named stylization settings, the run configuration and its checks."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsstylize.resources import shipped_styles

from .runner import BASELINES, MATCHED_ITERATIONS
from .sources import default_photos

__all__ = ["BASELINE", "DEFAULT_SEQUENCES", "FIRST_INITS", "LONG_TERM_K", "SETTINGS", "BenchConfig", "BenchInputError",
           "ClipSpec", "config_from_args", "parse_iterations"]

#: Named settings (``vsstylize.stylize`` keyword arguments) selectable with ``--methods``; the four
#: baselines of :data:`vsstylize_bench.runner.BASELINES` are always run.
SETTINGS: dict[str, dict[str, Any]] = {
    **BASELINES,
    # Ruder et al. 2018 sec. 4.3: long-term consistency with J = {1, 2, 4} (scaled to short sequences).
    "longterm": {"init": ("random", "prevWarped"), "flow_relative_indices": (1, 2, 4)},
    # the short-term temporal loss with a 10x stronger weight (gamma = 1e4 instead of 1e3).
    "temporal_strong": {"init": ("random", "prevWarped"), "temporal_weight": 1e4},
    # short-term temporal loss, first frame initialised with the content image instead of noise.
    "temporal_image": {"init": ("image", "prevWarped")},
    # Ruder et al. 2018 sec. 4.3 with the paper's J = {1, 10, 20, 40} (needs sequences longer than 10 frames).
    "longterm_paper": {"init": ("random", "prevWarped"), "flow_relative_indices": (1, 10, 20, 40)},
    # Ruder et al. sec. 4.4: the multi-pass algorithm (later-frame iterations per pass), paper's delta 0.5.
    "multipass": {"method": "multipass", "num_passes": 6, "use_temporal_loss_after": 4, "blend_weight": 0.5,
                  "init": "image"},
    # per-frame processing from the content image (neural-style's -init image).
    "image": {"init": ("image", "image"), "temporal_weight": 0.0},
    # the same with frame t given first + t * later iterations, as many as a chain has spent on it: the
    # quality reference of --first-init image (Ruder Table 5 compares converged per-frame results).
    "image_matched": {"init": ("image", "image"), "temporal_weight": 0.0, MATCHED_ITERATIONS: True},
}

#: First-frame initialisations selectable with ``--first-init``.
FIRST_INITS = ("random", "image")
#: Long-term distances reported where a sequence is long enough (``T > k``).
LONG_TERM_K: tuple[int, ...] = (5, 10)
DEFAULT_SEQUENCES = ("slow_pan", "fast_pan_zoom", "large_occluder")
#: The shipped style the bench uses by default.
DEFAULT_STYLE = shipped_styles()["starry_night"]
BASELINE = "random"


class BenchInputError(ValueError):
    """Bad ``vsstylize bench`` input; ``option`` names the command-line option."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


@dataclass(frozen=True)
class ClipSpec:
    """A real clip: ``path`` and the frame range ``[start, end)`` (``end=None``: ``start + frames``)."""

    path: Path
    start: int = 0
    end: int | None = None

    @property
    def label(self) -> str:
        return f"{self.path.name}#{self.start}:{self.end}" if self.end is not None else self.path.name


@dataclass
class BenchConfig:
    """Settings of one bench run (the ``vsstylize bench`` options)."""

    out: Path
    width: int = 256
    frames: int = 6
    iterations: tuple[int, int] = (200, 100)
    sequences: tuple[str, ...] = DEFAULT_SEQUENCES
    clips: tuple[ClipSpec, ...] = ()
    sequence_dirs: tuple[Path, ...] = ()
    methods: tuple[str, ...] = ()
    style: Path = DEFAULT_STYLE
    image: str | None = None
    #: photos the generated sequences are drawn from where ``image`` is not given (default:
    #: :func:`vsstylize_bench.sources.default_photos`)
    photos: tuple[Path, ...] = field(default_factory=lambda: tuple(default_photos()))
    seed: int = 0
    tol_loss_relative: float = 1e-4
    temporal_weight: float | None = None
    first_init: str = "random"
    sequence_height: int | None = None
    cache_dir: Path | None = None
    command: str = ""
    extra_common: dict[str, Any] = field(default_factory=dict)

    def method_settings(self) -> dict[str, dict[str, Any]]:
        """``name -> stylize() kwargs``: the baselines, then the extra ``methods`` in the given order.

        :raises BenchInputError: an unknown method name (``--methods``).
        """
        unknown = [m for m in self.methods if m not in SETTINGS]
        if unknown:
            raise BenchInputError("--methods", f"unknown method(s) {', '.join(map(repr, unknown))}; "
                                               f"choose from {', '.join(SETTINGS)}")
        if self.first_init not in FIRST_INITS:
            raise BenchInputError("--first-init", f"must be one of {', '.join(FIRST_INITS)}, got {self.first_init!r}")
        names = list(BASELINES) + [self.reference] + [m for m in self.methods if m not in BASELINES]
        out = {n: dict(SETTINGS[n]) for n in dict.fromkeys(names)}
        for kw in out.values():
            # the chains (settings whose later frames start from the previous result) start like the
            # per-frame reference
            init = kw.get("init")
            if isinstance(init, tuple) and init[0] == "random" and init[1] in ("prev", "prevWarped"):
                kw["init"] = (self.first_init, init[1])
        return out

    @property
    def reference(self) -> str:
        """The per-frame method the content / style losses are relative to (Ruder Table 5): per-frame
        processing with the chains' first-frame initialisation: ``random`` (the paper's baseline), or for
        ``--first-init image`` ``image_matched`` (init image, frame ``t`` given the ``first + t * later``
        iterations a chain has spent on it). Frame 0 of every chain equals the reference's frame 0."""
        return "random" if self.first_init == "random" else "image_matched"

    def run_kwargs(self) -> dict[str, Any]:
        """:meth:`common` plus the run's shared stylized-frame cache (``cache_dir``), through which the
        methods share their identical first frames."""
        return {**self.common(), **({"cache_dir": str(self.cache_dir)} if self.cache_dir is not None else {})}

    def common(self) -> dict[str, Any]:
        """Keyword arguments shared by every method."""
        c: dict[str, Any] = {"num_iterations": tuple(self.iterations), "seed": self.seed,
                             "tol_loss_relative": self.tol_loss_relative}
        if self.temporal_weight is not None:
            c["temporal_weight"] = self.temporal_weight
        c.update(self.extra_common)
        return c

    @property
    def height(self) -> int:
        """Height of the generated sequences: ``sequence_height``, else 4:3 at ``width``, even."""
        if self.sequence_height is not None:
            return self.sequence_height
        return max(16, int(round(self.width * 3 / 4 / 2)) * 2)


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def parse_iterations(text: str, option: str = "--iterations") -> tuple[int, int]:
    """``"first,later"`` iteration counts (one number: both) as a pair of ints >= 1.

    :raises BenchInputError: anything else, naming ``option``.
    """
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise BenchInputError(option, f"must be 'first,later' integers, got {text!r}") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise BenchInputError(option, f"must be 'first,later' with integers >= 1, got {text!r}")
    return vals[0], vals[1]


def _parse_clip(text: str) -> ClipSpec:
    path_text, start, end = text, 0, None
    if "#" in text and not Path(text).exists():
        path_text, _, rng = text.rpartition("#")
        a, sep, b = rng.partition(":")
        try:
            start = int(a) if a else 0
            end = int(b) if b else None
        except ValueError:
            raise BenchInputError("--clips", f"frame range after '#' must look like START:END, got {rng!r} in {text!r}") from None
        if not sep and a:
            raise BenchInputError("--clips", f"frame range after '#' must look like START:END, got {rng!r} in {text!r}")
        if start < 0 or (end is not None and end - start < 2):
            raise BenchInputError("--clips", f"frame range {rng!r} of {path_text} must hold at least 2 frames (frames < 2)")
    path = Path(path_text)
    if not path.is_file():
        raise BenchInputError("--clips", f"clip file {str(path)!r} not found")
    return ClipSpec(path, start, end)


def config_from_args(args: argparse.Namespace, command: str = "") -> BenchConfig:
    """Build and check a :class:`BenchConfig` from the parsed ``bench`` options.

    :raises BenchInputError: naming the offending option.
    """
    from vsstylize.train.sequences import PRESETS

    if args.frames < 2:
        raise BenchInputError("--frames", f"need at least 2 frames to measure temporal consistency, got {args.frames}")
    if args.width < 32:
        raise BenchInputError("--width", f"must be >= 32 pixels, got {args.width}")
    if args.height is not None and not 16 <= args.height <= 4 * args.width:
        raise BenchInputError("--height", f"must be between 16 and 4 x --width pixels, got {args.height}")
    if args.seed < 0:
        raise BenchInputError("--seed", f"must be >= 0, got {args.seed}")
    style = Path(args.style)
    if not style.is_file():
        raise BenchInputError("--style", f"style image {str(style)!r} not found")
    sequences = tuple(s for s in _split(args.sequences) if s.lower() != "none")
    bad = [s for s in sequences if s not in PRESETS]
    if bad:
        raise BenchInputError("--sequences", f"unknown sequence preset(s) {', '.join(map(repr, bad))}; "
                                             f"choose from {', '.join(PRESETS)}")
    if args.image is not None and not Path(args.image.rpartition("#")[0] or args.image).exists():
        raise BenchInputError("--image", f"background photo {args.image!r} not found")
    photos = tuple(default_photos(args.photos))
    if args.photos is not None and not photos:
        raise BenchInputError("--photos", f"no images in {args.photos!r}")
    if sequences and args.image is None and not photos:
        raise BenchInputError("--photos", "no photos to draw the generated sequences from: pass --photos DIR or "
                                          "--image, or set VSSTYLIZE_SHARED to the shared data folder")
    dirs = tuple(Path(d) for d in _split(args.sequence_dirs))
    for d in dirs:
        if not (d / "manifest.json").is_file():
            raise BenchInputError("--sequence-dirs", f"{str(d)!r} is not a saved sequence folder (no manifest.json)")
    cfg = BenchConfig(
        out=Path(args.out), width=args.width, frames=args.frames, iterations=parse_iterations(args.iterations),
        sequences=sequences, clips=tuple(_parse_clip(c) for c in _split(args.clips)), sequence_dirs=dirs,
        methods=tuple(_split(args.methods)), style=style, image=args.image, photos=photos, seed=args.seed,
        tol_loss_relative=args.tol_loss_relative, temporal_weight=args.temporal_weight,
        first_init=args.first_init, sequence_height=args.height, command=command,
    )
    cfg.method_settings()  # unknown names
    if not (cfg.sequences or cfg.clips or cfg.sequence_dirs):
        raise BenchInputError("--sequences", "nothing to run: give sequences, --clips or --sequence-dirs")
    return cfg
