"""LadderSeg shapes, variants, configs, and end-to-end training through scale selection."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ladderseg_ros.model import VARIANTS, LadderSeg, ModelConfig, build_model


@pytest.mark.parametrize("name", ["ldn_tiny", "ldn_tiny_ss"])
@pytest.mark.parametrize("size", [(64, 128), (67, 131), (33, 45)])
def test_output_matches_any_input_size(name: str, size: tuple[int, int]) -> None:
    model = build_model(name, num_classes=5)
    h, w = size
    image = torch.randn(2, 3, h, w)
    disparity = torch.rand(2, 1, h, w) * 50
    baseline = torch.tensor([0.54, 0.2])
    out = model(image, disparity, baseline)
    assert out["out"].shape == (2, 5, h, w)
    strides = [64, 32, 16, 8]
    assert [a.shape for a in out["aux"]] == [(2, 5, -(-h // s), -(-w // s)) for s in strides]
    model.eval()
    with torch.no_grad():
        assert set(model(image, disparity, baseline)) == {"out"}


def test_tiny_variants_are_small_and_fast_enough() -> None:
    for name in ("ldn_tiny", "ldn_tiny_ss"):
        model = build_model(name)
        assert sum(p.numel() for p in model.parameters()) < 500_000
    assert build_model("ldn_tiny_ss").uses_disparity
    assert not build_model("ldn_tiny").uses_disparity


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_config_round_trip(name: str) -> None:
    config = VARIANTS[name]
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_unknown_variant_and_missing_disparity() -> None:
    with pytest.raises(KeyError, match="ldn999"):
        build_model("ldn999")
    with pytest.raises(ValueError, match="disparity"):
        build_model("ldn_tiny_ss")(torch.zeros(1, 3, 64, 64))


def test_scale_selection_switch_keeps_backbone_names() -> None:
    plain = build_model("ldn_tiny").state_dict()
    selecting = build_model("ldn_tiny_ss").state_dict()
    assert set(plain) < set(selecting)
    assert all(k.startswith("scale_selection.") for k in set(selecting) - set(plain))


def test_gradients_reach_pyramid_features_read_by_the_multiplexer() -> None:
    torch.manual_seed(0)
    model = build_model("ldn_tiny_ss", num_classes=3)
    selection = model.scale_selection
    channels = model.backbone.out_channels[selection.config.tap]
    # One map per pyramid level, each at its own (smaller) size as the front-end makes them.
    levels = [torch.randn(2, channels, s, s, requires_grad=True) for s in (8, 6, 5)]
    disparity = torch.full((2, 1, 64, 64), 500.0)  # near everywhere: the coarsest level
    disparity[:, :, :32] = 0.0  # invalid: the default level (0)
    selection(levels, disparity, torch.tensor([0.5, 0.5])).sum().backward()
    assert levels[2].grad.abs().sum() > 0
    assert levels[0].grad.abs().sum() > 0
    assert torch.count_nonzero(levels[1].grad) == 0
    # The selected features reach the input image, through the shared front-end.
    image = torch.randn(2, 3, 64, 64, requires_grad=True)
    model(image, torch.full((2, 1, 64, 64), 500.0), torch.tensor([0.5, 0.5]))[
        "out"
    ].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_scale_selection_trains() -> None:
    torch.manual_seed(0)
    model: LadderSeg = build_model("ldn_tiny_ss", num_classes=3)
    image = torch.randn(2, 3, 64, 64)
    disparity = torch.rand(2, 1, 64, 64) * 80
    baseline = torch.tensor([0.5, 0.5])
    target = (disparity[:, 0] > 40).long()  # a depth-dependent labelling
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        out = model(image, disparity, baseline)
        loss = F.cross_entropy(out["out"], target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
