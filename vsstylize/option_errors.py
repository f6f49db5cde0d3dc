"""Option errors that name the option the way the reader writes it (Python keyword or command-line flag).

Free of VapourSynth, so the parts of vsstylize that do not need it (losses, the optimizer, training) can raise
them; :mod:`vsstylize.errors` re-exports them beside the VapourSynth error type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PYTHON_NAMING", "Naming", "OptionError", "cli_naming"]


class Naming:
    """How an :class:`OptionError` names options and settings: Python keywords (``num_passes``,
    ``method='network'``) or command-line options (``--num-passes``, ``--method network``).

    :param name: option name -> how it is written.
    :param setting: ``(option, value)`` -> how that setting is written.
    """

    def __init__(self, name: Callable[[str], str], setting: Callable[[str, object], str]) -> None:
        self.name = name
        self.setting = setting

    def __getitem__(self, option: str) -> str:
        return self.name(option)


PYTHON_NAMING = Naming(lambda o: o, lambda o, v: f"{o}={v!r}")


def cli_naming(flags: dict[str, str] | None = None) -> Naming:
    """Command-line naming: ``--option-name`` (or ``flags[option]`` where an option has another flag)."""
    table = dict(flags or {})

    def name(option: str) -> str:
        return table.get(option, "--" + option.replace("_", "-"))

    return Naming(name, lambda o, v: f"{name(o)} {v}")


class OptionError(ValueError):
    """A bad value of one option, worded so that a Python caller and a command-line user each see their
    own names (:class:`Naming`).

    :param option: the option at fault (a field of :class:`vsstylize.options.StylizeOptions` or a
        parameter of a settings class).
    :param template: the message, a :meth:`str.format` template: ``{name}`` is ``option`` as the reader
        writes it, ``{opt[other]}`` another option, ``{set[other]}`` that option's value written as a
        setting (from ``values``); further fields come from ``values``.
    :param values: values for the template (and for ``{set[...]}``).
    """

    def __init__(self, option: str, template: str, **values: Any) -> None:
        self.option = option
        self.template = template
        self.values = values
        super().__init__(self.render(PYTHON_NAMING))

    def render(self, naming: Naming) -> str:
        """The message with options named by ``naming``."""
        settings = {k: naming.setting(k, v) for k, v in self.values.items()}
        return self.template.format(name=naming.name(self.option), opt=naming, set=settings, **self.values)
