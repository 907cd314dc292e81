"""The contract every architecture meets, so the rest of unetkit never looks inside one.

An ``Architecture`` builds a Keras model from its own options and says what training,
tiling, block-wise prediction and checkpoints need to know:
  ``divisor``  input height and width must be multiples of it (2^depth for a U-Net);
  ``halo``     px of context on each side that reach an output pixel (half the receptive
               field): the overlap-tile margin that hides every tile edge;
  ``heads``    the output channels by name: ``main`` (1 sigmoid or K softmax) and, with
               ``aux``, an auxiliary regression head (``distance``) appended as the last channel.
Adding an architecture is one module with a builder plus one ``register`` line.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

AUX_HEADS = ("distance",)   # per-object distance to the border, normalised to [0, 1] inside each object


@dataclass(frozen=True)
class Architecture:
    name: str
    builder: Callable            # builder(input_channels=, num_classes=, aux=, **options) -> keras.Model
    description: str = ""
    defaults: tuple = ()         # (option, value) pairs that differ from the builder's own defaults (presets)

    @property
    def options(self) -> dict:
        """Every option the builder takes, with its effective default."""
        sig = inspect.signature(self.builder)
        opts = {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}
        return {**opts, **dict(self.defaults)}

    def resolve(self, **options) -> dict:
        """Effective options: the defaults, updated by ``options`` it knows (others are not its business)."""
        known = self.options
        return {**known, **{k: v for k, v in options.items() if k in known}}

    def build(self, **options):
        return self.builder(**self.resolve(**options))

    def divisor(self, **options) -> int:
        return 2 ** int(self.resolve(**options).get("depth", 0))

    def halo(self, **options) -> int:
        """Half the receptive field of the encoder-decoder: two 3x3 convs per level on the way
        down and up (4 px of context per level, scaled by its stride), pooling and 2x2 up-convs."""
        depth = int(self.resolve(**options).get("depth", 0))
        field = 1 + sum(2 * (4 + 1) * 2 ** level for level in range(depth)) + 4 * 2 ** depth
        return field // 2

    def heads(self, **options) -> dict:
        o = self.resolve(**options)
        heads = {"main": int(o.get("num_classes", 1))}
        if o.get("aux"):
            heads[o["aux"]] = 1
        return heads
