"""A data fingerprint turned into a training plan by explicit rules (nnU-Net's lesson).

``fingerprint(images, masks)`` measures what the settings depend on; ``make_plan``
applies the rules below, each with the measurement behind it, and returns the settings
it changes with the reason for each. ``unetkit plan`` prints it; ``unetkit train --plan``
applies it (explicit options on the command line still win).

Rules
  scale     A patch must show an object (a lesion, a cell) with its surroundings. When the median
            object is wider than patch / 2, work at scale = patch / (2 x median diameter)
            (in 1/8 steps, at least 1/8). Measured on PH2 lesions (~360 px median, 256 px patches):
            shrinking ~3x raised the test lesion IoU from 0.663 to 0.730 (issue 11); at 1/4 the steps
            are also cheap enough for a 10-minute CPU budget (benchmarks/README.md, section 12).
            ISBI cells and DSB nuclei are far smaller than the patch: scale stays 1.
            Once shrinking, go on halving while the masks survive it (mask fidelity: the masks shrunk and
            enlarged back keep IoU >= 0.99 with themselves, both classes) and the images keep 64 px a side:
            each halving makes a step ~4x cheaper (0.85 -> 0.17 s for 8 patches on a 2-core CPU), so a
            time budget trains far longer. PH2: 1/4 -> 1/8 (fidelity 0.992) raised the test lesion IoU
            from 0.76-0.80 to 0.82 in the same 10 minutes (benchmarks/README.md, section 12).
  patch     At most 256 px (CPU-first default; measured in benchmarks), at most the smallest image
            side at the working scale, a multiple of 16.
  batch     4 patches of 256 px; smaller patches get a larger batch (same pixels per step), at most 8:
            more, cheaper steps in a time budget.
  channels  3 when any image has colour, else 1.
  invert    gray sets that mix dark- and bright-background images (fluorescence and brightfield, each
            at least 10 % of the images): invert automatically, so objects are always bright (DSB 2018: the bundled model's recipe).
  colour    colour images of regions (skin lesions): per-channel intensity jitter (gain 1 +- 0.15, shift +- 0.075),
            since white balance and skin tone differ between images and cameras. PH2 at 1/8: test lesion IoU
            0.817 -> 0.839 (section 12). And each channel normalised on its own (``norm: channel``, the
            colour constancy of dermoscopy pipelines): the lesion PH2's network missed (IMD139, dark on orange
            skin) had a colour cast no other image had. Not for nuclei: their recipe was measured without them.
  keep      one region per image (at least 80 % of the masks have a single connected foreground
            region: a lesion, an organ): prediction keeps the largest region and fills its holes, so
            stray specks of skin or hair never count as lesion.
  threshold regions (lesions, organs): after training, the foreground threshold is chosen on the validation
            images and stored with the model (a short training is not calibrated at 0.5; PH2: 0.3-0.4 raised the
            test IoU by 0.01-0.015, section 12). Membranes keep 0.5 (the ISBI protocol sweeps its own).
  target    instances keep the foreground target, split by the distance transform at count time: in 10 CPU
            minutes on DSB 2018 dev it beat the three-class background / interior / boundary target on every
            score (F1 0.544 vs 0.522 at IoU 0.5, 0.401 vs 0.303 at 0.75, count error 9.2 vs 25.7 %, section 15):
            a short run does not learn the thin boundary class well enough to seed the watershed. (The bundled
            60-minute nuclei model uses the boundary target; at that budget the two were not compared.)
  balance   not planned: appearance-balanced patches (``data.balance: appearance``) helped the 60-minute DSB
            model (F1 0.781 -> 0.807, count error 9.5 -> 7.2 %, section 6) but cost a 10-minute run its count
            (median count error 9.2 -> 13.6 %, F1 at IoU 0.75 0.401 -> 0.322, section 15). The fingerprint
            still reports the appearance groups; the nuclei recipe (benchmarks/nuclei/nuclei.yaml) sets it.
  loss      BCE by default (best V_rand on ISBI, benchmarks section 7); BCE + Dice when the foreground
            is rare (< 10 % of pixels in the median image) or its share varies widely (coefficient of
            variation > 0.5: PH2 lesions cover 4-94 % of an image), where Dice keeps small foregrounds
            from being drowned by the background. For regions and classes only: Dice was not measured on
            instances; they keep BCE.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import UnetkitError
from .progress import plural

CONTEXT = 2.0        # patch side / object diameter at which an object still shows its surroundings
MAX_PATCH = 256
FIDELITY = 0.99      # mask IoU (worse class) after shrinking and enlarging back that a further halving must keep
FIDELITY_SCALES = (0.5, 0.25, 0.125)
MIN_SIDE = 64        # px: the smallest image side a working scale may leave


@dataclass
class Fingerprint:
    images: int
    median_shape: tuple[int, int]
    min_side: int
    colour: bool
    dtype: str
    bright_background_share: float      # gray images whose median is above mid-range
    foreground_share: float             # median over images
    foreground_cv: float                # coefficient of variation of the foreground share
    objects_per_image: float            # median connected foreground objects (or instances)
    single_object_share: float          # share of masks with exactly one connected foreground region
    object_diameter: float              # median equivalent diameter, px
    object_diameter_p90: float
    task: str                           # membranes | regions | instances | classes
    mask_fidelity: dict = field(default_factory=dict)  # scale -> mean IoU (worse class) of masks shrunk and enlarged back
    appearance: dict = field(default_factory=dict)     # appearance group (data.sampling.appearance) -> images

    def describe(self) -> str:
        h, w = self.median_shape
        return (f"{plural(self.images, 'image')}, median {w}x{h} px ({self.dtype}, {'colour' if self.colour else 'gray'}); "
                f"foreground {100 * self.foreground_share:.1f} % (CV {self.foreground_cv:.2f}); "
                f"{self.objects_per_image:.0f} objects per image, diameter median {self.object_diameter:.0f} px, "
                f"p90 {self.object_diameter_p90:.0f} px; task: {self.task}")


def fingerprint(images_dir, masks_dir, mask_mode: str = "binary", num_classes: int = 2,
                max_images: int = 200) -> Fingerprint:
    """Measure a training set (at most ``max_images`` pairs, evenly spread)."""
    from scipy import ndimage

    from .data.pairs import load_pair, pair_folders
    from .data.sampling import appearance
    pairs = pair_folders(images_dir, masks_dir)
    if len(pairs) > max_images:
        pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, max_images).astype(int)]
    shapes, shares, counts, diameters, colour, bright, dtypes = [], [], [], [], False, 0, set()
    fidelity = {s: [] for s in FIDELITY_SCALES}
    groups: dict[str, int] = {}
    for p in pairs:
        image, labels = load_pair(p, mask_mode, num_classes)
        kind = appearance(image)   # colour or gray, bright or dark background: measured once
        groups[kind] = groups.get(kind, 0) + 1
        shapes.append(labels.shape)
        dtypes.add(str(image.dtype))
        colour = colour or kind.startswith("colour")
        bright += kind == "gray-bright"
        fg = labels > 0
        shares.append(float(fg.mean()))
        for s in FIDELITY_SCALES:
            fidelity[s].append(mask_fidelity(fg, s))
        objects = labels if mask_mode == "instances" else ndimage.label(fg)[0]
        n = int(objects.max())
        counts.append(n)
        if n:
            areas = np.bincount(objects.ravel())[1:]
            diameters += list(np.sqrt(4 * areas[areas > 0] / np.pi))
    if not shapes:
        raise UnetkitError(f"{images_dir}: no training pairs to measure")
    shares_a = np.array(shares)
    med_objects = float(np.median(counts))
    if mask_mode == "instances":
        task = "instances"
    elif mask_mode == "classes" and num_classes > 2:
        task = "classes"
    else:
        task = "membranes" if med_objects > 10 and float(np.median(shares_a)) > 0.5 else "regions"
    d = np.array(diameters) if diameters else np.zeros(1)
    return Fingerprint(
        images=len(shapes), median_shape=tuple(int(v) for v in np.median(np.array(shapes), axis=0)),
        min_side=int(min(min(s) for s in shapes)), colour=colour, dtype="/".join(sorted(dtypes)),
        bright_background_share=bright / len(shapes), foreground_share=float(np.median(shares_a)),
        foreground_cv=float(shares_a.std() / max(shares_a.mean(), 1e-9)), objects_per_image=med_objects,
        single_object_share=float(np.mean(np.array(counts) == 1)),
        object_diameter=float(np.median(d)), object_diameter_p90=float(np.percentile(d, 90)), task=task,
        mask_fidelity={s: round(float(np.mean(v)), 4) for s, v in fidelity.items()}, appearance=groups)


def mask_fidelity(fg: np.ndarray, scale: float) -> float:
    """What a working scale costs a mask: IoU of ``fg`` with itself shrunk by ``scale`` (area
    averaging) and enlarged back (linear, cut at 0.5), the worse of foreground and background."""
    import cv2
    h, w = fg.shape
    small = cv2.resize(fg.astype(np.float32), (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)),
                       interpolation=cv2.INTER_AREA)
    from .metrics import foreground_iou
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    return min(foreground_iou(back, fg), foreground_iou(~back, ~fg))


@dataclass
class Plan:
    fingerprint: Fingerprint
    settings: dict = field(default_factory=dict)   # "section.key" -> value
    reasons: dict = field(default_factory=dict)    # "section.key" -> why

    def set(self, key: str, value, why: str) -> None:
        self.settings[key], self.reasons[key] = value, why

    def apply(self, cfg):
        for key, value in self.settings.items():
            section, name = key.split(".")
            setattr(getattr(cfg, section), name, value)
        return cfg

    def describe(self) -> str:
        lines = [f"fingerprint: {self.fingerprint.describe()}", "plan:"]
        lines += [f"  {k} = {v!r}: {self.reasons[k]}" for k, v in self.settings.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"fingerprint": asdict(self.fingerprint), "settings": self.settings, "reasons": self.reasons}


def make_plan(fp: Fingerprint, patch_size: int = MAX_PATCH) -> Plan:
    """The rules of this module's docstring, applied to a fingerprint."""
    plan = Plan(fp)
    scale = 1.0
    if fp.object_diameter * CONTEXT > patch_size:
        scale = max(np.floor(8 * patch_size / (CONTEXT * fp.object_diameter)) / 8, 0.125)
        why = (f"median object {fp.object_diameter:.0f} px is too wide for a {patch_size} px patch with context: "
               f"work at scale {scale:g} (~{fp.object_diameter * scale:.0f} px)")
        context_scale = scale
        for s in sorted((s for s in fp.mask_fidelity if s < context_scale), reverse=True):
            if fp.mask_fidelity[s] < FIDELITY or fp.min_side * s < MIN_SIDE:
                break
            scale = s
        if scale < context_scale:
            why += (f"; the masks survive {scale:g} (fidelity {fp.mask_fidelity[scale]:.3f}), where steps are "
                    f"{(context_scale / scale) ** 2:.0f}x cheaper: scale {scale:g}")
        plan.set("data.scale", float(scale), why)
    else:
        plan.set("data.scale", 1.0, f"median object {fp.object_diameter:.0f} px fits a {patch_size} px patch "
                 "with context: full resolution")
    side = int(fp.min_side * scale) // 16 * 16
    patch = max(min(patch_size, side), 16)
    plan.set("data.patch_size", patch, "at most 256 px and the smallest image side at the working scale")
    plan.set("train.batch_size", int(min(round(4 * (256 / patch) ** 2), 8)),
             "4 patches of 256 px, or as many pixels per step with smaller patches (at most 8)")
    plan.set("data.channels", 3 if fp.colour else 1, "colour images" if fp.colour else "gray images")
    if not fp.colour and 0.1 <= fp.bright_background_share <= 0.9:
        plan.set("data.invert", "auto", f"{100 * fp.bright_background_share:.0f} % of the gray images have a bright "
                 "background: flip those so objects are always bright")
    if fp.colour and fp.task == "regions":
        plan.set("data.norm", "channel", "colour regions: each colour channel normalised on its own, which takes "
                 "out a colour cast (white balance, skin tone) as Shades-of-Gray colour constancy does")
        plan.set("augment.channel_jitter", 0.15, "colour regions: white balance and skin tone differ between "
                 "images; per-channel gain and shift teach the network to look past them")
    if fp.task == "regions" and fp.single_object_share >= 0.8:
        plan.set("predict.keep", "largest", f"{100 * fp.single_object_share:.0f} % of the masks hold one region: "
                 "predictions keep the largest region, holes filled")
    if fp.task == "regions":
        plan.set("train.choose_threshold", True, "regions: the foreground threshold is chosen on the validation "
                 "images after training and stored with the model (thresholds.py)")
    if fp.task == "instances":
        plan.set("data.target", "classes", "instance labels: foreground split by the distance transform's peaks; "
                 "in 10 CPU minutes on DSB 2018 it counted better than the background / interior / boundary target "
                 "(median count error 9.2 % against 25.7 %, benchmarks section 15)")
    if fp.task in ("regions", "classes") and (fp.foreground_share < 0.10 or fp.foreground_cv > 0.5):
        plan.set("train.loss", "bce_dice", f"foreground {100 * fp.foreground_share:.1f} % of pixels, share CV "
                 f"{fp.foreground_cv:.2f}: Dice keeps a small or variable foreground from being drowned")
    elif fp.task in ("regions", "classes"):
        plan.set("train.loss", "bce", "balanced foreground: plain BCE (best on ISBI, benchmarks section 7)")
    else:
        plan.set("train.loss", "bce", f"{fp.task}: plain BCE (best on ISBI, benchmarks section 7; Dice was not "
                 "measured on membranes or on instances)")
    return plan


def plan_for(images_dir, masks_dir, mask_mode: str = "binary", num_classes: int = 2) -> Plan:
    return make_plan(fingerprint(images_dir, masks_dir, mask_mode, num_classes))


def write_plan(plan: Plan, path: Path) -> Path:
    import yaml

    from .io import write_text
    return write_text(path, yaml.safe_dump(plan.to_dict(), sort_keys=False))
