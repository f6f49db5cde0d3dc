"""The stylization methods, registered in one place.

Each method module of this package declares its :class:`MethodSpec` entries in a module-level ``SPECS``
tuple; :func:`specs` collects them from every module of :mod:`vsstylize.methods`, so a new method is one new
module (and its tests). A spec says which options of :class:`~vsstylize.options.StylizeOptions` the method
uses, its own defaults, and the function that builds its graph.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Literal, get_args

import vapoursynth as vs

from ..errors import OptionError
from ..options import Method, Projection, StylizeOptions, option_names
from .style import StyleSource

__all__ = ["Build", "ChainKind", "MethodSpec", "Request", "find", "specs", "uses"]

#: How a method's frames depend on each other, which is what splits a render into independent units
#: (:func:`vsstylize.cli.distributed.plan_units`): ``recursive``, frame ``n`` needs the stylized frames before it
#: back to the chain start (units at shots and multiples of ``max_chain_length``); ``shot``, the frames of a shot
#: (or of a chunk of ``max_shot_length`` without ``overlap_chunks``) are computed together; ``independent``,
#: every frame on its own.
ChainKind = Literal["recursive", "shot", "independent"]


@dataclass(frozen=True)
class Request:
    """What a method's ``build`` gets.

    :ivar func: public name of the calling filter (error messages).
    :ivar clip: the user's clip (any constant format; the method converts it, e.g. with ``matrix``).
    :ivar style: style image(s) (``None`` for the network methods, which use the model's style).
    :ivar options: the options, with the method's defaults (:func:`resolve`).
    """

    func: str
    clip: vs.VideoNode
    style: StyleSource | list[StyleSource] | None
    options: StylizeOptions


Build = Callable[[Request], vs.VideoNode]


def uses(*groups: str, only: tuple[str, ...] = (), but: tuple[str, ...] = ()) -> frozenset[str]:
    """Option names of ``groups`` plus ``only``, without ``but`` (the ``run`` group is always included)."""
    names = {n for g in (*groups, "run") for n in option_names(g)} | set(only)
    return frozenset(names - set(but))


@dataclass(frozen=True)
class MethodSpec:
    """One stylization method.

    :ivar method: name (``stylize(method=...)``).
    :ivar projection: ``"planar"`` or ``"equirect"`` (360-degree video on cube faces).
    :ivar summary: one line for the docs and the CLI help.
    :ivar uses: the options it uses; any other option given is an error naming the method.
    :ivar build: builds the output clip.
    :ivar chain: how its frames depend on each other (:data:`ChainKind`); the Ray planner reads it.
    :ivar style: ``"required"``, ``"optional"`` or ``"unused"``.
    :ivar defaults: the method's own defaults of options whose model default is ``None``.
    :ivar check: further checks of the options (raises :class:`~vsstylize.errors.OptionError`).
    :ivar inputs: checks of the request's clips (the user's ``flows`` / ``weights``) that :meth:`validate` runs
        before anything is loaded (raises ``vs.Error`` naming the parameter).
    """

    method: Method
    projection: Projection
    summary: str
    uses: frozenset[str]
    build: Build
    chain: ChainKind
    style: str = "required"
    defaults: Mapping[str, object] = field(default_factory=dict)
    check: Callable[[StylizeOptions, Mapping[str, object]], None] | None = None
    inputs: Callable[[Request], None] | None = None

    def validate(self, request: Request) -> None:
        """Check ``request`` before anything is loaded (loss network, networks, flow estimators): the style the
        method needs or does not use, then the user's clips (:attr:`inputs`). :meth:`build` follows.

        :raises OptionError: a style missing or not used, naming ``style``.
        :raises vs.Error: a given clip of the wrong number, size, length, direction or step, naming it.
        """
        if self.style == "required" and request.style is None:
            raise OptionError("style", "{set[method]} needs {name}: an image file, a shipped style name, a clip, or a "
                              "list of them", method=self.method)
        if self.style == "unused" and request.style is not None:
            raise OptionError("style", "{set[method]} does not use {name}: the network's model was trained on its "
                              "own style", method=self.method)
        if self.inputs is not None:
            self.inputs(request)

    @property
    def label(self) -> str:
        return self.method if self.projection == "planar" else f"{self.method} ({self.projection})"


@cache
def specs() -> tuple[MethodSpec, ...]:
    """Every registered method, from the ``SPECS`` of the modules of :mod:`vsstylize.methods`."""
    package = importlib.import_module(__package__ or "vsstylize.methods")
    found: list[MethodSpec] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found += getattr(module, "SPECS", ())
    order = get_args(Method)
    return tuple(sorted(found, key=lambda s: (order.index(s.method), s.projection != "planar")))


def find(method: str, projection: str) -> MethodSpec:
    """The spec of ``method`` with ``projection``.

    :raises OptionError: unknown method, or one that does not work with ``projection`` (names the choices).
    """
    all_specs = specs()
    for spec in all_specs:
        if spec.method == method and spec.projection == projection:
            return spec
    methods = sorted({s.method for s in all_specs if s.projection == projection})
    every = dict.fromkeys(s.method for s in all_specs)
    if any(s.method == method for s in all_specs):
        raise OptionError("method", "{set[method]} does not work with {set[projection]}; it takes "
                          + ", ".join(methods), method=method, projection=projection)
    raise OptionError("method", "{name} must be one of " + ", ".join(every) + ", got {value!r}", value=method)


def resolve(spec: MethodSpec, given: Mapping[str, object]) -> StylizeOptions:
    """The options of a call of ``spec``'s method: ``given`` (``None`` = not given) over the method's defaults.

    :raises OptionError: an option the method does not use (naming the method), or a bad value.
    """
    chosen = {k: v for k, v in given.items() if v is not None}
    for name in chosen:
        if name not in spec.uses:
            raise OptionError(name, "{set[method]}" + ("" if spec.projection == "planar" else " with {set[projection]}")
                              + " does not use {name}", method=spec.method, projection=spec.projection)
    options = StylizeOptions.from_values({**spec.defaults, **chosen})
    if spec.check is not None:
        spec.check(options, chosen)
    return options
