"""The temporally consistent variants of the arbitrary network (issue 28): the prior variant is the per-frame network
before fine-tuning and with an empty prior by construction, the shipped variants load and are the defaults of the
network methods, and the fine-tuning resumes after a kill to the same weights."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from safetensors.torch import load_file

import vsstylize
from tests.conftest import DATA
from vsstylize.cli.default_method import default_method
from vsstylize.networks.arbitrary import CINTransformer
from vsstylize.networks.pretrained import load_pretrained, load_temporal
from vsstylize.networks.temporal import ArbitraryPrior, PriorHead, PriorHeadSpec
from vsstylize.train.arbitrary import FineTuneSettings, fine_tune, style_codes
from vsstylize.weights import lookup


def _params(transformer: CINTransformer, n: int = 1) -> dict:
    torch.manual_seed(1)
    return transformer.style_parameters(torch.randn(n, transformer.spec.code_dim))


def test_prior_variant_is_the_per_frame_network_at_step_0_and_with_an_empty_prior() -> None:
    base, _, _ = load_pretrained("arbitrary")
    params = _params(base, 2)
    torch.manual_seed(0)
    frame, prior = torch.rand(2, 3, 40, 56), torch.rand(2, 3, 40, 56)
    mask = (torch.rand(2, 1, 40, 56) > 0.3).float()
    fresh = ArbitraryPrior(base, PriorHead())
    with torch.no_grad():
        per_frame = fresh.per_frame(frame, params)  # the engine the variant runs the transformer with
        # step 0: the head's last convolution is zero, so even a full prior changes nothing
        assert torch.equal(fresh(torch.cat((frame, prior * mask, mask), 1), params), per_frame)
        trained = ArbitraryPrior(base, PriorHead(PriorHeadSpec(8, (1, 2))))
        for p in trained.head.parameters():
            p.normal_(0.0, 0.5)
        with_prior = trained(torch.cat((frame, prior * mask, mask), 1), params)
        empty = trained(torch.cat((frame, torch.zeros(2, 4, 40, 56)), 1), params)
    assert torch.equal(empty, per_frame)  # an empty prior: the per-frame network, whatever the head learnt
    changed = (with_prior - per_frame).abs().amax(1, keepdim=True) > 0
    assert bool(changed.any())
    assert not bool((changed & (mask == 0)).any())  # disoccluded pixels: the per-frame output (no ghosting)
    with pytest.raises(ValueError, match="expects"):
        fresh(frame, params)


def test_the_shipped_variants_load_on_the_shipped_base() -> None:
    base, _, base_digest = load_pretrained("arbitrary")
    prior, _, _ = load_temporal("arbitrary-prior")
    flowfree, _, _ = load_temporal("arbitrary-flowfree")
    assert isinstance(prior, ArbitraryPrior) and prior.transformer is base
    assert isinstance(flowfree, CINTransformer) and flowfree.spec == base.spec
    differs = [k for k, v in base.state_dict().items() if not torch.equal(v, flowfree.state_dict()[k])]
    assert differs and all(".conv." in k for k in differs)  # convolutions fine-tuned, style heads as the base
    for name in ("arbitrary-prior", "arbitrary-flowfree"):
        path = lookup(name)
        assert path is not None and path.parent.name == "temporal"
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["base"]["sha256"] == base_digest
        assert card["training"]["iterations"] >= 1000 and card["training"]["wall_seconds"] > 0
        text = json.dumps(card)
        assert "/work" not in text and "/tmp" not in text and "/root" not in text  # no machine paths


@pytest.mark.data
def test_network_and_flowfree_default_to_the_variants(core: vs.Core) -> None:
    clip = core.resize.Bicubic(core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[:3], 160, 68, format=vs.RGBS,
                               matrix_in_s="170m")
    style = str(DATA / "styles" / "the_scream.jpg")
    per_frame = vsstylize.stylize(clip, style, method="flowfree", network="arbitrary")
    prior = vsstylize.stylize(clip, style, method="network")
    explicit = vsstylize.stylize(clip, style, method="network", network="arbitrary-prior")
    flowfree = vsstylize.stylize(clip, style, method="flowfree")

    def plane(c: vs.VideoNode, n: int) -> np.ndarray:
        return np.stack([np.asarray(c.get_frame(n)[p]) for p in range(3)])

    # frame 0 of a shot has an empty prior: the per-frame network's output exactly
    assert np.array_equal(plane(prior, 0), plane(per_frame, 0))
    assert np.array_equal(plane(prior, 2), plane(explicit, 2))
    assert not np.array_equal(plane(prior, 2), plane(per_frame, 2))
    assert not np.array_equal(plane(flowfree, 0), plane(per_frame, 0))
    with pytest.raises(vs.Error, match=r"network='arbitrary-prior' needs style"):
        vsstylize.stylize(clip, method="network")
    with pytest.raises(vs.Error, match=r"method='network' takes a prior-image network"):
        vsstylize.stylize(clip, style, method="network", network="arbitrary")


def test_run_without_method_uses_the_prior_variant_for_any_painting() -> None:
    choice = default_method(["any_painting.jpg"])
    assert (choice.method, choice.network) == ("network", None) and "arbitrary-prior" in choice.reason
    assert default_method(["a.jpg", "b.jpg"]).method == "network"  # a blend
    assert default_method(["a.jpg"], given=["num_iterations"]).method == "optim"
    assert default_method(None).method == "optim"


def test_style_codes_are_a_pure_function_of_seed_and_iteration() -> None:
    vectors = torch.randn(5, 100)
    a, wa = style_codes(vectors, 0, 17, 6, 0.5)
    b, wb = style_codes(vectors, 0, 17, 6, 0.5)
    assert torch.equal(a, b) and wa == wb
    assert all(abs(sum(w) - 1.0) < 1e-9 and max(w) < 1.0 + 1e-9 for w in wa)
    assert any(sorted(w)[-2] > 0 for w in style_codes(vectors, 0, 3, 64, 0.5)[1])  # some blends
    assert not torch.equal(a, style_codes(vectors, 0, 18, 6, 0.5)[0])


def _settings(tmp: Path, variant: str, iterations: int) -> FineTuneSettings:
    styles = [str(DATA / "styles" / "starry_night.jpg"), str(DATA / "styles" / "the_scream.jpg")]
    return FineTuneSettings(variant, styles, [str(DATA / "content" / "tubingen.jpg")], str(tmp / f"{variant}.safetensors"),  # type: ignore[arg-type]
                            size=32, batch_size=2, iterations=iterations, checkpoint_every=2,
                            head=PriorHeadSpec(4, (1,)), data_cache=str(tmp / "data-cache"))


@pytest.mark.data
@pytest.mark.parametrize("variant", ["prior", "flowfree"])
def test_fine_tuning_writes_weights_card_and_resumes_to_the_same_weights(tmp_path: Path, variant: str) -> None:
    whole = _settings(tmp_path / "whole", variant, 6)
    out = fine_tune(whole, progress=False)
    weights = load_file(str(out))
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["iterations"] == 6 and len(card["styles"]) == 2
    assert card["training"]["data"]["images"] == ["tubingen.jpg"] and str(DATA) not in json.dumps(card)
    assert all(k.startswith("head." if variant == "prior" else "transformer.") for k in weights)
    # a run stopped after its checkpoint of iteration 4, then run again: the same weights

    def stop(iteration: int) -> None:
        if iteration == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fine_tune(_settings(tmp_path / "part", variant, 6), progress=False, on_checkpoint=stop)
    assert not (tmp_path / "part" / f"{variant}.safetensors").exists()
    resumed = fine_tune(_settings(tmp_path / "part", variant, 6), progress=False)
    again = load_file(str(resumed))
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    with pytest.raises(ValueError, match="other settings"):
        other = _settings(tmp_path / "part", variant, 8)
        other.temporal_weight = 9.0
        fine_tune(other, progress=False)


@pytest.mark.data
@pytest.mark.slow
def test_fine_tuning_resumes_after_sigkill(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "vsstylize.train.arbitrary", "prior", "--style", str(DATA / "styles" / "the_scream.jpg"),
           "--data", str(DATA / "content" / "tubingen.jpg"), "-o", str(tmp_path / "p.safetensors"), "--size", "32",
           "--batch-size", "2", "--iterations", "400", "--checkpoint-every", "5", "--head-width", "4", "--quiet"]
    proc = subprocess.Popen(cmd)
    ckpt = tmp_path / "p.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = torch.load(ckpt, weights_only=False)["iteration"]
    assert 5 <= done < 400 and not (tmp_path / "p.safetensors").exists()
    assert subprocess.run(cmd, timeout=600).returncode == 0
    card = json.loads((tmp_path / "p.json").read_text())
    assert card["training"]["iterations"] == 400 and len(torch.load(ckpt, weights_only=False)["history"]) == 400
