"""Average the weights of unetkit models of one architecture (a "model soup", Wortsman et al. 2022).

Two models on one training trajectory (the bundled model and a run continued from it, as
`continue_bundled.sh` makes) often score better averaged than either alone, at no cost in
prediction time (`train --init ... --mix` does the same for two models at the end of a fine-tune;
this script mixes any number of finished runs). Batch-norm statistics are averaged like the weights. The first model's
metadata (channels, normalisation, thresholds, training diameter) travels with the result.

    python benchmarks/nuclei/soup.py OUT.keras MODEL [MODEL ...] [--weights 0.5,0.5]
"""
from __future__ import annotations

import argparse

from unetkit.checkpoint import load_model, save_model
from unetkit.mixing import mix_weights


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--weights", help="comma-separated, one per model (default: equal)")
    args = ap.parse_args(argv)
    weights = [float(x) for x in args.weights.split(",")] if args.weights else [1.0] * len(args.models)
    loaded = [load_model(m) for m in args.models]
    first, meta = loaded[0]
    first.set_weights(mix_weights([m.get_weights() for m, _ in loaded], weights))
    meta = dict(meta, soup={"models": [str(m) for m in args.models], "weights": weights})
    save_model(first, args.out, meta, with_optimizer=False)
    print(f"wrote {args.out}: mean of {len(loaded)} models, weights {weights}")


if __name__ == "__main__":
    main()
