"""`unetkit count` with one test-time change to the network's input or normalisation, or to its size search, for
measuring (benchmarks 31-32):

  adabn[:ALPHA]  batch normalisation from each forward pass's own tiles (AdaBN, Li et al. 2016), blended with the
                 training statistics by ALPHA (1 = the batch's alone); pass a large --batch-size so a pass holds
                 every tile of an image. Dropout off.
  gamma:G        the normalised input raised to the power G (G < 1 lifts dim nuclei).
  clahe:C        contrast-limited adaptive histogram equalisation (skimage, clip limit C, kernel an eighth of the
                 image) on the normalised input, so a dim nucleus beside a bright one gets the contrast of its own.
  aim:F          the size search brings objects outside the band to F x the training diameter (``diameter.AIM``,
                 1.25 since benchmarks 32; aim:1 is `count` before that).
  flat:R         dark-background gray images flattened first: the background, a grey opening with a disk of radius R
                 native px (computed 1/k the size, so the disk is at most 16 px there, then enlarged), subtracted
                 (Fiji's "Subtract Background"), so a haze of uneven illumination does not hide dim nuclei.
  hiopen:S       the upper percentile taken from the image after a grey opening with an S x S square (native
                 pixels), so bright foci smaller than S (chromocentres) do not set the contrast.

Usage: python benchmarks/nuclei/count_patched.py VARIANT count IMAGES --model nuclei --out DIR [count options]
AdaBN and gamma lost on the new DSB 2018 samples (benchmarks 31), hiopen and clahe on the stand-ins (32); the
aim went into `count` (``diameter.AIM``, benchmarks 32).
"""
import sys

import cv2
import numpy as np


def adabn(alpha: float) -> None:
    import keras

    from unetkit import predictor
    cache = {}

    def clone(model):
        if id(model) not in cache:
            def no_dropout(layer):
                cfg = layer.get_config()
                if isinstance(layer, keras.layers.Dropout):
                    cfg["rate"] = 0.0
                return layer.__class__.from_config(cfg)
            m = keras.models.clone_model(model, clone_function=no_dropout)
            m.set_weights(model.get_weights())
            bns = [la for la in m.layers if isinstance(la, keras.layers.BatchNormalization)]
            for la in bns:
                la.momentum = 1.0 - alpha   # moving <- momentum * moving + (1 - momentum) * batch
            cache[id(model)] = m, bns, [(la.moving_mean.numpy().copy(), la.moving_variance.numpy().copy()) for la in bns]
        return cache[id(model)]

    def batch(self, x):
        m, bns, stats = clone(self.model)
        with self.lock:
            if alpha >= 1:
                out = np.asarray(m(x, training=True))
            else:
                for la, (mean, var) in zip(bns, stats):
                    la.moving_mean.assign(mean)
                    la.moving_variance.assign(var)
                m(x, training=True)    # blends the statistics, then an inference pass uses them
                out = np.asarray(m(x, training=False))
        return out[..., :-1] if self.meta.get("aux") and self.heads == "main" else out

    predictor.Predictor.batch = batch


def gamma(g: float) -> None:
    from unetkit import planes, prediction
    plain = planes.model_input

    def model_input(*args, **kwargs):
        return np.power(np.clip(plain(*args, **kwargs), 0, None), g).astype(np.float32)

    prediction.model_input = model_input


def clahe(clip: float) -> None:
    from skimage import exposure

    from unetkit import prediction
    plain = prediction.model_input

    def model_input(*args, **kwargs):
        x = plain(*args, **kwargs)
        if x.shape[-1] != 1:
            return x
        eq = exposure.equalize_adapthist(np.clip(x[..., 0], 0, 1), clip_limit=clip)
        return eq[..., None].astype(np.float32)

    prediction.model_input = model_input


def flat(radius: float) -> None:
    from skimage.morphology import disk

    from unetkit import planes
    from unetkit.data import prepare
    plain = prepare.to_channels

    def to_channels(arr, channels):
        gray = plain(arr, channels)
        if channels != 1 or (arr.ndim == 3 and prepare.is_color(arr)):
            return gray
        g = gray[..., 0].astype(np.float32)
        lo, hi = np.percentile(g, (1, 99.8))
        if hi <= lo or np.median(g) > (lo + hi) / 2:     # blank, or a bright background: as it is
            return gray
        k = max(1, int(np.ceil(radius / 16)))
        small = cv2.resize(g, (max(1, g.shape[1] // k), max(1, g.shape[0] // k)), interpolation=cv2.INTER_AREA)
        r = max(1, int(round(radius / k)))
        bg = cv2.morphologyEx(small, cv2.MORPH_OPEN, disk(r).astype(np.uint8))
        bg = cv2.resize(cv2.blur(bg, (2 * r + 1, 2 * r + 1)), (g.shape[1], g.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(g - bg + lo, 0, None)[..., None].astype(np.float32)

    prepare.to_channels = to_channels
    planes.to_channels = to_channels


def aim(factor: float) -> None:
    from unetkit import diameter
    diameter.AIM = factor   # read at call time by choose_scale and matching_scale


def hiopen(size: int) -> None:
    from scipy import ndimage

    from unetkit import planes
    from unetkit.data import prepare
    plain = planes.norm_params

    def norm_params(x, mode="percentile", invert="never"):
        p = plain(x, mode, invert)
        if mode != "percentile" or x.ndim != 3 or x.shape[-1] != 1 or p.zero:
            return p
        opened = ndimage.grey_opening(x[..., 0].astype(np.float32), size=(size, size))
        lo, hi = np.percentile(opened, prepare.PERCENTILES)
        lo = float(np.asarray(p.offset).ravel()[0])
        return prepare.params_from_stats(mode, x.dtype, lo, max(float(hi), lo + 1e-6), invert,
                                         prepare.polarity_pixels(x) if invert == "auto" else None)

    planes.norm_params = norm_params


if __name__ == "__main__":
    name, _, value = sys.argv[1].partition(":")
    {"adabn": lambda: adabn(float(value or 1)), "gamma": lambda: gamma(float(value)),
     "aim": lambda: aim(float(value)), "clahe": lambda: clahe(float(value)),
     "hiopen": lambda: hiopen(int(value)), "flat": lambda: flat(float(value))}[name]()
    from unetkit.cli import main
    sys.exit(main(sys.argv[2:]))
