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


def test_tiling_settings_take_numpy_integers_and_refuse_fractions():
    import numpy as np
    import pytest

    from unetkit.config import PredictConfig, check_predict
    from unetkit.errors import UnetkitError
    assert check_predict(PredictConfig(tile=np.int64(256), overlap=np.int32(32))).tile == 256
    with pytest.raises(UnetkitError, match="--tile 256.5: must be a whole number"):
        check_predict(PredictConfig(tile=256.5))
