"""``ladderseg import-ldn``: the authors' LDN checkpoints, mapped onto ``ldn121`` exactly.

The fixture writes a state dict with the names and shapes of the authors' released code
(GitHub ivankreso/LDN, ``models/ldn_semseg.py`` + ``layers.py``), spelled out here from their
module structure; ``reference_forward`` is their forward pass written with functional ops on
those raw tensors, independent of ``LadderSeg``.
"""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F

from ladderseg_ros.cli.main import main
from ladderseg_ros.ldn_import import AUTHORS_MEAN, LdnImportError, import_ldn
from ladderseg_ros.weights import load_weights, read_metadata

BLOCKS = (6, 12, 24, 16)
GROWTH = 32
UP_WIDTHS = (256, 256, 128, 128)


def authors_state(classes: int = 19, aux: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the authors' names (DenseNet-121, ImageNet-initialized layout)."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def bn(prefix: str, c: int) -> None:
        state[f"{prefix}.weight"] = torch.rand(c, generator=gen) + 0.5
        state[f"{prefix}.bias"] = torch.randn(c, generator=gen) * 0.1
        state[f"{prefix}.running_mean"] = torch.randn(c, generator=gen) * 0.2
        state[f"{prefix}.running_var"] = torch.rand(c, generator=gen) + 0.5
        state[f"{prefix}.num_batches_tracked"] = torch.tensor(1000)

    def conv(prefix: str, cin: int, cout: int, k: int, bias: bool = False) -> None:
        state[f"{prefix}.weight"] = (
            torch.randn(cout, cin, k, k, generator=gen) * (2 / (cin * k * k)) ** 0.5
        )
        if bias:
            state[f"{prefix}.bias"] = torch.randn(cout, generator=gen) * 0.1

    def brc(prefix: str, cin: int, cout: int, k: int, bias: bool = False) -> None:
        bn(f"{prefix}.norm", cin)
        conv(f"{prefix}.conv", cin, cout, k, bias)

    conv("features.conv0", 3, 64, 7)
    bn("features.norm0", 64)
    c, skips = 64, []
    for b, n in enumerate(BLOCKS, start=1):
        for i in range(n):
            p = f"features.denseblock{b}.denselayer{i + 1}"
            bn(f"{p}.norm1", c + i * GROWTH)
            conv(f"{p}.conv1", c + i * GROWTH, 4 * GROWTH, 1)
            bn(f"{p}.norm2", 4 * GROWTH)
            conv(f"{p}.conv2", 4 * GROWTH, GROWTH, 3)
        if b == 3:
            skips.append(c + (n // 2) * GROWTH)
        c += n * GROWTH
        if b < 4:
            skips.append(c)
            bn(f"features.transition{b}.norm", c)
            conv(f"features.transition{b}.conv", c, c // 2, 1)
            c //= 2
    brc("spp.spp.spp_bn", c, 512, 1)
    for i in range(4):
        brc(f"spp.spp.spp{i}", 512, 128, 1)
    brc("spp.spp.spp_fuse", 1024, 512, 1)
    width = 512
    for i, out in enumerate(UP_WIDTHS):
        p = f"upsample_layers.upsample_{i}"
        brc(f"{p}.bottleneck", skips[-1 - i], width, 1)
        if aux:
            brc(f"{p}.aux_logits", width, classes, 1, bias=True)
        if out != width:
            brc(f"{p}.skip_bt", width, out, 1)
        blend_in = width
        if width > 128:
            brc(f"{p}.blend_bt", width, 128, 1)
            blend_in = 128
        brc(f"{p}.blend_conv", blend_in, out, 3)
        width = out
    brc("logits", width, classes, 1, bias=True)
    return state


def reference_forward(s: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
    """The authors' LDN-121 forward pass, written from their description on raw tensors."""

    def bn(x: torch.Tensor, p: str) -> torch.Tensor:
        mean, var = s[f"{p}.running_mean"], s[f"{p}.running_var"]
        return F.batch_norm(x, mean, var, s[f"{p}.weight"], s[f"{p}.bias"], False, 0.0, 1e-5)

    def brc(x: torch.Tensor, p: str, pad: int = 0) -> torch.Tensor:
        w = s[f"{p}.conv.weight"]
        return F.conv2d(F.relu(bn(x, f"{p}.norm")), w, s.get(f"{p}.conv.bias"), padding=pad)

    def up(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return F.interpolate(x, size, mode="bilinear", align_corners=False)

    x = F.conv2d(image, s["features.conv0.weight"], stride=2, padding=3)
    x = F.max_pool2d(F.relu(bn(x, "features.norm0")), 2, 2)
    skips = []
    for b, n in enumerate(BLOCKS, start=1):
        for i in range(n):
            if b == 3 and i == n // 2:
                skips.append(x)
                x = F.avg_pool2d(x, 2, 2)
            p = f"features.denseblock{b}.denselayer{i + 1}"
            h = F.conv2d(F.relu(bn(x, f"{p}.norm1")), s[f"{p}.conv1.weight"])
            h = F.conv2d(F.relu(bn(h, f"{p}.norm2")), s[f"{p}.conv2.weight"], padding=1)
            x = torch.cat([x, h], 1)
        if b < 4:
            skips.append(x)
            t = F.conv2d(
                F.relu(bn(x, f"features.transition{b}.norm")),
                s[f"features.transition{b}.conv.weight"],
            )
            x = F.avg_pool2d(t, 2, 2)
    y = brc(x, "spp.spp.spp_bn")
    size = y.shape[-2:]
    levels = [y]
    for i, g in enumerate((8, 4, 2, 1)):
        grid = (g, max(1, round(g * size[1] / size[0])))
        levels.append(up(brc(F.adaptive_avg_pool2d(y, grid), f"spp.spp.spp{i}"), size))
    x = brc(torch.cat(levels, 1), "spp.spp.spp_fuse")
    for i in range(4):
        p = f"upsample_layers.upsample_{i}"
        skip = brc(skips[-1 - i], f"{p}.bottleneck")
        upsampled = up(x, skip.shape[-2:])
        z = skip + upsampled
        if f"{p}.blend_bt.conv.weight" in s:
            z = brc(z, f"{p}.blend_bt")
        z = brc(z, f"{p}.blend_conv", pad=1)
        if f"{p}.skip_bt.conv.weight" in s:
            upsampled = brc(upsampled, f"{p}.skip_bt")
        x = z + upsampled
    return up(brc(x, "logits"), image.shape[-2:])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple:
    folder = tmp_path_factory.mktemp("ldn")
    state = authors_state()
    path = folder / "ldn121_weights_cityscapes_train.pt"
    torch.save(state, path)
    return path, state


def test_import_loads_strictly_and_matches_the_authors_forward(checkpoint, tmp_path) -> None:
    path, state = checkpoint
    out = tmp_path / "ldn121_cityscapes.safetensors"
    assert main(["import-ldn", str(path), str(out)]) == 0
    model, metadata = load_weights(out)  # strict: every tensor named and shaped
    assert metadata.model.name == "ldn121"
    assert metadata.model.aux_heads
    assert (
        sum(p.numel() for n, p in model.named_parameters() if not n.startswith("aux_heads"))
        == 10_314_515
    )
    # An 8-row SPP grid over a 2-row map: legal in the authors' code, and here.
    image = torch.randn(1, 3, 128, 192, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(image)["out"]
        theirs = reference_forward(state, image)
    assert ours.shape == theirs.shape == (1, 19, 128, 192)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4), (ours - theirs).abs().max()
    assert torch.equal(ours.argmax(1), theirs.argmax(1))


def test_import_records_the_authors_normalization_and_scale(checkpoint, tmp_path) -> None:
    out = tmp_path / "w.safetensors"
    import_ldn(checkpoint[0], out)
    meta = read_metadata(out)
    assert meta.label_set == "cityscapes"
    assert meta.model.num_classes == 19
    assert meta.mean == pytest.approx(tuple(v / 255 for v in AUTHORS_MEAN))
    assert meta.std[0] == pytest.approx(45.19961 / 255)
    assert meta.input_size == (2048, 1024)
    assert meta.focal_length == pytest.approx(2262.52)
    assert meta.provenance["checkpoint"] == checkpoint[0].name
    assert len(meta.provenance["checkpoint_sha256"]) == 64


def test_module_prefix_old_names_and_no_aux_heads(tmp_path) -> None:
    state = authors_state(aux=False, seed=2)
    old = {}
    for key, value in state.items():
        for name in ("norm1", "norm2", "conv1", "conv2"):
            if ".denselayer" in key:
                key = key.replace(f".{name}.", f".{name[:-1]}.{name[-1]}.")
        old[f"module.{key}"] = value
    assert "module.features.denseblock1.denselayer1.norm.1.weight" in old
    del old["module.logits.norm.num_batches_tracked"]  # PyTorch < 0.4.1 wrote no counters
    path = tmp_path / "wrapped.pt"
    torch.save(old, path)
    out = tmp_path / "w.safetensors"
    import_ldn(path, out)
    model, metadata = load_weights(out)
    assert not metadata.model.aux_heads
    assert model.aux_heads is None
    image = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(model(image)["out"], reference_forward(state, image), atol=1e-4)


def test_another_shape_names_the_first_key(tmp_path, capsys) -> None:
    state = authors_state(seed=4)
    state["upsample_layers.upsample_2.blend_conv.conv.weight"] = torch.zeros(128, 64, 3, 3)
    path = tmp_path / "other.pt"
    torch.save(state, path)
    assert main(["import-ldn", str(path), str(tmp_path / "w.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert (
        "other.pt: upsample_layers.upsample_2.blend_conv.conv.weight: shape (128, 64, 3, 3)" in err
    )
    assert "needs (128, 128, 3, 3)" in err
    assert not (tmp_path / "w.safetensors").exists()
    state = authors_state(seed=4)
    state["spp.spp.extra.weight"] = torch.zeros(3)
    torch.save(state, path)
    with pytest.raises(LdnImportError, match="spp.spp.extra.weight: no such tensor in ldn121"):
        import_ldn(path, tmp_path / "w.safetensors")


class _Exploit:
    def __reduce__(self):
        return (print, ("PWNED",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_never_unpickles_and_never_overwrites(checkpoint, tmp_path, capsys) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"features.conv0.weight": torch.zeros(1), "x": _Exploit()}, evil, pickle_protocol=2)
    with pytest.raises(LdnImportError, match="evil.pt is not a tensors-only PyTorch file"):
        import_ldn(evil, tmp_path / "w.safetensors")
    assert "PWNED" not in capsys.readouterr().out
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(LdnImportError, match="raw.pt"):
        import_ldn(raw, tmp_path / "w.safetensors")
    assert "PWNED" not in capsys.readouterr().out
    out = tmp_path / "exists.safetensors"
    out.write_bytes(b"keep me")
    assert main(["import-ldn", str(checkpoint[0]), str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    with pytest.raises(LdnImportError, match="is a directory"):
        import_ldn(tmp_path, tmp_path / "w.safetensors")
