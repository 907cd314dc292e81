"""Model registry: name -> ``Architecture`` (see ``base.py`` for the contract).

``build(name, **options)`` is the flat factory; ``get(name)`` returns the architecture,
which also reports its size divisor, halo and heads. Add one by writing a builder in
its own module and one ``register`` line below (or from your own code).
"""
from __future__ import annotations

from typing import Callable

from .. import _backend  # noqa: F401  (sets the default Keras backend first)
from ..errors import UnetkitError
from .attention_unet import attention_unet
from .base import AUX_HEADS, Architecture
from .resunet import resunet
from .unet import unet

_REGISTRY: dict[str, Architecture] = {}


def register(name: str, builder: Callable, description: str = "", **defaults) -> Architecture:
    arch = Architecture(name, builder, description, tuple(defaults.items()))
    _REGISTRY[name] = arch
    return arch


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def available() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Architecture:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnetkitError(f"unknown model {name!r}: choose one of {', '.join(available())}") from None


def build(name: str = "unet", **options):
    """Build the architecture called ``name`` with the given options."""
    arch = get(name)
    unknown = set(options) - set(arch.options)
    if unknown:
        raise UnetkitError(f"model {name!r} takes no option {', '.join(sorted(unknown))}; "
                           f"its options: {', '.join(sorted(arch.options))}")
    return arch.build(**options)


register("unet", unet, "the classic U-Net; defaults are the seeds' network (64 filters, no batch norm)")
register("unet_light", unet, "16 base filters + batch norm: trains well on CPUs (the training default)",
         base_filters=16, batch_norm=True, seed_head=False)
register("resunet", resunet, "residual U-Net: residual conv pairs with shortcuts (Zhang et al. 2018)")
register("attention_unet", attention_unet, "Attention U-Net: additive attention gates on the skips (Oktay et al. 2018)")

__all__ = ["AUX_HEADS", "Architecture", "available", "build", "get", "register", "unregister"]
