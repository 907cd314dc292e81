"""Pair images with masks by file stem, validate them, and split train/validation.

All checks happen here, before any training starts, so a bad file fails in seconds
with a message naming it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnetkitError
from ..io import is_image_file, read_array, read_mask

LOSSY = (".jpg", ".jpeg")   # mask files whose compression invents values


@dataclass(frozen=True)
class Pair:
    name: str
    image: Path
    mask: Path


def list_images(folder: str | Path, what: str = "image") -> list[Path]:
    """Image files in a folder, sorted by name; clear errors for missing or empty folders."""
    folder = Path(folder)
    if not folder.exists():
        raise UnetkitError(f"{folder}: {what} folder not found; check the path")
    if not folder.is_dir():
        raise UnetkitError(f"{folder}: not a folder; pass the folder that holds the {what}s")
    files = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not files:
        raise UnetkitError(f"{folder}: no {what} files (.png .tif .jpg .bmp .npy) in this folder; check the path")
    return files


def _by_stem(files: list[Path], folder) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.stem in out:
            raise UnetkitError(f"{f}: two files share the name {f.stem!r} in {folder}; keep one")
        out[f.stem] = f
    return out


def pair_folders(images_dir, masks_dir) -> list[Pair]:
    """Match each image with the mask of the same stem; every file must have its partner."""
    images = _by_stem(list_images(images_dir, "image"), images_dir)
    masks = _by_stem(list_images(masks_dir, "mask"), masks_dir)
    for stem, path in images.items():
        if stem not in masks:
            raise UnetkitError(f"{path}: no mask named {stem}.* in {masks_dir}; add it or remove the image")
    for stem, path in masks.items():
        if stem not in images:
            raise UnetkitError(f"{path}: no image named {stem}.* in {images_dir}; add it or remove the mask")
    return [Pair(s, images[s], masks[s]) for s in sorted(images)]


def mask_to_labels(mask: np.ndarray, mode: str, path, num_classes: int = 2) -> np.ndarray:
    """Turn a mask file's array into integer targets.

    ``binary``: exactly two values, the lower is background (0), the other foreground (1).
    ``classes``: values are class indices 0..num_classes-1.
    ``instances``: 0 = background, 1..N = objects (16-bit PNG/TIFF); returned as int32 labels.
    """
    if mask.ndim == 3:
        rgb = mask[..., :3]
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise UnetkitError(f"{path}: mask is a colour image; save it as a single-channel (gray) image")
        mask = rgb[..., 0]
    if np.issubdtype(mask.dtype, np.floating):
        if not np.all(np.isfinite(mask)) or not np.all(mask == np.round(mask)):
            raise UnetkitError(f"{path}: mask holds non-integer values; masks must be integer labels")
        mask = mask.astype(np.int64)
    values = np.unique(mask)
    if Path(path).suffix.lower() in LOSSY and values.size > 2:
        # JPEG blurs every edge into new values: a binary mask gains dozens, classes and labels get ids that are not
        # there (a two-valued JPEG is a binary mask that came through)
        raise UnetkitError(f"{path}: a JPEG mask ({values.size} distinct values); JPEG compression changes mask "
                           "values at every edge: save masks losslessly (PNG or TIFF)")
    if mode == "binary":
        if values.size > 2:
            raise UnetkitError(
                f"{path}: binary mask has {values.size} distinct values ({_show(values)}); "
                "expected background 0 and one foreground value (use --mask-mode instances for label images)")
        if values.min() < 0:
            raise UnetkitError(f"{path}: mask has negative values; use 0 for background")
        return (mask > 0).astype(np.uint8) if values.size == 2 or values.max() > 0 else np.zeros(mask.shape, np.uint8)
    if mode == "classes":
        if values.min() < 0 or values.max() >= num_classes:
            raise UnetkitError(
                f"{path}: mask values {_show(values)} are not class indices 0..{num_classes - 1}; "
                "fix the mask or raise --num-classes")
        return mask.astype(np.uint8)
    if mode == "instances":
        if values.min() < 0:
            raise UnetkitError(f"{path}: instance mask has negative ids; use 0 for background, 1..N for objects")
        if looks_binary(mask, values):
            from scipy import ndimage
            if ndimage.label(mask > 0)[1] >= 3:
                raise UnetkitError(f"{path}: looks like a binary mask (separate objects share the id {values[1]}); "
                                   "give each object its own id (a label image), or train on it as foreground "
                                   "with --mask-mode binary")
        return mask.astype(np.int32)
    raise UnetkitError(f"unknown mask mode {mode!r}: use binary, classes or instances")


def looks_binary(mask: np.ndarray, values: np.ndarray) -> bool:
    """Two values, as a binary mask is saved: 0/255 or 0/65535, or 0/1 in an 8-bit file. A wider label
    image with the single id 1 is an instance image of one object (which may lie in pieces: ``count``
    resizes labels back from its working scale), not a binary mask."""
    if values.size != 2:
        return False
    return int(values[1]) in (255, 65535) or mask.dtype in (np.uint8, np.bool_)


def _show(values: np.ndarray, n: int = 6) -> str:
    shown = ", ".join(str(v) for v in values[:n])
    return shown + (", ..." if values.size > n else "")


def check_pair(pair: Pair, image: np.ndarray, mask: np.ndarray) -> None:
    if image.shape[:2] != mask.shape[:2]:
        raise UnetkitError(
            f"{pair.mask}: mask is {mask.shape[0]}x{mask.shape[1]} but image {pair.image.name} is "
            f"{image.shape[0]}x{image.shape[1]}; masks must match their image's size")


def load_pair(pair: Pair, mode: str, num_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Native image array and integer label array of one pair, checked."""
    image = read_array(pair.image)
    mask = read_mask(pair.mask)
    check_pair(pair, image, mask)
    return image, mask_to_labels(mask, mode, pair.mask, num_classes)


def resize_pair(image: np.ndarray, labels: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """An image and its label array resized by ``factor`` as prediction resizes images
    (``Predictor``: area averaging to shrink, linear to enlarge), labels by nearest neighbour
    so ids stay ids. Sides are rounded and at least 1 px."""
    import cv2

    from .prepare import resized
    if factor == 1.0:
        return image, labels
    image = resized(image, factor)
    size = (image.shape[1], image.shape[0])
    # float32 holds ids exactly up to 2^24; cv2 resizes neither int32 nor uint16 label images by nearest reliably
    labels = cv2.resize(labels.astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(labels.dtype)
    return image, labels


def split_pairs(pairs: list[Pair], *, val_range: str | None = None, val_files: list[str] | None = None,
                val_fraction: float = 0.2, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """Split into (train, val).

    ``val_range`` "A:B": positions A..B-1 of the name-sorted list (contiguous, for
    consecutive slices such as ISBI 2012); ``val_files``: explicit stems; otherwise a
    seeded random ``val_fraction``. A fraction of 0 gives no validation set.
    """
    n = len(pairs)
    if val_range:
        try:
            a, b = (int(v) if v else None for v in val_range.split(":"))
        except ValueError:
            raise UnetkitError(f"--val-range {val_range!r}: write it as START:STOP, e.g. 25:30") from None
        idx = set(range(n)[slice(a, b)])
        if not idx:
            raise UnetkitError(f"--val-range {val_range!r} selects none of the {n} pairs; pick positions in 0..{n}")
    elif val_files:
        names = {p.name for p in pairs}
        missing = [v for v in val_files if v not in names]
        if missing:
            raise UnetkitError(f"--val-files: no pair named {missing[0]!r}; use file stems such as {pairs[0].name!r}")
        idx = {i for i, p in enumerate(pairs) if p.name in set(val_files)}
    else:
        k = int(round(n * val_fraction))
        if val_fraction > 0 and n > 1:
            k = min(max(k, 1), n - 1)
        idx = set(np.random.default_rng(seed).permutation(n)[:k].tolist())
    train = [p for i, p in enumerate(pairs) if i not in idx]
    val = [p for i, p in enumerate(pairs) if i in idx]
    if not train:
        raise UnetkitError("the split leaves no training images; make the validation set smaller")
    return train, val
