"""Running blocks as tasks of a Dask graph, here or on a cluster.

``run(fn, jobs)`` computes ``fn(job)`` for every job: on Dask's local threaded
scheduler by default (no set-up), or on a ``dask.distributed`` cluster when a
scheduler address is given (``--scheduler tcp://host:8786`` or ``UNETKIT_SCHEDULER``).
A progress line counts finished blocks either way.

Workers need the model and the image, which do not travel with a task: each process
loads them once from their paths and keeps them (``cached``). A model object handed
to the API (not a path) exists only in this process, so it runs on threads only.
Model calls take a lock per model: the backend already uses every core for one call,
so threads overlap reading, normalising, blending and writing with it instead.
"""
from __future__ import annotations

import os
import threading
from typing import Callable

from ..errors import SetupError
from ..progress import Progress

SCHEDULER_ENV = "UNETKIT_SCHEDULER"
_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def cached(key, make: Callable):
    """One object per key per process (a model, an opened image), made on first use."""
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = make()
        return _CACHE[key]


def put(key, value) -> None:
    with _CACHE_LOCK:
        _CACHE[key] = value


def scheduler_address(given: str | None) -> str | None:
    return given or os.environ.get(SCHEDULER_ENV) or None


def run(fn: Callable, jobs: list, *, scheduler: str | None = None, workers: int | None = None,
        unit: str = "blocks", label: str = "", verbose: bool = True) -> list:
    """``[fn(job) for job in jobs]`` as Dask tasks, results in job order."""
    bar = Progress(len(jobs), unit, enabled=verbose)
    address = scheduler_address(scheduler)
    if address:
        return _run_distributed(fn, jobs, address, bar, label)
    import dask
    from dask.callbacks import Callback

    keys = set()

    class _Bar(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if key in keys:
                bar.step(label)

    tasks = [dask.delayed(fn, pure=False)(job) for job in jobs]
    keys.update(t.key for t in tasks)
    with _Bar():
        return list(dask.compute(*tasks, scheduler="threads", num_workers=workers or min(os.cpu_count() or 1, 4)))


def _run_distributed(fn, jobs, address, bar, label) -> list:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise SetupError("--scheduler needs dask.distributed: pip install distributed") from None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise SetupError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc}); "
                           "check the address, or leave --scheduler out to run here") from None
    try:
        futures = client.map(fn, jobs, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(jobs)
        for fut, result in as_completed(futures, with_results=True):
            results[index[fut.key]] = result
            bar.step(label)
        return results
    finally:
        client.close()


def block_regions(yx, size: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the blocks of ``size`` px a side that tile a plane of ``yx`` (the last row and column
    cut at the edge)."""
    h, w = yx
    return [(y, min(y + size, h), x, min(x + size, w)) for y in range(0, h, size) for x in range(0, w, size)]
