"""``vsstylize bench`` plots (matplotlib, ``pip install 'vsstylize[bench]'``): temporal error over time, border
contrast, frame strips with error maps. Every file is written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .measure import SequenceReport, error_maps

__all__ = ["MAX_STRIP_FRAMES", "plot_border_contrast", "plot_strip", "plot_temporal_error", "safe_name"]

MAX_STRIP_FRAMES = 5


def _save_fig(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from vsstylize.media.cache import atomic_write

    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def plot_temporal_error(rep: SequenceReport, path: Path) -> Path:
    """Temporal (or warping) error per frame over time, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, r in rep.results.items():
        t = np.arange(1, len(r.temporal_error) + 1)
        ax.plot(t, r.temporal_error, marker="o", label=name)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("frame t")
    what = ("short-term temporal error (ground-truth flow)" if rep.kind == "ground truth"
            else "warping error (DIS flow, reliability)")
    ax.set_ylabel(what)
    ax.set_title(rep.name)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_fig(fig, path)


def plot_border_contrast(rep: SequenceReport, path: Path) -> Path:
    """Border/centre standard deviation ratio per frame (Ruder et al. 2018 Fig. 10), one line per method
    and the content frames' ratio dashed; beside it each method's ratio relative to the per-frame
    reference's (:func:`relative_border_contrast`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(rep.border_contrast, "std in the entering band / std in the centre", "raw")]
    if rep.border_contrast_relative:
        panels.append((rep.border_contrast_relative, f"ratio / ratio of per-frame {rep.border_reference}",
                       f"relative to per-frame {rep.border_reference}"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.0), squeeze=False)
    methods = [n for n in rep.border_contrast if n != "content"]
    colour = {n: f"C{i % 10}" for i, n in enumerate(methods)}  # one colour per method in both panels
    for ax, (ratios, ylabel, title) in zip(axes[0], panels):
        for name, ratio in ratios.items():
            ax.plot(np.arange(len(ratio)), ratio, marker="o", markersize=3, label=name,
                    **({"linestyle": "--", "color": "grey"} if name == "content" else {"color": colour[name]}))
        ax.axhspan(0.9, 1.1, color="green", alpha=0.1, label="within 10 %")
        ax.set_xlabel("frame t")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{rep.name}: border contrast, {title}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_fig(fig, path)


def plot_strip(rep: SequenceReport, path: Path) -> Path:
    """Stylized frames of each method with their error maps below (Ruder et al. Fig. 2): ``|s_t -
    warp(s_{t-1})|``, disoccluded / unreliable pixels in blue, one shared contrast-enhanced scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_count = rep.content.shape[0]
    picks = np.unique(np.linspace(1, t_count - 1, num=min(MAX_STRIP_FRAMES, t_count - 1)).round().astype(int))
    maps = {n: error_maps(r.frames, rep.flow_backward, rep.weights) for n, r in rep.results.items()}
    valid = np.concatenate([m[picks - 1][np.isfinite(m[picks - 1])] for m in maps.values()])
    vmax = float(np.percentile(valid, 99)) if valid.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    cmap = matplotlib.colormaps["inferno"].with_extremes(bad=(0.2, 0.35, 0.7))  # set_bad is being deprecated
    rows = 1 + 2 * len(rep.results)
    h, w = rep.content.shape[-2:]
    cell = 1.8
    fig, axes = plt.subplots(rows, len(picks), figsize=(max(cell * len(picks) + 1.2, 5.0), cell * h / w * rows + 0.8),
                             squeeze=False)
    img = lambda a: np.clip(a.transpose(1, 2, 0), 0, 1)
    labels = ["content"] + [lab for n in rep.results for lab in (n, f"{n} error")]
    for j, t in enumerate(picks):
        axes[0, j].imshow(img(rep.content[t]))
        axes[0, j].set_title(f"t = {t}", fontsize=8)
        for i, (name, r) in enumerate(rep.results.items()):
            axes[1 + 2 * i, j].imshow(img(r.frames[t]))
            enhanced = np.sqrt(np.clip(maps[name][t - 1] / vmax, 0, 1))  # gamma 0.5: contrast-enhanced
            axes[2 + 2 * i, j].imshow(np.ma.masked_invalid(enhanced), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for i, ax in enumerate(axes[:, 0]):
        ax.set_ylabel(labels[i], fontsize=7, rotation=0, ha="right", va="center")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{rep.name}: error maps |s_t - warp(s_t-1)|\n(full scale = 99th pct. = {vmax:.3f}, gamma 0.5; "
                 "blue = masked)", fontsize=8)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.5 / fig.get_figheight()))
    return _save_fig(fig, path)
