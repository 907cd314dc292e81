"""Weight-space mixing of a fine-tuned model with the model it started from.

WiSE-FT (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"): the weighted mean
of the start and the fine-tuned weights, for networks on one training trajectory, often
keeps what the start model knew and gains what fine-tuning learned. On the bundled nuclei
model fine-tuned for 10 CPU minutes on 8 H&E images, the half-and-half mix scored above the
fine-tuned model alone on the held-out ones in all three runs, and above the start model in
two of them (benchmarks/README.md, 13).
Batch-norm statistics are mixed like the weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UnetkitError

FINETUNED = "finetuned.keras"   # the unmixed best checkpoint, kept beside the mixed best.keras


def mix_weights(weight_lists: list[list[np.ndarray]], shares: list[float]) -> list[np.ndarray]:
    """The ``shares``-weighted mean of each weight tensor over models of one architecture."""
    first = weight_lists[0]
    if any(len(w) != len(first) or any(a.shape != b.shape for a, b in zip(first, w)) for w in weight_lists[1:]):
        raise UnetkitError("the models differ in architecture; weights can be mixed only between runs of one network")
    s = np.asarray(shares, np.float64)
    if s.shape != (len(weight_lists),) or np.any(s < 0) or s.sum() <= 0:
        raise UnetkitError(f"mixing shares {list(shares)}: give one non-negative share per model, not all zero")
    s = s / s.sum()
    return [sum(si * w[k].astype(np.float64) for si, w in zip(s, weight_lists)).astype(first[k].dtype)
            for k in range(len(first))]


def mix_run(model, out: Path, init_spec: str, share: float, meta: dict, val_ds, monitor: str, log) -> dict:
    """Replace the run's best.keras with ``share`` x its weights + (1 - ``share``) x the start model's.

    ``model`` is the run's compiled network (its weights are overwritten; last.keras already holds
    them), used to score the mix on the validation images. The unmixed best stays as finetuned.keras;
    a run resumed after mixing mixes from that file again, never from a mix."""
    from .checkpoint import BEST, load_model, read_meta, save_model
    best = out / BEST
    source = out / FINETUNED if read_meta(best).get("mixed") else best
    tuned, _ = load_model(source)
    start, _ = load_model(init_spec)
    if source == best:
        save_model(tuned, out / FINETUNED, meta, with_optimizer=False)
    record = {"share": share, "start": str(init_spec)}

    def score() -> float | None:
        value = model.evaluate(val_ds, verbose=0, return_dict=True).get(monitor.removeprefix("val_"))
        return None if value is None else float(value)

    # both scored on the same images: which one pays depends on how far the user's images are from the start
    # model's (benchmarks/README.md, 21 and 24); the mix goes last, so the model holds it when best.keras is saved
    for key, weights in (("finetuned_score", tuned.get_weights()),
                         ("score", mix_weights([start.get_weights(), tuned.get_weights()], [1 - share, share]))):
        model.set_weights(weights)
        if val_ds is not None:
            record[key] = score()
    save_model(model, best, {**meta, "mixed": record}, with_optimizer=False)
    scored = ""
    if record.get("score") is not None and record.get("finetuned_score") is not None:
        scored = (f"; on the validation images it scores {monitor} {record['score']:.4f}, the fine-tuned best "
                  f"alone ({FINETUNED}) {record['finetuned_score']:.4f} (that one picked on them)")
    log(f"best.keras = {share:g} x the fine-tuned best + {1 - share:g} x {init_spec} (WiSE-FT){scored}; "
        f"score both on held-out images of your own")
    return record
