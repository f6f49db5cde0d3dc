"""A new user's first `vsstylize run`: the default method (the shipped network of the style, else optim), the
probe's s/frame and ETA printed before rendering, and a plain-text --help."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from vsstylize.cli.default_method import default_method
from vsstylize.cli.estimate import PROBE_ITERATIONS, probe
from vsstylize.cli.helptext import METHOD_SPEED, plain
from vsstylize.cli.main import main
from vsstylize.cli.run import _print_estimate, _run_parser, run_options
from vsstylize.options import StylizeOptions

from .conftest import DATA

BIKES = DATA / "videos" / "bikes.mp4"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vsstylize")
    _run_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["run", *argv])


@pytest.mark.data
def test_default_method_is_the_arbitrary_prior_network_for_any_painting() -> None:
    for styles in (["starry_night"], [str(DATA / "styles" / "shipwreck.jpg")], ["starry_night", "the_scream"]):
        choice = default_method(styles)
        assert (choice.method, choice.network) == ("network", None), styles  # the style goes to 'arbitrary-prior'
        assert "arbitrary-prior" in choice.reason
    # 360 video: the cube-face network of a shipped style, else the optimization
    assert default_method(["starry_night"], projection="equirect").network == "starry_night-prior-cube"
    for styles, given, projection in [([str(DATA / "styles" / "shipwreck.jpg")], (), "equirect"),
                                      (["starry_night"], ("num_iterations",), "planar"), (None, (), "planar")]:
        choice = default_method(styles, given, projection)  # type: ignore[arg-type]
        assert (choice.method, choice.network) == ("optim", None), (styles, given)
        assert "minutes per frame" in choice.reason


@pytest.mark.data
def test_run_without_method_uses_the_network_and_prints_method_and_eta(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.mp4"
    assert main(["run", str(BIKES), "--style", "starry_night", "-o", str(out), "--frames", "0:5", "--width", "64"]) == 0
    err = capsys.readouterr().err
    assert "vsstylize run: no --method given: using --method network (the arbitrary prior-image network" in err
    found = re.search(r"vsstylize run: network at 64x28 on this machine: about ([\d.]+) s/frame, ([\d.]+) s for 5 "
                      r"frames", err)
    assert found, err
    # the line prints s/frame to 0.01 and the ETA to 0.1: compare within that rounding (0.03 s/frame and "0.1 s
    # for 5 frames" is 0.026 x 5 = 0.13 printed, which failed a strict 0.1 >= 4 x 0.03)
    per_frame, eta = float(found.group(1)), float(found.group(2))
    assert per_frame > 0 and eta + 0.05 >= 4 * (per_frame - 0.005)
    assert err.index("on this machine") < err.index("stylize:")  # before the render's progress bar
    assert out.is_file()


@pytest.mark.data
def test_optim_estimate_scales_the_probe_to_the_iterations(capsys: pytest.CaptureFixture[str]) -> None:
    from vsstylize.cli.run import build_graph

    args = _args(str(BIKES), "--style", "starry_night", "-o", "unused.mp4", "--method", "optim", "--frames", "10:250",
                 "--width", "64", "--init", "image,prevWarped")
    est = probe(args, (2000, 1000), 240, lambda trial: build_graph(trial)[1])
    assert est.per_iteration is not None and est.per_iteration > 0
    assert est.per_frame >= 1000 * est.per_iteration  # the later frames' iterations, plus flow and setup
    assert est.first_frame >= (2000 - PROBE_ITERATIONS) * est.per_iteration
    assert est.total == pytest.approx(est.first_frame + 239 * est.per_frame)
    _print_estimate(args, run_options(args))
    err = capsys.readouterr().err
    assert re.search(r"optim at 64x28 on this machine: about .* per frame \(2000 iterations on the first frame, 1000 "
                     r"later\), .* for 240 frames", err), err
    assert "for a quick preview add --iterations 100,30 --width 64" in err


def test_run_help_is_plain_text_without_broken_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for markup in (":func:", ":class:", ":data:", ":mod:", "``", "vsstylize.resources"):
        assert markup not in text
    # every word of every option's documentation stands whole in the help (argparse's wrap split long ones)
    tokens = set(text.split())
    from dataclasses import fields

    for f in fields(StylizeOptions):
        if f.metadata["cli"] is not None:
            for word in plain(f.metadata["doc"]).split():
                assert word in tokens, (f.name, word)
    # one line per method, fastest first
    starts = [next(i for i, line in enumerate(text.splitlines()) if line.strip().startswith(f"{m}: "))
              for m in METHOD_SPEED]
    assert starts == sorted(starts)
    style_help = text[text.index("--style STYLE"):text.index("-o OUTPUT")]
    assert "clip" not in style_help
    assert "the_scream-prior" in text  # --network lists the shipped networks


@pytest.mark.data
def test_the_options_are_resolved_once_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``vsstylize run`` resolves its options once (the estimate's probe builds trial runs of its own)."""
    from vsstylize.methods import registry

    calls: list[str] = []
    real = registry.resolve
    monkeypatch.setattr(registry, "resolve", lambda spec, given: calls.append(spec.method) or real(spec, given))
    out = tmp_path / "net.mp4"
    assert main(["run", str(BIKES), "--method", "network", "--network", "starry_night-prior", "--frames", "0:2",
                 "--width", "64", "--no-estimate", "-o", str(out)]) == 0
    assert calls == ["network"] and out.is_file()
