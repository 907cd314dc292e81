"""The pick images: a seeded 40 of the dsb2018_extra images that choose checkpoints and thresholds and that no
bundled model trained on. One rule, shared by link_all_data.sh and finetune.py.

Usage: python benchmarks/nuclei/pick_stems.py EXTRA_DIR [N]   (prints the stems, one a line, sorted)
"""
import random
import sys
from pathlib import Path

SEED = 2018


def pick_stems(extra_dir, n: int = 40) -> list[str]:
    stems = sorted(p.stem for p in (Path(extra_dir) / "images").glob("*.png"))
    return sorted(random.Random(SEED).sample(stems, n))


if __name__ == "__main__":
    print("\n".join(pick_stems(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40)))
