"""Deterministic hashing, names, timestamps and quantity strings for the simulated fleet.

Everything here is a pure function of its arguments: no wall clock, no global random state,
no ``hash()`` of strings (which Python salts per process).
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

MASK64 = 0xFFFFFFFFFFFFFFFF
KI = 1024
MI = 1024 * 1024
GI = 1024 * 1024 * 1024

# The alphabet Kubernetes uses for generated name suffixes and pod-template-hash values
# (k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3 to avoid words and look-alikes).
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"


_K1 = 0x9E3779B97F4A7C15
_K2 = 0xBF58476D1CE4E5B9


def mix(*parts: int) -> int:
    """Combine integers into one well-mixed 64-bit hash (order matters)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = ((h ^ p) * _K1) & MASK64
        h ^= h >> 31
    h = (h * _K2) & MASK64
    return h ^ (h >> 29)


class _Memo(dict[object, str]):
    """A bounded memo of strings that recur from instant to instant (names, ids, timestamps)."""

    __slots__ = ()
    LIMIT = 400_000

    def put(self, key: object, value: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        self[key] = value
        return value


class GenCache:
    """Objects kept while they are in use: what the last two instants touched, nothing older.

    Keeps the number of live objects (and so the cost of Python's full garbage collections)
    proportional to one cluster instant, however long a history is generated.
    """

    __slots__ = ("_new", "_old", "_tick")

    def __init__(self) -> None:
        self._new: dict[object, Any] = {}
        self._old: dict[object, Any] = {}
        self._tick: object = None

    def tick(self, instant: object) -> None:
        """Start using the cache for ``instant``; forget what the instant before last used."""
        if instant != self._tick:
            self._tick = instant
            self._old = self._new
            self._new = {}

    def get(self, key: object) -> Any:
        got = self._new.get(key)
        if got is None:
            got = self._old.get(key)
            if got is not None:
                self._new[key] = got
        return got

    def put(self, key: object, value: Any) -> None:
        self._new[key] = value


_SUFFIX = _Memo()
_UID = _Memo()
_HEX = _Memo()
_TS = _Memo()


def unit(h: int) -> float:
    """Map a 64-bit hash to a float in [0, 1)."""
    return (h >> 11) * (1.0 / 9007199254740992.0)


def skey(text: str) -> int:
    """A stable 64-bit integer for a string (unlike ``hash()``, the same in every process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def vnoise(key: int, t: float, period: int) -> float:
    """Smooth value noise in [-1, 1]: random points every ``period`` seconds, linearly joined."""
    k, r = divmod(t, period)
    ki = int(k)
    a = unit(mix(key, ki))
    b = unit(mix(key, ki + 1))
    return (a + (b - a) * (r / period)) * 2.0 - 1.0


def suffix(h: int, n: int = 5) -> str:
    """A generated-name suffix such as ``x2kqz``."""
    got = _SUFFIX.get((h, n))
    if got is not None:
        return got
    key = (h, n)
    out = []
    for _ in range(n):
        h, r = divmod(h, 27)
        out.append(_ALNUM[r])
    return _SUFFIX.put(key, "".join(out))


def template_hash(h: int) -> str:
    """A pod-template-hash / controller-revision-hash such as ``7d9f8b6c4``."""
    return suffix(mix(h, 7), 9 + (h & 1))


def uid(h: int) -> str:
    """An RFC 4122 version-4-shaped UUID string derived from a hash."""
    got = _UID.get(h)
    if got is not None:
        return got
    a = mix(h, 0x51)
    b = mix(h, 0x52)
    s = f"{a:016x}{b:016x}"
    return _UID.put(h, f"{s[0:8]}-{s[8:12]}-4{s[13:16]}-{'89ab'[b & 3]}{s[17:20]}-{s[20:32]}")


def hex_digest(h: int, n: int = 64) -> str:
    """``n`` hex characters (a container ID, an image digest, a machine ID)."""
    got = _HEX.get((h, n))
    if got is not None:
        return got
    out: list[str] = []
    i = 0
    while len(out) * 16 < n:
        out.append(f"{mix(h, 0x99, i):016x}")
        i += 1
    return _HEX.put((h, n), "".join(out)[:n])


def ip4(n: int) -> str:
    """A 10.x.y.z address from a 24-bit integer."""
    n &= 0xFFFFFF
    return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"


_DAYS: dict[int, str] = {}


def ts(t: float) -> str:
    """RFC 3339 UTC timestamp with second precision, as the API serves metadata times."""
    ti = int(t)
    got = _TS.get(ti)
    if got is not None:
        return got
    d, s = divmod(ti, 86400)
    day = _DAYS.get(d)
    if day is None:
        day = datetime.fromtimestamp(d * 86400, UTC).strftime("%Y-%m-%d")
        if len(_DAYS) < 100_000:
            _DAYS[d] = day
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return _TS.put(ti, f"{day}T{h:02d}:{m:02d}:{sec:02d}Z")


def ts_nano(t: float, frac: int) -> str:
    """RFC 3339 with nanoseconds (``kubernetes.io/config.seen`` style)."""
    return ts(t)[:-1] + f".{frac % 1_000_000_000:09d}Z"


# --- quantities -------------------------------------------------------------------------------

_BIN = (("Ti", 1024**4), ("Gi", GI), ("Mi", MI), ("Ki", KI))
_DEC = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def fmt_cpu(millicores: int) -> str:
    """Canonical CPU quantity: ``2`` for whole cores, else ``1250m``."""
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def fmt_bytes(b: int) -> str:
    """Canonical binary-SI memory quantity: the largest exact unit (``3Gi``, ``1536Mi``, ``123``)."""
    if b <= 0:
        return "0"
    for name, f in _BIN:
        if b % f == 0:
            return f"{b // f}{name}"
    return str(b)


def parse_cpu_m(q: str) -> int:
    """Millicores of a CPU quantity in the forms this simulator writes (``250m``, ``1.5``, ``2``)."""
    if q.endswith("m"):
        return int(q[:-1])
    if q.endswith("n"):
        return math.ceil(int(q[:-1]) / 1_000_000)
    return round(float(q) * 1000)


def parse_bytes(q: str) -> int:
    """Bytes of a memory quantity in the forms this simulator writes (``512Mi``, ``1.5Gi``, ``1G``)."""
    for name, f in _BIN:
        if q.endswith(name):
            return round(float(q[: -len(name)]) * f)
    last = q[-1]
    if last in _DEC:
        return round(float(q[:-1]) * _DEC[last])
    return int(q)
