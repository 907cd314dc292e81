"""Model registry: ``build(name, **options)`` over name-to-builder functions.

Add an architecture by writing a builder in its own module and registering it here.
"""
from __future__ import annotations

from typing import Callable

from .. import _backend  # noqa: F401  (sets the default Keras backend first)
from ..errors import UnetkitError
from .unet import unet

_REGISTRY: dict[str, Callable] = {}


def register(name: str, builder: Callable) -> None:
    _REGISTRY[name] = builder


def available() -> list[str]:
    return sorted(_REGISTRY)


def build(name: str = "unet", **options):
    """Build the architecture called ``name`` with the given options."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise UnetkitError(f"unknown model {name!r}: choose one of {', '.join(available())}") from None
    return builder(**options)


register("unet", unet)
# a lighter preset that trains well on CPUs: 16 base filters with batch norm
register("unet_light", lambda **o: unet(**{"base_filters": 16, "batch_norm": True, "seed_head": False, **o}))
