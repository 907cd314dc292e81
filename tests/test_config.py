

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
