"""Big images: wall time, time per megapixel and peak RSS of `unetkit predict` and
`unetkit count`, in-memory path against block-wise path, on synthetic nuclei slides.

    python benchmarks/big_image.py --out bench-out/big [--sizes 2048,8192,16384,32768] [--nuclei-size 8192]

Every measurement is a fresh `unetkit` process (peak RSS from wait4), so numbers
include start-up. The synthetic single-channel OME-TIFF (tiled BigTIFF, 0.5 um px)
is written tile by tile, never whole. The tiny network (depth 2, 4 filters,
untrained) measures memory and the cost of the machinery, not accuracy; the bundled
nuclei model measures the real cost per megapixel. Results go to results.json as
they come.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TILE = 512


def synthetic_slide(path: Path, side: int, seed: int = 0) -> Path:
    """Nuclei (radius 6-9 px) on a jittered 40 px lattice, dim noisy background, uint8."""
    import tifffile
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    n = side // 40 + 2
    jitter = rng.integers(-10, 11, (n, n, 2))
    radius = rng.integers(6, 10, (n, n))

    def tiles():
        yy, xx = np.mgrid[0:TILE, 0:TILE]
        for ty in range(0, side, TILE):
            for tx in range(0, side, TILE):
                tile = (rng.random((TILE, TILE)) * 30).astype(np.uint8)
                for i in range(max(ty // 40 - 1, 0), min((ty + TILE) // 40 + 2, n)):
                    for j in range(max(tx // 40 - 1, 0), min((tx + TILE) // 40 + 2, n)):
                        cy, cx = i * 40 + 20 + jitter[i, j, 0] - ty, j * 40 + 20 + jitter[i, j, 1] - tx
                        r = radius[i, j]
                        if -r <= cy < TILE + r and -r <= cx < TILE + r:
                            y0, y1, x0, x1 = max(cy - r, 0), min(cy + r + 1, TILE), max(cx - r, 0), min(cx + r + 1, TILE)
                            if y0 < y1 and x0 < x1:
                                d = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
                                tile[y0:y1, x0:x1][d] = 180
                yield tile

    tmp = path.with_suffix(".partial.tif")
    tifffile.imwrite(tmp, tiles(), shape=(side, side), dtype=np.uint8, tile=(TILE, TILE), bigtiff=True,
                     ome=True, compression="zlib", metadata={"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    os.replace(tmp, path)
    return path


def tiny_model(path: Path) -> Path:
    if path.exists():
        return path
    from unetkit.checkpoint import save_model
    from unetkit.models import build
    model = build("unet", input_channels=1, num_classes=3, base_filters=4, depth=2, batch_norm=True)
    meta = {"format": 1, "channels": 1, "norm": "percentile", "invert": "never", "num_classes": 3,
            "target": "boundary", "depth": 2, "mask_mode": "instances", "patch_size": 256, "sampling": "patch"}
    return save_model(model, path, meta, with_optimizer=False)


def measure(cmd: list[str]) -> dict:
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - t0
    err = proc.stderr.read()
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{err[-2000:]}")
    return {"wall_s": round(wall, 1), "peak_rss_gib": round(usage.ru_maxrss / 2 ** 20, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-out/big")
    ap.add_argument("--sizes", default="2048,8192,16384,32768")
    ap.add_argument("--in-memory-max", type=int, default=8192, help="largest side run through the in-memory path")
    ap.add_argument("--nuclei-size", type=int, default=8192, help="side for the bundled nuclei model (0: skip)")
    ap.add_argument("--cluster-size", type=int, default=8192, help="side for 2-worker LocalCluster vs 1 process")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "python": sys.version.split()[0]}
    tiny = str(tiny_model(out / "tiny.keras"))
    exe = [sys.executable, "-m", "unetkit.cli"]

    def record(key, res, side):
        res["mpx"] = round(side * side / 1e6, 1)
        res["s_per_mpx"] = round(res["wall_s"] / res["mpx"], 4)
        results[key] = res
        results_path.write_text(json.dumps(results, indent=1))
        print(key, res, flush=True)

    runs = []
    if args.nuclei_size:
        runs += [("nuclei", "predict", args.nuclei_size, "never"), ("nuclei", "predict", args.nuclei_size, "always")]
    for side in [int(s) for s in args.sizes.split(",") if s.strip()]:
        for cmd in ("predict", "count"):
            if side <= args.in_memory_max:
                runs.append(("tiny", cmd, side, "never"))
            runs.append(("tiny", cmd, side, "always"))
    for model_name, cmd, side, mode in runs:
        key = f"{model_name}/{cmd}/{side}/{'in-memory' if mode == 'never' else 'blocks'}"
        if key in results:
            continue
        slide = synthetic_slide(out / f"slide_{side}.ome.tif", side)
        target = out / "runs" / key.replace("/", "_")
        model = "nuclei" if model_name == "nuclei" else tiny
        record(key, measure(exe + [cmd, str(slide), "--model", model, "--out", str(target), "--blocks", mode,
                                   "--quiet", "--overwrite"]), side)
    if args.cluster_size:
        side = args.cluster_size
        slide = synthetic_slide(out / f"slide_{side}.ome.tif", side)
        key = f"tiny/predict/{side}/blocks-localcluster-2"
        if key not in results:
            script = (
                "import sys; from distributed import LocalCluster; from unetkit.cli import main\n"
                "with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:\n"
                f"    sys.exit(main(['predict', {str(slide)!r}, '--model', {tiny!r}, '--out', "
                f"{str(out / 'runs' / 'cluster')!r}, '--blocks', 'always', '--quiet', '--overwrite', "
                "'--scheduler', c.scheduler_address]))\n")
            record(key, measure([sys.executable, "-c", script]), side)


if __name__ == "__main__":
    main()
