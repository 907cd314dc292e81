"""Using the machine: input-pipeline threads, and data-parallel training on several devices.

Loader threads: Keras runs ``PatchDataset.__getitem__`` (patch sampling, augmentation,
weight maps) on a thread pool with a bounded queue, ahead of the training step, so the
step and the next batch's preparation overlap. Batches stay deterministic: each one is
seeded by (seed, epoch, index), whichever thread makes it.

Data parallel, with an existing engine per backend:
  TensorFlow  ``tf.distribute.MirroredStrategy`` over N GPUs of this machine (or N logical
              CPUs, which is how CI tests it); ``MultiWorkerMirroredStrategy`` across machines
              when ``TF_CONFIG`` describes the cluster (start the same command on each);
  JAX         ``keras.distribution.DataParallel`` over N devices;
  PyTorch     not supported here (use the TensorFlow or JAX backend).
``--batch-size`` is per device: the global batch is batch x N and the learning rate is
scaled by N with it (the linear scaling rule, Goyal et al. 2017), so N devices take the
same steps as one device with an N times larger batch and rate.
"""
from __future__ import annotations

import contextlib
import json
import os

from .errors import UnetkitError


def loader_workers(requested: int = 0) -> int:
    """Threads preparing batches: as asked, else half the cores (at least 2, at most 8)."""
    if requested:
        return max(int(requested), 1)
    return min(8, max(2, (os.cpu_count() or 2) // 2))


def compile_options(jit: str, steps_per_execution: int, steps_per_epoch: int) -> dict:
    """``model.compile`` options for the step: XLA (``jit``) and steps per compiled call, the
    latter lowered to a divisor of the epoch's steps so no call runs past an epoch's end."""
    per_call = max(d for d in range(1, min(steps_per_execution, steps_per_epoch) + 1) if steps_per_epoch % d == 0)
    return {"jit_compile": {"auto": "auto", "on": True, "off": False}[jit], "steps_per_execution": per_call}


def replicas(devices: int) -> int:
    """How many replicas ``devices`` asks for (multi-worker: one per worker in TF_CONFIG)."""
    if os.environ.get("TF_CONFIG"):
        cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        return sum(len(v) for v in cluster.values()) or 1
    return max(int(devices), 1)


def strategy_scope(devices: int):
    """A context in which the model is built and compiled, for ``devices`` replicas."""
    import keras
    backend = keras.backend.backend()
    if devices <= 1 and not os.environ.get("TF_CONFIG"):
        return contextlib.nullcontext()
    if backend == "tensorflow":
        import tensorflow as tf
        if os.environ.get("TF_CONFIG"):
            return tf.distribute.MultiWorkerMirroredStrategy().scope()
        gpus = tf.config.list_logical_devices("GPU")
        pool = gpus or tf.config.list_logical_devices("CPU")
        if len(pool) < devices:
            kind = "GPUs" if gpus else "devices (no GPU found)"
            raise UnetkitError(f"--devices {devices}: this machine has {len(pool)} {kind}; pass at most "
                               f"{len(pool)}")
        return tf.distribute.MirroredStrategy([d.name for d in pool[:devices]]).scope()
    if backend == "jax":
        found = keras.distribution.list_devices()
        if len(found) < devices:
            raise UnetkitError(f"--devices {devices}: JAX sees {len(found)} devices; pass at most {len(found)}")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=found[:devices]))
        return contextlib.nullcontext()
    raise UnetkitError(f"--devices {devices}: data-parallel training needs the TensorFlow or JAX backend "
                       f"(KERAS_BACKEND=tensorflow), not {backend}")


def build_step_state(model, batch) -> None:
    """Create the optimizer's slots and the metrics' totals now, before ``fit``.

    Why: without a distribution strategy, Keras on TensorFlow defers them to the first traced step, and a
    ``tf.function`` that creates variables is traced a second time; built here, the step is traced once (about
    4 s less per run for a tiny network, more for a full one). ``batch``: one batch as the training data yields
    it, (x, y) or (x, y, weights); its first sample is run once through the network, and the metric totals it
    leaves are cleared. Other backends and strategies build this state themselves."""
    import keras
    if keras.backend.backend() != "tensorflow" or model.distribute_strategy.num_replicas_in_sync > 1 \
            or os.environ.get("TF_CONFIG"):
        return
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    first = lambda a: a[:1]   # noqa: E731
    x, y = first(batch[0]), keras.tree.map_structure(first, batch[1])
    model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
    model.reset_metrics()
