"""A small progress line for long loops (files, tiles), printed to stderr, and counts said in words."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, unit: str, enabled: bool = True):
        self.total, self.unit, self.enabled = total, unit, enabled
        self.done, self.start = 0, time.time()

    def step(self, note: str = "") -> None:
        self.done += 1
        if self.enabled:
            rate = self.done / max(time.time() - self.start, 1e-9)
            print(f"[{self.done}/{self.total} {self.unit}, {rate:.2f}/s] {note}", file=sys.stderr, flush=True)

    def close(self, note: str) -> None:
        if self.enabled:
            print(f"[unetkit] {note} ({time.time() - self.start:.1f} s)", file=sys.stderr, flush=True)


def plural(n: int, noun: str) -> str:
    """``n`` and the noun, in the plural unless n is 1: "1 image", "3 images" (messages that count things)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
