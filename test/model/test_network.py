"""LadderSeg shapes, variants, configs, and end-to-end training through scale selection."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from ladderseg_ros.cli.args import parse_size
from ladderseg_ros.cli.main import main
from ladderseg_ros.errors import LadderSegError
from ladderseg_ros.model import (
    VARIANTS,
    DenseNetSpec,
    LadderSeg,
    ModelConfig,
    ModelError,
    ScaleSelectionConfig,
    build_model,
)


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


def test_bad_settings_are_model_errors() -> None:
    with pytest.raises(ModelError, match="ldn999.*known: ldn121"):
        build_model("ldn999")
    with pytest.raises(ModelError, match="disparity"):
        build_model("ldn_tiny_ss")(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ModelError, match="num_classes"):
        build_model("ldn_tiny", num_classes=0)
    with pytest.raises(ModelError, match="bad override"):
        build_model("ldn_tiny", no_such_field=1)
    with pytest.raises(ModelError, match="block_config"):
        DenseNetSpec(block_config=(1, 2, 3))
    with pytest.raises(ModelError, match="split_layer"):
        DenseNetSpec(block_config=(2, 2, 2, 2), split_layer=2)
    with pytest.raises(ModelError, match="tap"):
        dataclasses.replace(VARIANTS["ldn_tiny"], scale_selection=ScaleSelectionConfig(tap=4))
    assert issubclass(ModelError, LadderSegError)
    assert issubclass(ModelError, ValueError)


def test_info_cli_reports_a_bad_setting_in_one_line(capsys) -> None:
    assert main(["info", "ldn_tiny", "--num-classes", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "ladderseg info: error: num_classes must be in 1..255, got 0"


def test_scale_selection_switch_keeps_backbone_names() -> None:
    plain = build_model("ldn_tiny").state_dict()
    selecting = build_model("ldn_tiny_ss").state_dict()
    assert set(plain) < set(selecting)
    assert all(k.startswith("scale_selection.") for k in set(selecting) - set(plain))


def test_multiplexer_sends_gradients_to_the_levels_it_read() -> None:
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


def _pyramid_gradients(model: LadderSeg, disparity: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of a loss w.r.t. the front-end features of pyramid levels 1.. in ``forward``.

    A pre-hook on the ScaleSelection module catches the features the network computed for
    each level (not a hand-made stand-in), so detaching them in ``forward`` shows up here.
    """
    caught: list[torch.Tensor] = []

    def catch(_module, args):
        for feats in args[0][1:]:
            assert feats.requires_grad, "pyramid features are cut from the graph"
            feats.retain_grad()
            caught.append(feats)

    handle = model.scale_selection.register_forward_pre_hook(catch)
    try:
        image = torch.randn(2, 3, 64, 64)  # batch 2: BatchNorm at the 1x1 deepest level
        out = model(image, disparity, torch.tensor([0.5, 0.5]))
        F.cross_entropy(out["out"], torch.randint(0, 3, (2, 64, 64))).backward()
    finally:
        handle.remove()
    return [f.grad for f in caught]


def test_training_gradients_reach_the_pyramid_levels_selected_by_disparity() -> None:
    torch.manual_seed(0)
    model = build_model("ldn_tiny_ss", num_classes=3).train()
    assert model.scale_selection.config.num_levels == 3
    # Near (500 px at B = 0.5 m) everywhere: every reference size wants the coarsest level (2).
    near = torch.full((2, 1, 64, 64), 500.0)
    grads = _pyramid_gradients(model, near)
    assert len(grads) == 2
    assert grads[1] is not None
    assert grads[1].abs().sum() > 0
    assert grads[0] is None or torch.count_nonzero(grads[0]) == 0  # level 1: nothing selects it
    conv = model.scale_selection.project[-1]
    assert conv.weight.grad is not None
    assert conv.weight.grad.abs().sum() > 0
    # Far (tiny disparity) everywhere: level 0 only; the coarse levels get nothing.
    model.zero_grad()
    far = torch.full((2, 1, 64, 64), 0.5)
    assert all(g is None or torch.count_nonzero(g) == 0 for g in _pyramid_gradients(model, far))


def test_scale_selection_trains() -> None:
    torch.manual_seed(0)
    model: LadderSeg = build_model("ldn_tiny_ss", num_classes=3)
    image = torch.randn(2, 3, 64, 64)
    disparity = torch.rand(2, 1, 64, 64) * 80
    baseline = torch.tensor([0.5, 0.5])
    target = (disparity[:, 0] > 40).long()  # a depth-dependent labelling
    projection = model.scale_selection.project[-1].weight
    before = projection.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    losses = []
    for _ in range(12):
        optimizer.zero_grad()
        out = model(image, disparity, baseline)
        loss = F.cross_entropy(out["out"], target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    # The multiplexed features took part: their projection was trained (Adam leaves a
    # parameter whose gradient is always zero exactly where it was).
    assert not torch.equal(projection.detach(), before)


def test_one_size_parser_for_every_cli(capsys) -> None:
    assert parse_size("1024X448") == (1024, 448)
    for bad, message in [("1024", "look like 1024x448"), ("8x64", "at least 16x16")]:
        with pytest.raises(LadderSegError, match=message):
            parse_size(bad)
        with pytest.raises(SystemExit):
            main(["info", "ldn_tiny", "--size", bad])
        err = capsys.readouterr().err
        assert "argument --size: size must" in err
        assert message in err
