"""Average the weights of unetkit models of one architecture (a "model soup", Wortsman et al. 2022).

Two models on one training trajectory (the bundled model and a run continued from it, as
`continue_bundled.sh` makes) often score better averaged than either alone, at no cost in
prediction time. Batch-norm statistics are averaged like the weights. The first model's
metadata (channels, normalisation, thresholds, training diameter) travels with the result.

    python benchmarks/nuclei/soup.py OUT.keras MODEL [MODEL ...] [--weights 0.5,0.5]
"""
from __future__ import annotations

import argparse

import numpy as np

from unetkit.checkpoint import load_model, save_model
from unetkit.errors import UnetkitError


def soup(models: list, weights: list[float]) -> list[np.ndarray]:
    """The weighted mean of each weight tensor over ``models`` (same architecture)."""
    stacks = [m.get_weights() for m in models]
    if len({len(s) for s in stacks}) != 1 or any(a.shape != b.shape for s in stacks[1:] for a, b in zip(stacks[0], s)):
        raise UnetkitError("soup: the models differ in architecture; average only runs of one network")
    w = np.asarray(weights, np.float64) / np.sum(weights)
    return [sum(wi * s[k].astype(np.float64) for wi, s in zip(w, stacks)).astype(stacks[0][k].dtype)
            for k in range(len(stacks[0]))]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--weights", help="comma-separated, one per model (default: equal)")
    args = ap.parse_args(argv)
    weights = [float(x) for x in args.weights.split(",")] if args.weights else [1.0] * len(args.models)
    if len(weights) != len(args.models):
        raise SystemExit(f"soup: {len(args.models)} models but {len(weights)} weights")
    loaded = [load_model(m) for m in args.models]
    first, meta = loaded[0]
    first.set_weights(soup([m for m, _ in loaded], weights))
    meta = dict(meta, soup={"models": [str(m) for m in args.models], "weights": weights})
    save_model(first, args.out, meta, with_optimizer=False)
    print(f"wrote {args.out}: mean of {len(loaded)} models, weights {weights}")


if __name__ == "__main__":
    main()
