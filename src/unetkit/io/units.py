"""Physical units as microscope files name them (OME-XML, OME-NGFF, ImageJ), converted to the ones unetkit reports
in: micrometres for lengths, seconds for time (micro written with the micro sign or the Greek mu: files use both).
A unit not in these tables gives None, never a guess: a number whose unit is unknown is not read as micrometres or
seconds (the user passes ``--pixel-size`` or ``--frame-interval``)."""
from __future__ import annotations

MICROMETRES = {"µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0,
               "\\u00B5m": 1.0, "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3, "mm": 1e3, "millimeter": 1e3,
               "millimetre": 1e3, "Å": 1e-4, "angstrom": 1e-4}
SECONDS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3,
           "millisecond": 1e-3, "milliseconds": 1e-3, "µs": 1e-6, "μs": 1e-6, "us": 1e-6, "microsecond": 1e-6, "min": 60.0,
           "mins": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0}


def _convert(value, unit, table: dict) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    factor = table.get(str(getattr(unit, "value", unit)).strip())   # ome-types gives units as enums
    return value * factor if factor is not None and value > 0 else None


def micrometres(value, unit) -> float | None:
    """``value`` in ``unit`` as micrometres; None for an unknown unit or a value that is not a positive number."""
    return _convert(value, unit, MICROMETRES)


def seconds(value, unit) -> float | None:
    """``value`` in ``unit`` as seconds; None for an unknown unit or a value that is not a positive number."""
    return _convert(value, unit, SECONDS)
