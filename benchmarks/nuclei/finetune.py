"""Fine-tuning the bundled nuclei model on a few images of one appearance (a lab's own microscope).

The dev split's images of one appearance group (default colour-bright: H&E and other stains)
are split, seeded, into N images to fine-tune on and the rest to score. ``unetkit train
--init nuclei`` runs its default short schedule (10 minutes) on the N images (a quarter of
them pick the checkpoint); the bundled and the fine-tuned model then count the rest with
``count``'s defaults, and both are scored the same way.

With ``--tune-on train`` the model is fine-tuned instead on the group's images among the bundled
model's own training images (dsb2018's train split and the extra images but the 40 that pick its
checkpoint, as ``link_all_data.sh`` links them; ``--n 0`` takes them all), and every dev image of the
group is scored: a specialist for one appearance, made from data the bundled model already saw.

With ``--mix`` below 1 (the preset's 0.5) the unmixed best epoch and the last epoch are scored too.

Usage: python benchmarks/nuclei/finetune.py [DSB_DIR] [OUT] [--group colour-bright] [--n 8] [--minutes 10] [--lr 1e-4]
       [--freeze encoder] [--ema 0.99] [--no-match-diameter] [--tune-on dev|train] [--extra EXTRA_DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pick_stems import pick_stems  # noqa: E402  (a sibling script, not a package)


def run(*args):
    print("$", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=str(HERE.parents[2] / "shared" / "data" / "dsb2018"))
    ap.add_argument("out", nargs="?", default="runs/finetune")
    ap.add_argument("--group", default="colour-bright")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", help="learning rate (default: the finetune preset's)")
    ap.add_argument("--freeze", help="passed to train --freeze (encoder: the decoder trains only)")
    ap.add_argument("--ema", help="passed to train --ema (checkpoints hold the weights' moving average)")
    ap.add_argument("--tune-on", choices=("dev", "train"), default="dev",
                    help="dev: N of the group's dev images, the rest scored; train: the group's training images")
    ap.add_argument("--extra", default=str(HERE.parents[2] / "shared" / "data" / "dsb2018_extra"),
                    help="the extra images (--tune-on train)")
    ap.add_argument("--no-match-diameter", action="store_true",
                    help="passed to train: every image at its own size (default: train --init's per-image matching)")
    a = ap.parse_args()
    from unetkit.data.sampling import appearance
    from unetkit.evaluation import evaluate_instances
    from unetkit.io import read_array
    data, out = Path(a.data), Path(a.out)
    split = json.loads((HERE / "split.json").read_text())

    def of_group(folder, stems):
        return [s for s in stems if appearance(read_array(folder / "images" / f"{s}.png")) == a.group]

    group = of_group(data, split["dev"])
    order = np.random.default_rng(a.seed).permutation(len(group))
    if a.tune_on == "dev":
        tune, test = [(data, group[i]) for i in order[: a.n]], [(data, group[i]) for i in order[a.n:]]
    else:   # the bundled model's training images of the group; the pick images stay out, as in link_all_data.sh
        extra = Path(a.extra)
        stems = sorted(p.stem for p in (extra / "images").glob("*.png"))
        pick = set(pick_stems(extra))
        pool = [(data, s) for s in of_group(data, split["train"])] + \
               [(extra, s) for s in of_group(extra, [s for s in stems if s not in pick])]
        chosen = np.random.default_rng(a.seed).permutation(len(pool))[: a.n or len(pool)]
        tune, test = [pool[i] for i in chosen], [(data, s) for s in group]
    print(f"{a.group}: {len(tune)} {a.tune_on} images to fine-tune on, {len(test)} dev images to score", flush=True)
    for part, pairs in (("tune", tune), ("test", test)):
        for kind in ("images", "masks"):
            d = out / f"{part}_{kind}"
            d.mkdir(parents=True, exist_ok=True)
            for folder, s in pairs:
                if not (d / f"{s}.png").exists():
                    os.symlink((folder / kind / f"{s}.png").resolve(), d / f"{s}.png")
    t0 = time.time()
    run("unetkit", "train", "--init", "nuclei", "--images", str(out / "tune_images"), "--masks", str(out / "tune_masks"),
        "--val-fraction", "0.25", "--time-limit", str(a.minutes), "--seed", str(a.seed), "--out", str(out / "run"),
        "--quiet", *(["--lr", a.lr] if a.lr else []), *(["--freeze", a.freeze] if a.freeze else []),
        *(["--ema", a.ema] if a.ema else []), *(["--no-match-diameter"] if a.no_match_diameter else []))
    minutes = (time.time() - t0) / 60
    rows = {}
    run_dir = out / "run"
    models = [("bundled nuclei", "bundled", "nuclei"), (f"fine-tuned on {len(tune)}", "fine-tuned", str(run_dir))]
    if (run_dir / "finetuned.keras").is_file():   # --mix < 1: best.keras is the mix; the unmixed best and the
        models += [("unmixed best", "unmixed", str(run_dir / "finetuned.keras")),   # last epoch, for the record
                   ("last epoch", "last", str(run_dir / "last.keras"))]
    for name, tag, model in models:
        cdir = out / ("count_" + tag)
        run("unetkit", "count", str(out / "test_images"), "--model", model, "--out", str(cdir), "--quiet",
            "--overwrite")
        rows[name] = evaluate_instances(cdir, out / "test_masks", thresholds=(0.5, 0.75), verbose=False)
    print(f"\n{a.group}, {len(test)} held-out dev images; fine-tuning took {minutes:.1f} min (wall, incl. loading)")
    print(f"{'model':<20} {'F1@0.5':>7} {'F1@0.75':>8} {'median count err':>17}")
    for name, r in rows.items():
        f1 = {round(m["thresh"], 2): m["f1"] for m in r["pooled"]}
        print(f"{name:<20} {f1[0.5]:>7.3f} {f1[0.75]:>8.3f} {100 * r['count']['median_rel_error']:>16.1f}%")


if __name__ == "__main__":
    sys.exit(main())
