"""The foreground threshold of a one-channel model, chosen on its validation images.

nnU-Net decides its post-processing on validation data instead of fixing it; for a region
task (one lesion or organ per image) the decision that matters is the threshold. A network
trained for minutes is not calibrated at 0.5: on PH2 the 10-minute model marked the dark
core of pale lesions only (under-segmentation), and 0.3-0.4 gave the test images a mean
IoU 0.01-0.015 higher (benchmarks/README.md, section 12). The threshold is chosen on the
run's own validation images, never on test images, and kept at 0.5 unless another value
wins by more than ``MARGIN`` (a few validation images are noisy).

``choose_threshold`` is pure (probabilities and truths in, a named result out);
``validation_threshold`` runs it on a trained model and its validation samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
DEFAULT = 0.5
MARGIN = 0.005   # mean IoU a threshold must gain over 0.5 to replace it


@dataclass
class ThresholdChoice:
    threshold: float
    scores: dict          # threshold -> mean foreground IoU over the validation images
    images: int

    def describe(self) -> str:
        at_default = self.scores.get(DEFAULT, float("nan"))
        return (f"foreground threshold {self.threshold:g} (validation mean IoU {self.scores[self.threshold]:.3f} "
                f"against {at_default:.3f} at {DEFAULT:g}, {self.images} images)")


def image_ious(prob: np.ndarray, truth: np.ndarray, keep: str, grid) -> list[float]:
    """Foreground IoU of one image's mask at each threshold of ``grid``; ``keep = largest`` scores
    the largest region, holes filled, as prediction will use it."""
    from .metrics import foreground_iou
    from .predictor import largest_region
    ious = []
    for t in grid:
        mask = prob >= t
        ious.append(foreground_iou(largest_region(mask) if keep == "largest" else mask, truth))
    return ious


def best_of(per_image: list[list[float]], grid, margin: float = MARGIN) -> ThresholdChoice:
    """The threshold with the best mean IoU over the images; 0.5 stays unless another gains ``margin``."""
    if not per_image:
        raise ValueError("choosing a threshold needs at least one image")
    means = np.mean(np.array(per_image), axis=0)
    scores = {float(t): float(m) for t, m in zip(grid, means)}
    best = max(scores, key=lambda t: (scores[t], -abs(t - DEFAULT)))
    if scores[best] - scores[DEFAULT] <= margin:
        best = DEFAULT
    return ThresholdChoice(float(best), scores, len(per_image))


def full_grid(grid=GRID) -> list[float]:
    return sorted(set(grid) | {DEFAULT})


def choose_threshold(probs, truths, keep: str = "all", grid=GRID, margin: float = MARGIN) -> ThresholdChoice:
    """The threshold of ``grid`` with the best mean foreground IoU over the pairs (prob (H, W)
    in [0, 1], truth boolean (H, W)); 0.5 stays unless another value gains ``margin``."""
    if len(probs) != len(truths):
        raise ValueError("choose_threshold needs as many probability maps as truths")
    grid = full_grid(grid)
    return best_of([image_ious(p, t, keep, grid) for p, t in zip(probs, truths)], grid, margin)


def validation_threshold(predict_batch, samples, *, multiple: int, keep: str = "all",
                         tile: int = 512) -> ThresholdChoice:
    """``choose_threshold`` on the validation samples (already at the working scale, normalised),
    predicted by ``predict_batch`` one at a time: only one probability map is held."""
    from .tiling import predict_tiled
    grid = full_grid()
    return best_of([image_ious(predict_tiled(predict_batch, s.image, tile=tile, multiple=multiple)[..., 0],
                               s.labels > 0, keep, grid) for s in samples], grid)
