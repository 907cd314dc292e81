"""What made a folder of results: the settings of a ``predict`` or ``count`` run, written beside its outputs
(``predict.yaml`` / ``count.yaml``) before the first image, so the folder says which model and which settings
(effective ones: the model's own thresholds where the user gave none) produced it.

A folder holds one set of settings: a later run into it with other settings is refused unless ``--overwrite``
(with ``--skip-existing`` that is the run being continued with changed options, which would mix two kinds of output);
a later run with the same settings adds its inputs to the record. What only says how a run was executed (threads,
a scheduler, the batch of tiles per call) is recorded but not compared.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from .errors import UnetkitError

EXECUTION = {"blocks.scheduler", "blocks.workers", "predict.batch_size"}   # how it ran, not what it computed
NOT_SETTINGS = {"inputs", "unetkit", "written"}


def run_record(command: str, model, files, **sections) -> dict:
    """The record of a run: ``model`` as given (bundled name, run folder or file), the inputs, and each section
    (a dataclass or a dict) as plain values."""
    from importlib.metadata import PackageNotFoundError, version
    try:   # the installed metadata, not the package's __init__ (which imports every command: an arrow up)
        made_by = version("unetkit")
    except PackageNotFoundError:
        made_by = "not installed (run from a source tree)"

    def plain(value):
        value = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        return json.loads(json.dumps(value, default=str))   # tuples, paths, numpy numbers: YAML-safe values
    return {"command": command, "unetkit": made_by, "written": time.strftime("%Y-%m-%d %H:%M:%S"),
            "model": None if model is None else str(model), "inputs": [str(Path(f).resolve()) for f in files],
            **{name: plain(value) for name, value in sections.items()}}


def settings(record: dict) -> dict:
    """The record's settings as ``section.key`` -> value, without what only says how the run was executed."""
    flat = {}
    for name, value in record.items():
        if name in NOT_SETTINGS:
            continue
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, v in items:
            flat[name if key is None else f"{name}.{key}"] = v
    return {k: v for k, v in flat.items() if k not in EXECUTION}


def defaults() -> dict:
    """``section.key`` -> the default of every setting the records' sections hold: a record written before a setting
    existed lacks it, and that run ran as its default (it could not be set), so the default is what it is compared
    as; a resumed run is then refused only for a setting that really differs."""
    from .config import AxisChoice, BlockConfig, InstanceConfig, PredictConfig
    sections = {"predict": PredictConfig, "instances": InstanceConfig, "planes": AxisChoice, "blocks": BlockConfig}
    return settings({name: dataclasses.asdict(cls()) for name, cls in sections.items()})


class RecordWriter:
    """Checks the folder's earlier record at once (``check``: other settings refuse the run unless ``overwrite``; the
    same settings add this run's inputs) and writes ``OUT/COMMAND.yaml`` just before the run's first output
    (``write``, idempotent), so a run whose every file fails leaves no record to refuse its corrected rerun."""

    def __init__(self, out: Path, record: dict, overwrite: bool):
        self.path, self.record, self.written = Path(out) / f"{record['command']}.yaml", record, False
        if self.path.is_file() and not overwrite:
            self.record = merged(self.path, record)

    def write(self) -> None:
        if not self.written:
            import yaml

            from .io import write_text
            write_text(self.path, yaml.safe_dump(self.record, sort_keys=False))
            self.written = True


def merged(path: Path, record: dict) -> dict:
    """``record`` with the inputs of the earlier record at ``path`` added; refused when their settings differ."""
    import yaml
    earlier = yaml.safe_load(path.read_text()) or {}
    old, new, default = settings(earlier), settings(record), defaults()
    old.update({k: default[k] for k in new if k not in old and k in default})   # recorded before the setting existed
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if changed:
        shown = "; ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in changed[:3])
        raise UnetkitError(f"{path}: this folder holds results made with other settings ({shown}); run with "
                           "the same options, choose another --out, or pass --overwrite")
    return {**record, "inputs": list(dict.fromkeys([*earlier.get("inputs", []), *record["inputs"]]))}
