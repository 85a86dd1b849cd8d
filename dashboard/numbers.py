"""The dashboard's one number formatter: money, shares, cores, bytes and durations for people.

Every figure a page prints in text (metrics, captions, table cells made of text) goes through
here, so the same quantity reads the same everywhere; unknown values (None, NaN) read '—'.
Tables of numbers keep their numbers and format them with column configs instead.
"""

from __future__ import annotations

import math

UNKNOWN = "—"
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def _unknown(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: float | None, currency: str = "USD") -> str:
    """Return an amount with two decimals: ``$1,234.56`` (or ``1,234.56 CHF``)."""
    if value is None or _unknown(float(value)):
        return UNKNOWN
    sign = "-" if value < 0 else ""
    symbol = _SYMBOLS.get(currency.upper())
    amount = f"{abs(value):,.2f}"
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def share(value: float | None, digits: int = 0) -> str:
    """Return a fraction as a percentage: ``share(0.724)`` is '72 %', ``share(0.2614, 1)`` '26.1 %'."""
    if value is None or _unknown(float(value)):
        return UNKNOWN
    return f"{value * 100:,.{digits}f} %"


def cores(value: float | None) -> str:
    """Return cores as '12.5 cores' ('250m' below one core)."""
    if value is None or _unknown(float(value)):
        return UNKNOWN
    if abs(value) < 1:
        return f"{value * 1000:,.0f}m"
    return f"{value:,.1f} cores"


def size(value: float | None) -> str:
    """Return bytes as '1.5 GiB' (binary units)."""
    if value is None or _unknown(float(value)):
        return UNKNOWN
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024:
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1024
    return f"{amount:,.1f} PiB"


def duration(seconds: float | None) -> str:
    """Return a duration as '45 s', '12 min', '3.5 h' or '2.0 days'.

    A negative duration (a snapshot stamped ahead of this machine's clock) keeps its sign.
    """
    if seconds is None or _unknown(float(seconds)):
        return UNKNOWN
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 90:
        return f"{seconds:,.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:,.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} days"
