"""`vsstylize bench --quick`: this machine's s/frame of every method at 640x360, the machine named, fastest first."""

from __future__ import annotations

import re

import pytest

from vsstylize.cli.helptext import METHOD_SPEED
from vsstylize.cli.main import main


@pytest.mark.slow
def test_quick_bench_prints_each_methods_seconds_per_frame(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick"]) == 0
    out = capsys.readouterr().out
    assert re.match(r"vsstylize bench --quick: 640x360 on .+, \d+ usable .* cores, GPU .+ load average", out), out
    rows = re.findall(r"^  (\w+) +([\d.]+) (s|min|h)(?:/frame| per frame)", out, flags=re.M)
    assert [r[0] for r in rows] == list(METHOD_SPEED), out  # every method, in the help's order of speed
    seconds = [float(v) * {"s": 1, "min": 60, "h": 3600}[unit] for _, v, unit in rows]
    assert all(s > 0 for s in seconds)
    assert seconds[1] < seconds[2] < seconds[3], out  # network < hybrid (network + 30 iterations) < optim


def test_bench_without_out_or_quick_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert capsys.readouterr().err == "vsstylize bench: error: --out is required (the report folder), or --quick\n"
