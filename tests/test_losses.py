"""Losses: normalisation against hand computations, eq. 8 and eq. 12, style targets, the objective."""

from __future__ import annotations

import pytest
import torch

from vsstylize.optim import losses as L
from vsstylize.optim.vgg import LossNetwork


def test_gram_matrix_matches_hand_computation() -> None:
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [-1.0, 2.0]]]])  # (1, 2, 2, 2)
    # F = [[1,2,3,4],[0,1,-1,2]]; F F^T = [[30, 7], [7, 6]]; C*H*W = 8
    expected = torch.tensor([[[30.0, 7.0], [7.0, 6.0]]]) / 8
    torch.testing.assert_close(L.gram_matrix(f), expected)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        L.gram_matrix(torch.zeros(2, 4))


def test_content_and_style_loss_are_means() -> None:
    a = {"l": torch.ones(1, 2, 3, 3)}
    b = {"l": torch.zeros(1, 2, 3, 3)}
    assert L.content_loss(a, b).item() == pytest.approx(1.0)  # mean, not sum (18 elements)
    g = {"l": torch.full((1, 4, 4), 2.0)}
    t = {"l": torch.zeros(1, 4, 4)}
    assert L.style_loss(g, t).item() == pytest.approx(4.0)


def test_tv_loss_is_neural_styles() -> None:
    x = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0], [0.0, 0.0, 0.0]]]])
    # over i, j < 2: dx = x[i,j]-x[i,j+1]: (-1,-2),(0,0); dy = x[i,j]-x[i+1,j]: (-2,-1),(2,2)
    expected = 0.5 * ((1 + 4 + 0 + 0) + (4 + 1 + 4 + 4))
    assert L.tv_loss(x).item() == pytest.approx(expected)


def test_temporal_loss_eq8_and_zero_where_c_is_zero() -> None:
    x = torch.rand(1, 3, 6, 7)
    w = torch.rand(1, 3, 6, 7)
    c = torch.zeros(1, 1, 6, 7)
    c[..., :3, :] = 1.0
    expected = ((x - w)[..., :3, :] ** 2).sum() / x.numel()  # (1/D) sum c_k (x_k - w_k)^2, D = C*H*W
    torch.testing.assert_close(L.temporal_loss(x, w, c), expected)
    # changing x only where c = 0 does not change the loss
    x2 = x.clone()
    x2[..., 3:, :] += 5.0
    torch.testing.assert_close(L.temporal_loss(x2, w, c), expected)
    torch.testing.assert_close(L.temporal_loss(x2, w, c, "smoothl1"), L.temporal_loss(x, w, c, "smoothl1"))
    assert L.temporal_loss(x, w, torch.zeros(1, 1, 6, 7)).item() == 0.0
    with pytest.raises(ValueError, match="criterion"):
        L.temporal_loss(x, w, c, "l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="c must be"):
        L.temporal_loss(x, w, torch.ones(1, 2, 6, 7))


def test_smoothl1_is_quadratic_then_linear() -> None:
    x = torch.tensor([[[[0.5, 3.0]]]]).expand(1, 3, 1, 2).contiguous()
    w = torch.zeros_like(x)
    c = torch.ones(1, 1, 1, 2)
    # per element: 0.5*0.5^2 = 0.125 and 3 - 0.5 = 2.5; mean over 6 elements
    assert L.temporal_loss(x, w, c, "smoothl1").item() == pytest.approx((0.125 + 2.5) / 2)


def test_long_term_weights_eq12_hand_example() -> None:
    c1 = torch.tensor([[[[1.0, 0.0, 0.0, 0.5]]]])
    c2 = torch.tensor([[[[1.0, 1.0, 0.0, 1.0]]]])
    c4 = torch.tensor([[[[1.0, 1.0, 1.0, 1.0]]]])
    out = L.long_term_weights([c1, c2, c4])
    torch.testing.assert_close(out[0], c1)
    torch.testing.assert_close(out[1], torch.tensor([[[[0.0, 1.0, 0.0, 0.5]]]]))
    torch.testing.assert_close(out[2], torch.tensor([[[[0.0, 0.0, 1.0, 0.0]]]]))
    with pytest.raises(ValueError):
        L.long_term_weights([])


def test_default_loss_weights_table() -> None:
    assert L.default_loss_weights(450, 350) == L.LossWeights(1, 20, 200, 1e-3)
    assert L.default_loss_weights(512, 218) == L.LossWeights(1, 40, 200, 1e-3)
    assert L.default_loss_weights(1024, 436) == L.LossWeights(1, 100, 400, 1e-3)
    assert L.default_loss_weights(384, 187).style == 20
    mid = L.default_loss_weights(768, 327)  # half way between 512 and 1024
    assert mid.style == pytest.approx(70) and mid.temporal == pytest.approx(300)
    assert L.default_loss_weights(4096, 2000).style == 100  # held outside the table
    assert L.LossWeights(5, 100, 1e3, 1e-3) == L.ARTISTIC_VIDEOS_WEIGHTS
    with pytest.raises(ValueError):
        L.LossWeights(style=-1)


def test_style_target_blend_and_scale(net: LossNetwork) -> None:
    g = torch.Generator().manual_seed(0)
    s1 = torch.rand(1, 3, 40, 60, generator=g)
    s2 = torch.rand(1, 3, 30, 30, generator=g) * 0.3
    layers = ("relu1_1", "relu2_1")
    t1 = L.StyleTarget(net, [s1], (32, 32), layers=layers)
    t2 = L.StyleTarget(net, [s2], (32, 32), layers=layers)
    mix = L.StyleTarget(net, [s1, s2], (32, 32), blend_weights=[3, 1], layers=layers)
    for n in layers:
        torch.testing.assert_close(mix.grams[n], 0.75 * t1.grams[n] + 0.25 * t2.grams[n])
    assert t1.style_size(s1, (32, 32)) == (21, 32)  # longer side = style_scale * 32
    half = L.StyleTarget(net, [s1], (32, 32), style_scale=0.5, layers=layers)
    assert half.style_size(s1, (32, 32)) == (11, 16)
    assert not torch.allclose(half.grams["relu2_1"], t1.grams["relu2_1"])
    with pytest.raises(ValueError, match="style_blend has 1 entries for 2 style images"):
        L.StyleTarget(net, [s1, s2], (32, 32), blend_weights=[1.0])
    with pytest.raises(ValueError, match="style_scale"):
        L.StyleTarget(net, [s1], (32, 32), style_scale=0)
    with pytest.raises(ValueError, match="relu9_9"):
        L.StyleTarget(net, [s1], (32, 32), layers=["relu9_9"])
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        L.StyleTarget(net, [s1[0]], (32, 32))


def test_video_objective_components(net: LossNetwork) -> None:
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 32, 32, generator=g)
    style = L.StyleTarget(net, [torch.rand(1, 3, 32, 32, generator=g)], (32, 32))
    prev = torch.rand(1, 3, 32, 32, generator=g)
    c = torch.ones(1, 1, 32, 32)
    obj = L.VideoObjective(net, content, style, L.ARTISTIC_VIDEOS_WEIGHTS, temporal=[(prev, c)])
    total, parts = obj(net.preprocess(content))
    assert set(parts) == {"content", "style", "temporal", "tv"}
    assert parts["content"].item() == 0.0  # x = content
    torch.testing.assert_close(total, sum(parts.values()))
    # temporal term in 0..255 pixel units: 1e3 * mean((255 (content - prev))^2)
    expected = 1e3 * ((255 * (content - prev)) ** 2).mean()
    torch.testing.assert_close(parts["temporal"], expected, rtol=1e-4, atol=0)
    # at x = warped previous frame, the temporal term vanishes
    _, parts2 = obj(net.preprocess(prev))
    assert parts2["temporal"].item() == pytest.approx(0.0, abs=1e-3)
    # disabled terms are absent
    obj0 = L.VideoObjective(net, content, style, L.LossWeights(temporal=0, tv=0), temporal=[(prev, c)])
    assert set(obj0(net.preprocess(content))[1]) == {"content", "style"}
    with pytest.raises(ValueError, match="reliability c"):
        L.VideoObjective(net, content, style, temporal=[(prev, torch.ones(1, 3, 32, 32))])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        L.VideoObjective(net, content, style, temporal=[(prev, c * 2)])
    with pytest.raises(ValueError, match="style layers"):
        L.VideoObjective(net, content, style, style_layers=["relu3_3"])


def test_temporal_loss_same_in_torchvision_space() -> None:
    """The temporal term is in 0..255 pixel units whatever the preprocessing of the weights."""
    caffe = LossNetwork("vgg16", preprocessing="caffe")
    tv = LossNetwork("vgg16", preprocessing="torchvision")
    a, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    c = torch.rand(1, 1, 8, 8)
    vals = []
    for n in (caffe, tv):
        scale = n.input_to_pixel255 if n.preprocessing == "torchvision" else None
        vals.append(L.temporal_loss(n.preprocess(a), n.preprocess(b), c, scale=scale))
        vals.append(L.tv_loss(n.preprocess(a), scale=scale))
    torch.testing.assert_close(vals[0], vals[2], rtol=1e-4, atol=0)
    torch.testing.assert_close(vals[1], vals[3], rtol=1e-4, atol=0)


def test_original_colors_keeps_content_chroma() -> None:
    g = torch.Generator().manual_seed(2)
    content = torch.rand(1, 3, 8, 8, generator=g) * 0.5 + 0.25
    gray = torch.full((1, 3, 8, 8), 0.5)
    out = L.original_colors(content, gray)
    # the luminance is the stylized image's, the chroma the content's
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close((out * w).sum(1), torch.full((1, 8, 8), 0.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(L.original_colors(content, content), content, atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        L.original_colors(content, torch.rand(1, 3, 4, 4))


def test_split_k_gram_matches_plain_product() -> None:
    """The GPU's split-K Gram (chunked batched matmul, zero-padded tail) equals f f^T, gradients too."""
    from vsstylize.optim.losses import split_k_gram

    f = torch.randn(2, 5, 1000, dtype=torch.float64, requires_grad=True)
    ref = torch.bmm(f, f.transpose(1, 2))
    got = split_k_gram(f, 96)  # 1000 is not a multiple of 96: exercises the padding
    assert torch.allclose(got, ref, rtol=1e-12, atol=1e-10)
    (g_ref,) = torch.autograd.grad(ref.square().sum(), f)
    (g_got,) = torch.autograd.grad(split_k_gram(f, 96).square().sum(), f)
    assert torch.allclose(g_got, g_ref, rtol=1e-10, atol=1e-8)


def test_mixed_precision_objective_close_to_float32() -> None:
    """bf16 autocast of the loss network (Grams and losses in float32) changes the loss by < 3 % and
    keeps the gradient's direction (cosine > 0.98)."""
    from vsstylize.optim.losses import LossWeights, StyleTarget, VideoObjective
    from vsstylize.optim.vgg import LossNetwork

    torch.manual_seed(0)
    net = LossNetwork("vgg16", weights_name="random", last_layer="relu4_2")
    content = torch.rand(1, 3, 48, 64)
    style = torch.rand(1, 3, 48, 64)
    target = StyleTarget(net, [style], (48, 64), layers=("relu1_1", "relu2_1", "relu3_1"))
    w = LossWeights()
    x0 = net.preprocess(torch.rand(1, 3, 48, 64))
    out = []
    for dtype in (None, torch.bfloat16):
        obj = VideoObjective(net, content, target, w, style_layers=("relu1_1", "relu2_1", "relu3_1"), autocast=dtype)
        x = x0.clone().requires_grad_(True)
        total, _ = obj(x)
        total.backward()
        out.append((float(total), x.grad.flatten()))
    (l32, g32), (l16, g16) = out
    assert abs(l16 - l32) / l32 < 0.03
    assert float(torch.nn.functional.cosine_similarity(g16, g32, dim=0)) > 0.98
    with pytest.raises(ValueError, match="autocast"):
        VideoObjective(net, content, target, w, style_layers=("relu1_1",), autocast=torch.float64)
