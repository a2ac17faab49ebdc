"""The backbone loads torchvision ImageNet DenseNet state dicts by name."""

from __future__ import annotations

import pytest
import torch

from ladderseg_ros.model import build_model
from ladderseg_ros.weights import WeightsError, load_torchvision_densenet, remap_torchvision_keys

# (growth, blocks, init features) exactly as torchvision.models.densenet{121,161,169}.
TORCHVISION = {
    "ldn121": (32, (6, 12, 24, 16), 64),
    "ldn161": (48, (6, 12, 36, 24), 96),
    "ldn169": (32, (6, 12, 32, 32), 64),
}
BN = ("weight", "bias", "running_mean", "running_var")


def torchvision_shapes(growth: int, blocks: tuple[int, ...], init: int) -> dict[str, tuple]:
    """Key -> shape of torchvision's DenseNet state dict, written from its __init__."""
    shapes: dict[str, tuple] = {"features.conv0.weight": (init, 3, 7, 7)}
    shapes.update({f"features.norm0.{p}": (init,) for p in BN})
    channels = init
    for i, num_layers in enumerate(blocks, start=1):
        for j in range(1, num_layers + 1):
            pre = f"features.denseblock{i}.denselayer{j}."
            c_in = channels + (j - 1) * growth
            shapes.update({f"{pre}norm1.{p}": (c_in,) for p in BN})
            shapes[f"{pre}conv1.weight"] = (4 * growth, c_in, 1, 1)
            shapes.update({f"{pre}norm2.{p}": (4 * growth,) for p in BN})
            shapes[f"{pre}conv2.weight"] = (growth, 4 * growth, 3, 3)
        channels += num_layers * growth
        if i < len(blocks):
            shapes.update({f"features.transition{i}.norm.{p}": (channels,) for p in BN})
            shapes[f"features.transition{i}.conv.weight"] = (channels // 2, channels, 1, 1)
            channels //= 2
    shapes.update({f"features.norm5.{p}": (channels,) for p in BN})
    shapes["classifier.weight"] = (1000, channels)
    shapes["classifier.bias"] = (1000,)
    return shapes


# A hand-copied sample of real checkpoint entries (densenet121-a639ec97.pth & co.).
REAL_SAMPLE = {
    "ldn121": {
        "features.denseblock3.denselayer24.conv2.weight": (32, 128, 3, 3),
        "features.transition3.conv.weight": (512, 1024, 1, 1),
        "features.norm5.weight": (1024,),
        "classifier.weight": (1000, 1024),
    },
    "ldn161": {"features.conv0.weight": (96, 3, 7, 7), "features.norm5.bias": (2208,)},
    "ldn169": {"features.norm5.running_var": (1664,), "classifier.weight": (1000, 1664)},
}


def old_style(key: str) -> str:
    """torchvision's pre-0.4 names: ``denselayer1.norm.1.weight`` for ``denselayer1.norm1``."""
    for name in ("norm1", "norm2", "conv1", "conv2"):
        key = key.replace(f".{name}.", f".{name[:-1]}.{name[-1]}.")
    return key


@pytest.mark.parametrize("variant", sorted(TORCHVISION))
def test_backbone_names_and_shapes_match_torchvision(variant: str) -> None:
    expected = torchvision_shapes(*TORCHVISION[variant])
    for key, shape in REAL_SAMPLE[variant].items():
        assert expected[key] == shape
    ours = {
        k: tuple(v.shape)
        for k, v in build_model(variant).backbone.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    # The authors' LDN keeps torchvision's names but drops the classifier and its norm5.
    backbone = {
        k: v for k, v in expected.items() if not k.startswith(("classifier.", "features.norm5."))
    }
    assert ours == backbone


@pytest.mark.parametrize("old", [False, True])
def test_loads_torchvision_checkpoint(tmp_path, old: bool) -> None:
    model = build_model("ldn121")
    generator = torch.Generator().manual_seed(0)
    state = {
        (old_style(k) if old else k): torch.randn(shape, generator=generator)
        for k, shape in torchvision_shapes(*TORCHVISION["ldn121"]).items()
    }
    if old:
        assert "features.denseblock1.denselayer1.norm.1.weight" in state
    path = tmp_path / "densenet121.pth"
    torch.save(state, path)
    load_torchvision_densenet(model, path)
    loaded = model.backbone.state_dict()
    remapped = {
        k: v
        for k, v in remap_torchvision_keys(state).items()
        if not k.startswith("features.norm5.")
    }
    assert set(remapped) <= set(loaded)
    for key, value in remapped.items():
        assert torch.equal(loaded[key], value), key


def test_rejects_other_backbone(tmp_path) -> None:
    state = {
        k: torch.zeros(shape) for k, shape in torchvision_shapes(*TORCHVISION["ldn169"]).items()
    }
    path = tmp_path / "densenet169.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="densenet169.pth"):
        load_torchvision_densenet(build_model("ldn121"), path)


def test_split_block_sets_output_stride() -> None:
    assert build_model("ldn_tiny").output_stride == 64
    unsplit = build_model("ldn_tiny").config.backbone
    from dataclasses import replace

    model = build_model(
        "ldn_tiny", backbone=replace(unsplit, split_block=None), up_widths=(32, 16, 16)
    )
    assert model.output_stride == 32
    feats = model.backbone(torch.zeros(1, 3, 64, 96))
    assert [f.shape[-1] for f in feats] == [24, 12, 6, 3]


def test_ceil_mode_changes_nothing_on_the_padded_main_path() -> None:
    """LadderSeg pools without ceil mode (ONNX Runtime's NCHWc needs it); same numbers."""
    model = build_model("ldn_tiny").eval()
    x = torch.randn(1, 3, 128, 192)  # a multiple of the output stride, as forward pads to
    with torch.no_grad():
        ceil = model.backbone(x, ceil_mode=True)
        floor = model.backbone(x, ceil_mode=False)
    assert [f.shape for f in ceil] == [f.shape for f in floor]
    assert all(torch.equal(a, b) for a, b in zip(ceil, floor, strict=True))
    # odd maps (the scale-selection pyramid's levels) keep ceil mode by default
    odd = model.backbone(torch.zeros(1, 3, 100, 140))
    assert [tuple(f.shape[-2:]) for f in odd] == [(25, 35), (13, 18), (7, 9), (4, 5), (2, 3)]


@pytest.mark.parametrize("size", [(15, 21), (16, 21), (15, 20), (16, 20), (1, 1), (3, 2)])
def test_halve_is_pytorchs_ceil_mode_average_pool(size: tuple[int, int]) -> None:
    import torch.nn.functional as F

    from ladderseg_ros.model.densenet import halve

    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = F.avg_pool2d(x, 2, ceil_mode=True)
    torch.testing.assert_close(halve(x, True), expected, rtol=1e-6, atol=1e-6)
    if min(size) >= 2:  # a 1-pixel map has no window without ceil mode
        assert torch.equal(halve(x, False), F.avg_pool2d(x, 2))


@pytest.mark.parametrize("variant", ["ldn_tiny", "ldn_tiny_ss"])
def test_exported_graph_has_no_ceil_mode_pools(tmp_path, variant: str) -> None:
    """Neither the padded main path nor the scale-selection pyramid's odd-sized levels."""
    import onnx

    from ladderseg_ros.inference.export import export_onnx
    from ladderseg_ros.weights import WeightsMetadata

    model = build_model(variant).eval()
    path = export_onnx(
        model, WeightsMetadata.for_label_set(model.config, "cityscapes"), tmp_path / "t.onnx"
    )
    pools = [n for n in onnx.load(str(path)).graph.node if n.op_type == "AveragePool"]
    assert pools
    for node in pools:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes.get("ceil_mode", 0) == 0


def test_inference_running_concatenation_equals_the_training_list_form() -> None:
    """Eval keeps one running concatenation (one DQ per output in int8); same numbers."""
    from ladderseg_ros.model.densenet import _DenseBlock

    model = build_model("ldn_tiny").eval()
    generator = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=generator) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    blocks = [m for m in model.modules() if isinstance(m, _DenseBlock)]
    x = torch.randn(1, 3, 128, 192, generator=generator)
    with torch.no_grad():
        running = model(x)["out"]
        for block in blocks:  # the list form, as training runs it (BN still in eval)
            block.forward = lambda x, split=0, ceil_mode=True, b=block: b._forward_list(
                x, split, ceil_mode
            )
        listed = model(x)["out"]
    assert torch.equal(running, listed)


@pytest.mark.parametrize(("size", "ceil_mode"), [((16, 24), False), ((15, 21), True)])
def test_transition_pools_before_its_convolution_for_the_same_numbers(size, ceil_mode) -> None:
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    transition = build_model("ldn_tiny").backbone.features.transition1.eval()
    torch.manual_seed(0)
    transition.norm.running_mean.uniform_(-0.5, 0.5)
    transition.norm.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, transition.norm.num_features, *size)
    with torch.no_grad():
        authors = F.avg_pool2d(
            transition.conv(transition.relu(transition.norm(x))), 2, ceil_mode=ceil_mode
        )  # their order: convolution, then pool
        ours = transition(x, ceil_mode)
    assert ours.shape == authors.shape
    torch.testing.assert_close(ours, authors, rtol=1e-5, atol=1e-6)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        transition(x, ceil_mode)
    conv = transition.conv
    pooled = ours.shape[0] * ours.shape[2] * ours.shape[3]  # the 1x1 runs on pooled pixels
    assert counter.get_total_flops() == 2 * conv.in_channels * conv.out_channels * pooled
