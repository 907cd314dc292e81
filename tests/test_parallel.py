"""Data-parallel training: two logical CPU devices give the same losses as one device
with the same global batch and learning rate (MirroredStrategy, TensorFlow backend)."""
import csv
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import os, sys
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {tests!r})
    from conftest import tiny_config
    from unetkit.training import train
    for devices, batch, out in zip(*[iter(sys.argv[1:])] * 3):   # one process (one TensorFlow start) for all runs
        devices, batch = int(devices), int(batch)
        cfg = tiny_config({images!r}, {masks!r}, epochs=1, steps_per_epoch=2,
                          batch_size=batch, devices=devices,
                          learning_rate=1e-3 * (2 if devices == 1 else 1), lr_schedule="constant")
        cfg.model.batch_norm, cfg.model.dropout = False, 0.0   # per-replica statistics and masks would differ
        train(cfg, out, verbose=0)
''')


def _losses(run):
    with open(run / "history.csv") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_two_devices_match_one_device_on_the_same_global_batch(synth, tmp_path):
    from pathlib import Path
    images, masks = synth
    script = SCRIPT.format(tests=str(Path(__file__).parent),
                           images=str(images), masks=str(masks))
    settings = ((2, 2), (1, 4))   # global batch 4 both ways; lr 2e-3 both ways (linear scaling)
    args = [str(a) for devices, batch in settings for a in (devices, batch, tmp_path / f"d{devices}")]
    res = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = {devices: _losses(tmp_path / f"d{devices}") for devices, _ in settings}
    assert len(runs[1]) == len(runs[2]) == 1
    assert runs[2] == pytest.approx(runs[1], rel=1e-4)   # the same two steps, to float precision


def test_several_steps_per_compiled_call_train_the_same_steps(synth, tmp_path):
    """--steps-per-execution only changes how often Python is visited: same batches, same losses."""
    from conftest import tiny_config
    from unetkit.parallel import compile_options
    from unetkit.training import train
    assert compile_options("off", 4, 6)["steps_per_execution"] == 3   # lowered to a divisor of the epoch
    assert compile_options("on", 8, 50) == {"jit_compile": True, "steps_per_execution": 5}
    losses = {}
    for per_call in (1, 2):
        cfg = tiny_config(*synth, epochs=2, steps_per_epoch=4, lr_schedule="constant", steps_per_execution=per_call)
        cfg.model.dropout = 0.0
        train(cfg, tmp_path / f"spe{per_call}", verbose=0)
        losses[per_call] = _losses(tmp_path / f"spe{per_call}")
    assert len(losses[1]) == 2
    assert losses[2] == pytest.approx(losses[1], rel=1e-4)


def test_the_training_step_is_traced_once(synth, tmp_path, monkeypatch):
    """Keras on TensorFlow creates the optimizer's slots and the metrics' totals inside the first traced step unless
    they exist, and TensorFlow then traces the step again (seconds per run); train builds them first."""
    import keras

    from conftest import tiny_config
    from unetkit.training import train
    traces, step = [], keras.Model.train_step

    def counted(self, data):   # Python runs train_step once per trace
        traces.append(1)
        return step(self, data)
    monkeypatch.setattr(keras.Model, "train_step", counted)
    train(tiny_config(*synth, epochs=2, steps_per_epoch=2), tmp_path / "run", verbose=0)
    assert len(traces) == 1
