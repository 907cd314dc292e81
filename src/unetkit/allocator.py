"""glibc malloc settings that keep a CPU training step from paying for page faults.

Why: a U-Net step allocates and frees tens of activation and gradient buffers of 1-150 MB.
TensorFlow's ``tf.data`` generator dataset (what Keras builds from a ``PyDataset`` such as
``PatchDataset``) calls ``mallopt(M_TRIM_THRESHOLD, 128 KB)`` when its iterator starts, which also
freezes glibc's adaptive mmap threshold at whatever it had reached. In a fresh training process
that is 128 KB, so every large buffer is a fresh ``mmap`` (zeroed by the kernel page by page) and
every free gives the pages back: measured on 2 AMD EPYC cores, float32, batch 4 of 256 px, about
700,000 page faults per step and 3.4 s per step against 1.7-2.0 s for the same step once the
buffers are reused (``benchmarks/pipeline.py``; benchmarks/README.md section 10).

``tune()`` sets the three limits back so freed buffers stay in the heap for the next step:
mmap only above 32 MB (glibc's largest allowed), never trim the heap top below 1 GiB free, and
grow the heap 64 MB at a time. The cost is memory held, not used: the process keeps its peak
working set (plus at most 1 GiB of freed heap top) until it exits, which for training is the
working set it needs again at the next step. Because the generator dataset re-applies its
setting with every new iterator (each epoch, each validation pass), ``KeepHeap`` re-applies
``tune()`` before every batch (a ``mallopt`` call takes microseconds).

Only glibc (Linux) has ``mallopt``; elsewhere ``tune()`` does nothing and says so by returning
False. ``UNETKIT_MALLOC=default`` leaves glibc as it is (for measuring the difference).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 64 << 20))


@functools.lru_cache(maxsize=1)
def _mallopt():
    """glibc's ``mallopt``, or None where the C library has none (macOS, Windows, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None


def wanted() -> bool:
    """``UNETKIT_MALLOC``: tuned (or unset) applies ``SETTINGS``, default leaves glibc alone; anything else is
    refused rather than read as one of them."""
    value = os.environ.get("UNETKIT_MALLOC", "tuned").strip().lower()
    if value not in ("tuned", "default"):
        from .errors import UnetkitError
        raise UnetkitError(f"UNETKIT_MALLOC={value!r}: set it to tuned or default, or unset it")
    return value == "tuned"


def tune() -> bool:
    """Apply ``SETTINGS``; True when glibc took every one of them."""
    mallopt = _mallopt()
    if not wanted() or mallopt is None:
        return False
    return all(mallopt(param, value) == 1 for param, value in SETTINGS)


def keep_heap_callback():
    """A Keras callback that re-applies ``tune()`` before each training and validation batch."""
    import keras

    class KeepHeap(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            tune()

        def on_test_batch_begin(self, batch, logs=None):
            tune()

    return KeepHeap()
