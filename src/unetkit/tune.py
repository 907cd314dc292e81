"""``unetkit tune``: Optuna search over the settings that matter, within a time budget.

Each trial is a short training (``--trial-minutes``, by default a sixth of the search) scored by its best validation mean
IoU; trials that fall behind the median of earlier ones at the same epoch are pruned, and no trial starts that
could not end within ``--time-limit``.
The study lives in SQLite (``OUT/study.db``), so a killed search resumes where it
stopped; the best trial's full config is written as ``OUT/best.yaml`` for
``unetkit train --config``, and ``OUT/trials.png`` shows the score of every trial over
time and the parameters' importances. Optuna is the optional extra ``unetkit[tune]``.

Searched: learning rate (1e-4..3e-3, log), dropout (0..0.5), depth (3..5), base filters
(8, 16, 32), loss (bce, bce_dice, dice), architecture (unet, resunet, attention_unet).
Everything else comes from the given config (or the data's plan with ``--plan``). The given
settings themselves are the first trial (when they lie in the searched space), so the best
config is never one that scored worse than them on validation.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

from .config import RunConfig
from .errors import UnetkitError
from .progress import plural

SPACE = {
    "train.learning_rate": ("log", 1e-4, 3e-3),
    "model.dropout": ("float", 0.0, 0.5),
    "model.depth": ("int", 3, 5),
    "model.base_filters": ("cat", [8, 16, 32]),
    "train.loss": ("cat", ["bce", "bce_dice", "dice"]),
    "model.name": ("cat", ["unet", "resunet", "attention_unet"]),
}


def _optuna():
    try:
        import optuna
    except ImportError:
        raise UnetkitError("unetkit tune needs Optuna: pip install 'unetkit[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def suggest(trial, cfg: RunConfig) -> RunConfig:
    cfg = copy.deepcopy(cfg)
    for key, (kind, *args) in SPACE.items():
        section, name = key.split(".")
        if kind == "log":
            value = trial.suggest_float(key, args[0], args[1], log=True)
        elif kind == "float":
            value = trial.suggest_float(key, args[0], args[1])
        elif kind == "int":
            value = trial.suggest_int(key, args[0], args[1])
        else:
            value = trial.suggest_categorical(key, args[0])
        setattr(getattr(cfg, section), name, value)
    return cfg


def baseline(cfg: RunConfig) -> dict | None:
    """The searched parameters as ``cfg`` sets them, when every one lies in ``SPACE`` (else None)."""
    params = {}
    for key, (kind, *args) in SPACE.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        inside = value in args[0] if kind == "cat" else args[0] <= value <= args[1]
        if not inside:
            return None
        params[key] = value
    return params


def trial_budget(time_limit: float) -> float:
    """Minutes of one trial when none is given: a sixth of the search, at least one minute.

    Why a sixth: on a 2-core float32 CPU an ISBI epoch takes over a minute, and 2-minute trials (one
    epoch) ranked settings by how fast they start, not by where a longer run takes them (benchmarks
    README, section 14); six trials of a few epochs each rank better than ten of one."""
    return max(1.0, time_limit / 6)


def room_for_trial(elapsed_s: float, time_limit: float, trial_minutes: float) -> bool:
    """Whether a trial of ``trial_minutes`` started now ends within the search's ``time_limit`` (minutes).
    Optuna's own timeout only stops *starting* trials once the limit has passed, so a 20-minute search of
    7-minute trials ran 22 minutes; a trial that cannot finish is not started."""
    return elapsed_s + 60 * trial_minutes <= 60 * time_limit


def tune(cfg: RunConfig, out_dir, *, time_limit: float = 20.0, trials: int = 20, trial_minutes: float | None = None,
         verbose: bool = True) -> dict:
    """Run (or resume) the study in ``out_dir`` until ``trials`` trials are done or ``time_limit``
    minutes have passed; returns the best trial's value and settings. ``trial_minutes``: see
    :func:`trial_budget`."""
    from .training import train
    optuna = _optuna()
    out = Path(out_dir)
    _check_options(cfg, trials, time_limit, trial_minutes)
    out.mkdir(parents=True, exist_ok=True)
    study, trial_minutes = _open_study(optuna, out, cfg, time_limit, trial_minutes)
    done = len([t for t in study.trials if t.state.is_finished()])
    if verbose and done:
        print(f"[unetkit] resuming the study in {out}: {plural(done, 'trial')} done")

    def objective(trial):
        tcfg = suggest(trial, cfg)
        tcfg.train.time_limit = trial_minutes
        tcfg.train.epochs = max(tcfg.train.epochs, 1000)
        run = out / "trials" / f"{trial.number:03d}"
        t0 = time.time()
        result = train(tcfg, run, overwrite=True, verbose=0, callbacks=[_pruning_report(trial, cfg.train.monitor)])
        trial.set_user_attr("seconds", round(time.time() - t0, 1))
        trial.set_user_attr("config", str(run / "config.yaml"))
        if "pruned_at_epoch" in trial.user_attrs:
            raise optuna.TrialPruned()
        if result.best_score is None:
            raise UnetkitError(f"trial {trial.number}: no validation score; give the data a validation split")
        if verbose:
            print(f"[unetkit] trial {trial.number}: {cfg.train.monitor} {result.best_score:.4f} "
                  f"({tcfg.model.name}, lr {tcfg.train.learning_rate:.2g}, depth {tcfg.model.depth}, "
                  f"{tcfg.model.base_filters} filters, {tcfg.train.loss})", flush=True)
        return result.best_score

    remaining = max(trials - done, 0)
    t_start = time.time()

    def stop_without_room(study, _trial):
        if not room_for_trial(time.time() - t_start, time_limit, trial_minutes):
            study.stop()

    if remaining and not room_for_trial(0, time_limit, trial_minutes):
        if not done:
            raise UnetkitError(f"--time-limit {time_limit:g} min holds no trial of {trial_minutes:g} min; "
                               "give the search more time or its trials less (--trial-minutes)")
        remaining = 0   # a resumed study with too little time left: report what it has
    if remaining:
        study.optimize(objective, n_trials=remaining, timeout=time_limit * 60, catch=(UnetkitError,),
                       callbacks=[stop_without_room])
    return _best(optuna, study, cfg, out, verbose)


def _check_options(cfg: RunConfig, trials, time_limit, trial_minutes) -> None:
    if cfg.data.images is None or cfg.data.masks is None:
        raise UnetkitError("no training data: pass --images DIR and --masks DIR")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UnetkitError(f"--trials {trials}: the study needs at least 1 trial")
    for name, value in (("--time-limit", time_limit), ("--trial-minutes", trial_minutes)):
        if value is not None and not value > 0:   # a negative budget let trials run unbounded
            raise UnetkitError(f"{name} {value:g}: minutes, more than 0")


def _open_study(optuna, out: Path, cfg: RunConfig, time_limit: float, trial_minutes: float | None):
    """(the study stored in ``out``, created or resumed, the minutes each of its trials trains), with the given
    settings queued as a trial of their own."""
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.create_study(study_name="unetkit", storage=storage, direction="maximize", load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    # trials of one study share one budget: a resumed study (given the time that is left) keeps its own
    if trial_minutes is None:
        trial_minutes = study.user_attrs.get("trial_minutes") or trial_budget(time_limit)
    study.set_user_attr("trial_minutes", trial_minutes)
    # a resumed study must not replay the sampler's first draws (same seed, same trials): seed it past them
    study.sampler = optuna.samplers.TPESampler(seed=cfg.train.seed + len(study.trials))
    start = baseline(cfg)
    settled = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.WAITING)
    if start and not any(t.params == start and t.state in settled for t in study.trials):
        study.enqueue_trial(start)   # the given settings are a trial too: the best is never worse than them
    return study, trial_minutes


def _pruning_report(trial, monitor: str):
    """A Keras callback that reports ``monitor`` to ``trial`` after each epoch and stops a trial Optuna prunes."""
    import keras

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            if value is None:
                return
            trial.report(float(value), epoch)
            if trial.should_prune():
                self.model.stop_training = True
                trial.set_user_attr("pruned_at_epoch", epoch)
    return Report()


def _best(optuna, study, cfg: RunConfig, out: Path, verbose: bool) -> dict:
    """``best.yaml`` (the best trial's settings, at the given training time) and ``trials.png``; the summary."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise UnetkitError(f"{out}: no trial completed; give tune more time (--time-limit, --trial-minutes)")
    best = study.best_trial
    best_cfg = suggest(optuna.trial.FixedTrial(best.params), cfg)
    best_cfg.train.time_limit = cfg.train.time_limit
    best_cfg.save(out / "best.yaml")
    _plot(study, out / "trials.png")
    if verbose:
        print(f"[unetkit] best trial {best.number}: {cfg.train.monitor} {best.value:.4f}; config {out / 'best.yaml'} "
              f"(unetkit train --config {out / 'best.yaml'} ...); plot {out / 'trials.png'}")
    return {"best_value": best.value, "best_trial": best.number, "params": best.params,
            "trials": len(study.trials), "complete": len(complete)}


def _plot(study, path: Path) -> None:
    """Score of every trial against its end time, and the parameters' importances."""
    import numpy as np

    from .viz import _plt, _savefig
    optuna = _optuna()
    plt = _plt()
    done = [t for t in study.trials if t.datetime_complete is not None]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    if done:
        start = min(t.datetime_start for t in done)
        for state, colour in ((optuna.trial.TrialState.COMPLETE, "#4a90d9"), (optuna.trial.TrialState.PRUNED, "#bbbbbb")):
            pts = [((t.datetime_complete - start).total_seconds() / 60,
                    t.value if t.value is not None else (max(t.intermediate_values.values())
                                                         if t.intermediate_values else np.nan))
                   for t in done if t.state == state]
            if pts:
                a.scatter(*zip(*pts), color=colour, label=state.name.lower())
        a.legend()
    a.set_xlabel("minutes since the study began")
    a.set_ylabel("validation score")
    a.set_title("trials")
    try:
        imp = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError):
        imp = {}
    if imp:
        b.barh(list(imp)[::-1], list(imp.values())[::-1], color="#4a90d9")
    b.set_title("parameter importance" if imp else "importance needs more complete trials")
    fig.tight_layout()
    _savefig(fig, path)
