"""Your own data, measured: a CVAT export of six classes fine-tuned from the shipped weights.

Writes a CVAT "Segmentation mask 1.1" export of the synthetic world in six classes of its own
(``test/own_data.py``: Road, sidewalk, Vegetation, sky share a name with Cityscapes; vehicle and
structure do not), then runs the README's commands for two class sets of the same data:

- ``labelmap``: the export's ``labelmap.txt`` as it is (vehicle and structure start fresh);
- ``mapped``: ``ladderseg classes labelmap.txt --write`` plus ``source_names`` (vehicle <- car +
  truck + bus + train, structure <- building + wall + fence + pole: every head row carried).

Each: ``ladderseg train --config config/training/folder_finetune.yaml`` (from
``ldn_demo_mono.safetensors``, CPU, STEPS steps), ``ladderseg predict`` on the validation
images, ``ladderseg eval --label-set labelmap.txt`` against the colour masks. Prints the
carried-over/new class table and the per-class IoU and mIoU of each.

    .venv/bin/python bench/own_data_finetune.py --out runs/own_data      # ~5 min, 2-core CPU
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

from own_data import write_cvat_export  # noqa: E402

from ladderseg_ros.classes import load_class_set  # noqa: E402
from ladderseg_ros.cli.main import main as ladderseg  # noqa: E402
from ladderseg_ros.fileio import refuse_existing  # noqa: E402
from ladderseg_ros.weights import class_transfer_table, read_metadata  # noqa: E402

MONO = ROOT / "ladderseg_ros" / "assets" / "ldn_demo_mono.safetensors"
SOURCE_NAMES = {
    "vehicle": ["car", "truck", "bus", "train"],
    "structure": ["building", "wall", "fence", "pole"],
}


def _run(args: list[str]) -> None:
    print("$ ladderseg " + " ".join(args), flush=True)
    code = ladderseg(args)
    if code:
        raise SystemExit(f"ladderseg {args[0]} exited {code}")


def main(argv: list[str] | None = None) -> int:
    """Builds the export, fine-tunes, predicts and scores both class sets; prints tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="new folder for everything")
    p.add_argument("--train", type=int, default=120, help="training frames")
    p.add_argument("--val", type=int, default=20, help="validation frames")
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--epochs", type=int, default=4, help="epochs of batch 4")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    refuse_existing(args.out, FileExistsError)
    export = write_cvat_export(args.out / "export", args.train, args.val, args.width, args.height)
    gt = args.out / "val_gt"
    gt.mkdir()
    val = (export / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    images = args.out / "val_images"
    images.mkdir()
    for stem in val:
        shutil.copy(export / "SegmentationClass" / f"{stem}.png", gt)
        shutil.copy(export / "JPEGImages" / f"{stem}.jpg", images)
    labelmap = export / "labelmap.txt"
    mapped = args.out / "classes.yaml"
    _run(["classes", str(labelmap), "--write", str(mapped)])
    doc = yaml.safe_load(mapped.read_text())
    doc["source_names"] = SOURCE_NAMES
    mapped.write_text(yaml.safe_dump(doc, sort_keys=False))
    results = {}
    for name, classes in (("labelmap", labelmap), ("mapped", mapped)):
        run = args.out / f"run_{name}"
        start = time.perf_counter()
        _run(
            [
                "train",
                "--config",
                str(ROOT / "config" / "training" / "folder_finetune.yaml"),
                f"data.root={export}",
                f"data.classes={classes}",
                "data.num_workers=0",
                f"model.init_weights={MONO}",
                f"augment.crop_width={args.width}",
                f"augment.crop_height={args.height}",
                f"run.output_dir={run}",
                f"run.epochs={args.epochs}",
                f"run.val_every_epochs={args.epochs}",
                "run.device=cpu",
                "run.amp=false",
                f"run.threads={args.threads}",
            ]
        )
        seconds = time.perf_counter() - start
        weights = run / "model.safetensors"
        _run(["predict", str(weights), str(images), str(run / "pred"), "--backend", "torch"])
        _run(["eval", "--predictions", str(run / "pred"), "--ground-truth", str(gt),
              "--label-set", str(labelmap)])  # fmt: skip
        meta = read_metadata(weights)
        results[name] = (load_class_set(classes), meta, seconds)
    source = read_metadata(MONO).class_names
    print("\n| class | labelmap.txt as is | with source_names |")
    print("|---|---|---|")
    tables = [class_transfer_table(source, ls) for ls, _, _ in results.values()]
    for (cls, a), (_, b) in zip(*tables, strict=True):
        print(f"| {cls} | {a} | {b} |")
    print(
        "\n| class set | steps | train s | "
        + " | ".join(tables[0][i][0] for i in range(6))
        + " | mIoU |"
    )
    print("|---|---|---|" + "---|" * 7)
    for name, (ls, meta, seconds) in results.items():
        ious = [meta.metrics.get(f"val_iou/{n}", float("nan")) for n in ls.names]
        print(
            f"| {name} | {meta.provenance['steps']} | {seconds:.0f} | "
            + " | ".join(f"{100 * v:.1f}" for v in ious)
            + f" | {100 * meta.metrics['val_miou']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
