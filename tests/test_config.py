import re

import pytest

from unetkit.errors import UnetkitError


def test_unreadable_config_files_are_refused_with_their_name(tmp_path):
    import pytest

    from unetkit.config import load_config
    from unetkit.errors import UnetkitError
    with pytest.raises(UnetkitError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(UnetkitError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- train\n- model\n")
    with pytest.raises(UnetkitError, match="list.yaml: expected sections"):
        load_config(listed)


@pytest.mark.parametrize("key,value,words", [("texture", -0.1, "grain amplitude >= 0"), ("shading", 1.0, "in [0, 1)"),
                                             ("shot_noise", -5, "fewest photons"), ("dim_objects", 1.0, "in [0, 1)")])
def test_texture_shading_and_shot_noise_out_of_range_are_refused(tmp_path, key, value, words):
    from unetkit.config import load_config
    (tmp_path / "c.yaml").write_text(f"augment:\n  {key}: {value}\n")
    with pytest.raises(UnetkitError, match=rf"c.yaml: augment.{key} = {value} must be .*{re.escape(words)}"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "ok.yaml").write_text(f"augment:\n  {key}: 0.5\n")
    assert getattr(load_config(tmp_path / "ok.yaml").augment, key) == 0.5


def test_a_validation_share_outside_0_1_is_refused():
    import pytest

    from unetkit.config import RunConfig, validate
    from unetkit.errors import UnetkitError
    cfg = RunConfig()
    cfg.data.val_fraction = 1.5
    with pytest.raises(UnetkitError, match=r"data.val_fraction = 1.5 must be a share of the images in \[0, 1\)"):
        validate(cfg)


def test_a_negative_time_limit_or_patience_and_a_demo_without_minutes_are_refused(tmp_path, capsys):
    """--time-limit -1 stopped training after one step in silence; demo --minutes 0 trained without end."""
    from unetkit.cli import main
    from unetkit.config import RunConfig, validate
    for key, value, words in (("time_limit", -1, "minutes > 0 (0 or none: no limit)"),
                              ("early_stopping", -2, "a whole number of epochs >= 0"),
                              ("early_stopping", 2.5, "a whole number of epochs >= 0")):
        cfg = RunConfig()
        setattr(cfg.train, key, value)
        with pytest.raises(UnetkitError, match=re.escape(f"train.{key} = {value} must be {words}")):
            validate(cfg)
    for ok in (None, 0, 0.5):
        cfg = RunConfig()
        cfg.train.time_limit = ok
        validate(cfg)
    for minutes in ("0", "-1"):
        assert main(["demo", "--data", "synthetic", "--minutes", minutes, "--out", str(tmp_path / "demo")]) == 2
        assert "the demo's training budget, minutes > 0" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_tiling_settings_take_numpy_integers_and_refuse_fractions():
    import numpy as np
    import pytest

    from unetkit.config import PredictConfig, check_predict
    from unetkit.errors import UnetkitError
    assert check_predict(PredictConfig(tile=np.int64(256), overlap=np.int32(32))).tile == 256
    with pytest.raises(UnetkitError, match="--tile 256.5: must be a whole number"):
        check_predict(PredictConfig(tile=256.5))
