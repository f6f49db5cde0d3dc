"""How a style-conditioned transformer runs fastest: the one function the network methods call.

On a CPU at inference, :func:`run_transformer` exports the transformer to ONNX once per input shape,
border-margin region and style-parameter layout (the style's ``gamma``/``beta`` stay *inputs*, so a new style or
a per-frame style vector reuses it) and runs it with onnxruntime's CPU provider (the export needs ``onnx``): on
the 2-core box (quiet), for the arbitrary network at 704x424 (640x360 and the border margin), that is 0.17 s
on one thread and 0.11 s on two, 1.6x torch eager on either, where channels_last gained 1.06x / 1.4x, a traced,
frozen oneDNN module nothing, ``torch.compile`` 1.47x after minutes of compilation, and onnxruntime's static int8
quantization was slower than this float export (``vsstylize_bench/suites/arbitrary_speed.py``, ``bench/arbitrary/``).
Without onnxruntime or onnx, on a GPU, or with
gradients it is the torch module itself (a failed export is logged once). Both give the same image within 1e-5.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .arbitrary import CINTransformer, StyleParameters
from .models import current_statistics_region, statistics_region

__all__ = ["Engine", "engine", "run_transformer"]

log = logging.getLogger("vsstylize")

#: Exported transformers kept (a clip has one frame size; a few sizes cover the stroke scales and cube faces).
_KEEP = 4
_RUNNERS: OrderedDict[tuple[object, ...], tuple[CINTransformer, Callable[..., torch.Tensor]]] = OrderedDict()
_LOCK = threading.Lock()
_EXPORT_LOCK = threading.Lock()
_FAILED: set[str] = set()


class _Flat(nn.Module):
    """``transformer(x, params)`` with the parameters as a flat list of tensors (what an export takes)."""

    def __init__(self, transformer: CINTransformer, names: list[str]) -> None:
        super().__init__()
        self.transformer = transformer
        self.names = names

    def forward(self, x: torch.Tensor, *flat: torch.Tensor) -> torch.Tensor:
        params = {n: (flat[2 * i], flat[2 * i + 1]) for i, n in enumerate(self.names)}
        return self.transformer(x, params)


def engine() -> str:
    """``"onnxruntime"`` when it can be imported, else ``"torch"`` (what :func:`run_transformer` uses on a CPU)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnxruntime"


Engine = Callable[..., torch.Tensor]


def _onnxruntime(transformer: CINTransformer, x: torch.Tensor, names: list[str], flat: list[torch.Tensor],
                 box: tuple[float, float, float, float] | None) -> Engine:
    import onnxruntime as ort

    inputs = ["x", *[f"p{i}" for i in range(len(flat))]]
    region = statistics_region(*box) if box is not None else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="vsstylize-onnx-") as tmp:
        path = Path(tmp) / "transformer.onnx"
        with torch.inference_mode(False), torch.no_grad(), region, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Flat(transformer, names).eval(), (x.clone(), *[t.clone() for t in flat]), str(path),
                              input_names=inputs, output_names=["y"], opset_version=17, dynamo=False)
        model = path.read_bytes()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def run(x: torch.Tensor, *flat: torch.Tensor) -> torch.Tensor:
        feed = {name: t.detach().contiguous().numpy() for name, t in zip(inputs, (x, *flat))}
        return torch.from_numpy(session.run(None, feed)[0])

    return run


def _cached(key: tuple[object, ...], transformer: CINTransformer) -> Engine | None:
    """The engine exported for ``key`` (and this very ``transformer``), marked as just used; ``None`` if none."""
    with _LOCK:
        found = _RUNNERS.get(key)
        if found is None or found[0] is not transformer:
            return None
        _RUNNERS.move_to_end(key)
        return found[1]


def _export_once(key: tuple[object, ...], transformer: CINTransformer, x: torch.Tensor, names: list[str],
                 flat: list[torch.Tensor], box: tuple[float, float, float, float] | None) -> Engine | None:
    """Export ``key``'s engine unless another thread just did; ``None`` when onnxruntime cannot run it (logged once).

    One export at a time: torch.onnx.export is not thread-safe (two frames computed together, each exporting, got
    sessions that differed by 1/255 on a few hundred pixels of a 720p frame).
    """
    with _EXPORT_LOCK:
        fn = _cached(key, transformer)
        if fn is not None or "onnxruntime" in _FAILED:
            return fn
        try:
            fn = _onnxruntime(transformer, x, names, flat, box)
        except Exception as exc:  # an export or onnxruntime failure: the torch module gives the same image
            log.warning("vsstylize: onnxruntime cannot run %s (%s: %s); using torch", transformer.spec.name,
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            _FAILED.add("onnxruntime")
            return None
        with _LOCK:
            _RUNNERS[key] = (transformer, fn)
            while len(_RUNNERS) > _KEEP:
                _RUNNERS.popitem(last=False)
        return fn


def run_transformer(transformer: CINTransformer, x: torch.Tensor, params: StyleParameters) -> torch.Tensor:
    """``transformer(x, params)``, the fastest way this machine has (see the module docstring).

    :param x: ``(N, C, H, W)`` float32, RGB in [0, 1] first. :param params: :meth:`CINTransformer.style_parameters`.
    :returns: ``(N, 3, H, W)`` RGB in [0, 1], within 1e-5 of the module's own output.
    """
    if x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_grad_enabled() or transformer.training \
            or "onnxruntime" in _FAILED or engine() != "onnxruntime":
        return transformer(x, params)
    names = sorted(params)
    flat = [t for n in names for t in params[n]]
    box = current_statistics_region()
    key = (id(transformer), tuple(x.shape), box, tuple(tuple(t.shape) for t in flat), torch.get_num_threads())
    fn = _cached(key, transformer) or _export_once(key, transformer, x, names, flat, box)
    return transformer(x, params) if fn is None else fn(x, *flat)
