"""One options model for every method: defaults in one place, an option a method does not use is an error naming
the method (Python and command line alike), dependent defaults follow the user's settings."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import fields

import pytest
import vapoursynth as vs

import vsstylize
from vsstylize.cli.main import main
from vsstylize.cli.run import _run_parser
from vsstylize.errors import OptionError
from vsstylize.methods.registry import find, resolve, specs
from vsstylize.options import StylizeOptions, option_names


def _clip(width: int = 64, height: int = 32) -> vs.VideoNode:
    return vs.core.std.BlankClip(format=vs.RGBS, width=width, height=height, length=2)


def _unused() -> list[tuple[str, str, str]]:
    return [(s.method, s.projection, name) for s in specs() for name in option_names() if name not in s.uses]


def test_every_method_is_registered_once() -> None:
    keys = [(s.method, s.projection) for s in specs()]
    assert sorted(keys) == sorted(set(keys))
    assert {("optim", "planar"), ("network", "planar"), ("flowfree", "planar"), ("hybrid", "planar"),
            ("multipass", "planar"), ("optim", "equirect"), ("network", "equirect")} == set(keys)
    # every option is used by some method, and every method uses the run options
    assert set(option_names()) == {n for s in specs() for n in s.uses}
    assert all(set(option_names("run")) <= s.uses for s in specs())


@pytest.mark.parametrize("method, projection, option", _unused())
def test_unused_option_is_an_error_naming_the_method(method: str, projection: str, option: str) -> None:
    where = "" if projection == "planar" else f" with projection='{projection}'"
    with pytest.raises(vs.Error, match=rf"^vsstylize\.stylize: method='{method}'{where} does not use {option}$"):
        vsstylize.stylize(_clip(), None, method, projection=projection, **{option: 1})  # type: ignore[arg-type, misc]


@pytest.mark.data
def test_unused_options_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """The same rule, worded with the command-line options; nothing is written."""
    from .conftest import DATA

    base = ["run", str(DATA / "videos" / "bikes.mp4"), "-o", str(tmp_path / "o.mp4"), "--frames", "0:2", "--width", "64"]
    cases = [
        (["--method", "network", "--network", "starry_night-prior", "--iterations", "5"],
         "vsstylize run: --method network does not use --iterations"),
        (["--method", "flowfree", "--network", "starry_night-flowfree", "--style", "starry_night"],
         "vsstylize run: --method flowfree does not use --style"),
        (["--method", "optim", "--style", "starry_night", "--num-passes", "3"],
         "vsstylize run: --method optim does not use --num-passes"),
        (["--method", "network"], "vsstylize run: network='arbitrary-prior' needs --style"),
        (["--method", "hybrid"], "vsstylize run: --method hybrid needs --network"),
        (["--method", "multipass", "--style", "starry_night", "--use-temporal-loss-after", "9", "--num-passes", "3"],
         "vsstylize run: --use-temporal-loss-after must be between 1 and --num-passes (3), got 9"),
        (["--style", "starry_night", "--content-weight", "much"], "vsstylize run: --content-weight must be a number"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message), err
        assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_cli_defaults_are_the_python_defaults() -> None:
    """Every stylization option of `vsstylize run` defaults to "not given", so the options model's default
    applies; the help shows that default."""
    import argparse

    parser = argparse.ArgumentParser()
    run = _run_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["run", "in.mp4", "-o", "out.mp4"])
    cli_options = [f for f in fields(StylizeOptions) if f.metadata["cli"] is not None and f.name != "matrix"]
    assert len(cli_options) > 40
    for f in cli_options:
        if f.name in ("cache_dir", "flow_cache"):
            continue
        assert getattr(args, f.name) is None, f.name
        if f.default is not None:
            shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else str(f.default)
            assert f"(default: {shown})" in " ".join(run.format_help().split()), f.name
    # the Python signature lists every option, each defaulting to None (the model's default)
    params = inspect.signature(vsstylize.stylize).parameters
    assert [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n != "projection"] == list(option_names())
    assert all(params[n].default is None for n in option_names())


def test_defaults_live_in_the_model_and_the_method() -> None:
    optim = resolve(find("optim", "planar"), {})
    assert optim.num_iterations == (2000, 1000) and optim.init == ("random", "prevWarped")
    assert resolve(find("hybrid", "planar"), {"network": "x"}).num_iterations == (30, 30)
    assert resolve(find("multipass", "planar"), {}).num_iterations == (100, 100)
    assert resolve(find("optim", "planar"), {"num_iterations": "50,10"}).num_iterations == (50, 10)
    weights = optim.loss_weights_for(640, 360)
    assert (weights.content, weights.style, weights.temporal, weights.tv) == (5.0, 100.0, 1e3, 1e-3)
    paper = resolve(find("optim", "planar"), {"loss_weights": "resolution", "style_weight": 7}).loss_weights_for(1024, 436)
    assert (paper.content, paper.style, paper.temporal) == (1.0, 7.0, 400.0)


@pytest.mark.parametrize("passes, after", [(3, 2), (10, 6), (15, 8), (1, 1)])
def test_multipass_temporal_loss_pass_follows_num_passes(passes: int, after: int) -> None:
    options = resolve(find("multipass", "planar"), {"num_passes": passes})
    assert options.multipass_settings().use_temporal_loss_after == after
    assert resolve(find("multipass", "planar"), {"num_passes": passes, "use_temporal_loss_after": 1}) \
        .multipass_settings().use_temporal_loss_after == 1


def test_option_errors_name_the_option_in_both_namings() -> None:
    from vsstylize.errors import PYTHON_NAMING, cli_naming

    with pytest.raises(OptionError) as info:
        resolve(find("multipass", "planar"), {"num_passes": 2, "use_temporal_loss_after": 5})
    assert info.value.render(PYTHON_NAMING) == "use_temporal_loss_after must be between 1 and num_passes (2), got 5"
    assert info.value.render(cli_naming()) == "--use-temporal-loss-after must be between 1 and --num-passes (2), got 5"
    with pytest.raises(vs.Error, match=r"^vsstylize\.stylize: method must be one of optim, network, flowfree, hybrid, "
                                       r"multipass, got 'paint'$"):
        vsstylize.stylize(_clip(), None, "paint")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1.5, float("nan"), float("inf"), "wide"])
def test_stroke_scale_must_be_positive(value: object) -> None:
    """One line naming the option; the spherical network (cube faces at their own size) does not take it."""
    with pytest.raises(vs.Error, match=r"^vsstylize\.stylize: stroke_scale must be a number"):
        vsstylize.stylize(_clip(), None, "flowfree", network="starry_night-flowfree", stroke_scale=value)  # type: ignore[arg-type]
    with pytest.raises(vs.Error, match=r"^vsstylize\.stylize: method='network' with projection='equirect' does not use "
                                       r"stroke_scale$"):
        vsstylize.stylize(_clip(64, 32), None, "network", projection="equirect", network="starry_night-prior",
                          stroke_scale=2.0)


def test_old_flags_of_renamed_options_are_still_accepted() -> None:
    parser = argparse.ArgumentParser()
    run = _run_parser(parser.add_subparsers())
    old = run.parse_args(["in.mp4", "-o", "out.mp4", "--style-weights", "3,7", "--model-weights", "vgg16"])
    new = run.parse_args(["in.mp4", "-o", "out.mp4", "--style-blend", "3,7", "--model-file", "vgg16"])
    assert (old.style_blend, old.model_file) == (new.style_blend, new.model_file) == ("3,7", "vgg16")
