"""Resize annotated images so each one's median nucleus has a given diameter (the bundled model's 18.86 px).

What `count` does to an image before the model sees it, done to training pairs: fine-tuning on these trains the
network at the size it will be shown the user's nuclei at (benchmarks/README.md, 21). Images by INTER_AREA (or
linear when enlarging), labels by nearest neighbour (``resize_pair``); one factor per image, every image, also those
in count's band. ``train --init`` now does this by itself for images outside the band (``--match-diameter``).

    python benchmarks/nuclei/resize_to_diameter.py IMAGES MASKS OUT [--diameter 18.86]
writes OUT/images and OUT/masks with the same file names.
"""
import argparse
from pathlib import Path

import numpy as np

from unetkit.data.pairs import pair_folders, resize_pair
from unetkit.diameter import median_diameter
from unetkit.io import read_array, write_image


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images"); ap.add_argument("masks"); ap.add_argument("out")
    ap.add_argument("--diameter", type=float, default=18.86, help="px (default: the bundled nuclei model's)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    for p in pair_folders(a.images, a.masks):
        image, labels = read_array(p.image), read_array(p.mask).astype(np.int32)
        found, _ = median_diameter(labels)
        if found is None:
            raise SystemExit(f"{p.mask}: fewer than 3 objects, no diameter to match; leave it out")
        f = a.diameter / found
        image, labels = resize_pair(image, labels, f)
        write_image(out / "images" / p.image.name, image)
        write_image(out / "masks" / p.mask.name, labels.astype(np.uint16))
        print(f"{p.image.name}: median {found:.1f} px, x{f:.3f} -> {labels.shape[1]} x {labels.shape[0]}", flush=True)


if __name__ == "__main__":
    main()
