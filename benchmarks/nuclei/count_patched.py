"""`unetkit count` with one test-time change to the network's input or normalisation, for measuring (benchmarks 31):

  adabn[:ALPHA]  batch normalisation from each forward pass's own tiles (AdaBN, Li et al. 2016), blended with the
                 training statistics by ALPHA (1 = the batch's alone); pass a large --batch-size so a pass holds
                 every tile of an image. Dropout off.
  gamma:G        the normalised input raised to the power G (G < 1 lifts dim nuclei).

Usage: python benchmarks/nuclei/count_patched.py VARIANT IMAGES --model nuclei --out DIR [count options]
Neither is part of unetkit: both lost on the new DSB 2018 samples (benchmarks 31).
"""
import sys

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


if __name__ == "__main__":
    name, _, value = sys.argv[1].partition(":")
    {"adabn": lambda: adabn(float(value or 1)), "gamma": lambda: gamma(float(value))}[name]()
    from unetkit.cli import main
    sys.exit(main(sys.argv[2:]))
