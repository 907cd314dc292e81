"""unetkit tune: trials run, the study lives in SQLite and resumes, the best config is usable."""
import yaml

from conftest import tiny_config
from unetkit.tune import tune


def test_tune_runs_resumes_and_writes_a_usable_config(synth, tmp_path):
    """The given settings are the first trial (when they lie in the searched space) and are not queued again on
    resume; a resumed study keeps its trial budget and its sampler does not replay its first draw."""
    import optuna

    from unetkit.tune import baseline
    images, masks = synth
    cfg = tiny_config(images, masks, epochs=2, steps_per_epoch=2)
    assert baseline(cfg) is None                      # 4 filters, depth 2: outside the searched space
    cfg.model.base_filters, cfg.model.depth = 8, 3

    def study():
        return optuna.load_study(study_name="unetkit", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    first = tune(cfg, tmp_path / "study", trials=1, trial_minutes=0.05, time_limit=5, verbose=False)
    assert first["trials"] == 1 and first["complete"] == 1
    assert study().trials[0].params == baseline(cfg)
    # a second call (as after a kill) continues the same study instead of starting over;
    # given only the time left, it keeps the study's own trial budget (not a sixth of what is left)
    assert tune(cfg, tmp_path / "study", trials=2, time_limit=5, verbose=False)["trials"] == 2
    second = tune(cfg, tmp_path / "study", trials=3, time_limit=5, verbose=False)
    assert second["trials"] == 3
    trials = study().trials
    assert study().user_attrs["trial_minutes"] == 0.05
    assert sum(t.params == baseline(cfg) for t in trials) == 1                  # not queued again
    assert trials[1].params != trials[2].params   # the resumed sampler does not replay its first draw
    assert (tmp_path / "study" / "study.db").is_file() and (tmp_path / "study" / "trials.png").is_file()
    best = yaml.safe_load((tmp_path / "study" / "best.yaml").read_text())
    assert best["model"]["name"] in ("unet", "resunet", "attention_unet")
    assert best["train"]["learning_rate"] == second["params"]["train.learning_rate"]
    from unetkit.config import load_config
    load_config(tmp_path / "study" / "best.yaml")  # valid for unetkit train --config


def test_the_default_trial_budget_is_a_sixth_of_the_search():
    from unetkit.tune import trial_budget
    assert trial_budget(30) == 5.0 and trial_budget(3) == 1.0


def test_no_trial_starts_that_cannot_end_within_the_search():
    from unetkit.tune import room_for_trial
    assert room_for_trial(0, 20, 7) and room_for_trial(13 * 60, 20, 7)
    assert not room_for_trial(13 * 60 + 1, 20, 7)      # Optuna's timeout alone would start it and run to 21 min


def test_a_search_too_short_for_one_trial_is_refused(synth, tmp_path):
    import pytest

    from unetkit.errors import UnetkitError
    cfg = tiny_config(*synth, epochs=2, steps_per_epoch=2)
    with pytest.raises(UnetkitError, match="holds no trial"):
        tune(cfg, tmp_path / "study", trials=3, trial_minutes=5, time_limit=2, verbose=False)


def test_budgets_that_cannot_be_a_search_are_refused_before_anything_is_written(synth, tmp_path):
    """A negative --trial-minutes let every trial run unbounded (the search ran on past its limit); 0 trials was
    reported as 'no trial completed: give it more time'."""
    import pytest

    from unetkit.errors import UnetkitError
    cfg = tiny_config(*synth, epochs=2, steps_per_epoch=2)
    for kwargs, message in (({"trials": 0}, "--trials 0: the study needs at least 1 trial"),
                            ({"trial_minutes": -1}, "--trial-minutes -1: minutes, more than 0"),
                            ({"time_limit": -2}, "--time-limit -2: minutes, more than 0")):
        with pytest.raises(UnetkitError, match=message):
            tune(cfg, tmp_path / "study", verbose=False, **kwargs)
        assert not (tmp_path / "study").exists()
