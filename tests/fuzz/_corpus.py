"""The fuzz corpus: every real file in ../shared/data, the readers that apply, the mutations.

A case is (file, reader, mutation). The mutated copy is written to a temporary folder under the
original name (readers may choose by extension or by the name) and read with the same options
that read the pristine file. What is acceptable depends on the mutation:

- every mutation: no hang (a time limit), no plain built-in exception (only
  ``CathodescopeError`` subclasses), no absurd numbers (|x| > 1e15) without a warning;
- truncations: a ``TruncatedFileError`` (or another ``CathodescopeError``), or data with a
  warning; a silent short read fails;
- empty and foreign files: a ``CathodescopeError``.
"""

from __future__ import annotations

import contextlib
import gzip
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TIME_LIMIT_S = 30
ABSURD = 1e15


@dataclass(frozen=True)
class Reader:
    name: str
    read: Callable[[Path], Any]


def _readers_for(path: Path) -> list[Reader]:
    from cathodescope import io

    folder, suffix, name = path.parent.name, path.suffix.lower(), path.name
    top = (
        path.parts[-3]
        if folder in ("xradia_chip", "ssrl_ni_edge_pair", "aps8bm_ni_edge_pair")
        else folder
    )
    if name == "README.md" or name.endswith("_metadata.csv") or suffix in (".cif", ".json"):
        return []
    if top == "echem":
        return [Reader("read_cycler", io.read_cycler)]
    if top == "xas":
        if suffix == ".prj":
            return [Reader("read_athena", io.read_athena)]
        if suffix == ".xdi":
            return [Reader("read_xdi", io.read_xdi)]
        return [Reader("read_xas_columns", io.read_xas_columns)]
    if top == "spm":
        return [Reader("read_spm", io.read_spm)]
    if top == "xrd":
        return [Reader("read_pattern", io.read_pattern)]
    if top == "txm":
        if suffix in (".xrm", ".txrm"):
            return [Reader("read_xradia", io.read_xradia)]
        return [Reader("read_projections", io.read_projections)]
    if top == "xrf":
        return [
            Reader("read_xrf_map", lambda p: io.read_xrf_map(p, position_units="um")),
        ]
    return []


def corpus(data_dir: Path) -> list[tuple[Path, Reader]]:
    """Every (file, reader) pair of the corpus."""
    out = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        out.extend((path, r) for r in _readers_for(path))
    return out


# -- mutations ---------------------------------------------------------------------------------


def _is_text(data: bytes) -> bool:
    head = data[:4096]
    return b"\0" not in head and not head.startswith((b"\x1f\x8b", b"\xd0\xcf", b"\x89HDF"))


def _cut_mid_line(data: bytes, fraction: float) -> bytes:
    cut = int(len(data) * fraction)
    if _is_text(data):
        # land inside a line: an incomplete last line is what an interrupted copy leaves
        nl = data.rfind(b"\n", 0, cut)
        cut = max(nl + 1 + max(2, (data.find(b"\n", nl + 1) - nl) // 2), 1)
        cut = min(cut, len(data) - 2)
    return data[:cut]


def mutations(data: bytes, seed: int) -> Iterator[tuple[str, bytes]]:
    """(name, mutated bytes) of one file; seeded, so every run tests the same cases."""
    rng = np.random.default_rng(seed)
    yield "truncated_60pct", _cut_mid_line(data, 0.6)
    yield "truncated_97pct", _cut_mid_line(data, 0.97)
    if not _is_text(data):
        yield "cut_last_byte", data[:-1]
    flipped = bytearray(data)
    start = min(len(data) - 1, max(64, len(data) // 10))
    for pos in rng.integers(start, len(data), size=32):
        flipped[pos] ^= 0xFF
    yield "byte_flips", bytes(flipped)
    zeroed = bytearray(data)
    zeroed[: min(512, len(data))] = b"\0" * min(512, len(data))
    yield "zeroed_header", bytes(zeroed)
    yield "empty", b""
    yield "foreign", rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes()


def gzip_bomb() -> bytes:
    """A small gzip file that inflates to 3 GiB of spaces (an Athena project is gzip).

    One 16 MiB member compressed once and repeated 192 times: gzip readers read concatenated
    members as one stream, and building it takes milliseconds instead of compressing 3 GiB.
    """
    member = gzip.compress(b" " * (1 << 24), compresslevel=9, mtime=0)
    return member * 192


# -- running one case --------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _arrays(result: Any) -> Iterator[np.ndarray]:
    import pandas as pd
    import xarray as xr

    if isinstance(result, pd.DataFrame):
        for col in result.columns:
            values = result[col].to_numpy()
            if values.dtype.kind in "fiu":
                yield values
    elif isinstance(result, xr.DataArray | np.ndarray):
        yield np.asarray(result)
    elif isinstance(result, xr.Dataset):
        for v in result.data_vars.values():
            yield np.asarray(v)
    elif isinstance(result, dict):
        for v in result.values():
            yield from _arrays(v)
    elif hasattr(result, "__dataclass_fields__"):
        for field in result.__dataclass_fields__:
            value = getattr(result, field)
            if isinstance(value, np.ndarray | xr.DataArray | pd.DataFrame | dict):
                yield from _arrays(value)
    elif hasattr(result, "mu"):  # spectrum-like objects
        yield np.asarray(result.mu)


def size_of(result: Any) -> int:
    return int(sum(np.asarray(a).size for a in _arrays(result)))


def absurd(result: Any) -> bool:
    for a in _arrays(result):
        a = np.asarray(a)
        if (
            a.dtype.kind == "f"
            and a.size
            and np.nanmax(np.abs(np.where(np.isfinite(a), a, 0))) > ABSURD
        ):
            return True
    return False


def run(reader: Reader, path: Path) -> tuple[str, Any, list[str]]:
    """Read ``path``: ("ok", result, warnings), ("error", exception, []), or ("hang", ...)."""
    from cathodescope.errors import CathodescopeError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.monotonic()
        try:
            with time_limit(TIME_LIMIT_S):
                result = reader.read(path)
                if hasattr(result, "compute") and callable(result.compute):
                    result = result.compute()
        except Hang as exc:
            return "hang", exc, []
        except CathodescopeError as exc:
            if time.monotonic() - t0 >= TIME_LIMIT_S - 0.5:
                # a reader that wraps every exception would turn our alarm into its error
                return "hang", exc, []
            return "error", exc, []
        except Exception as exc:
            return "plain", exc, []
    messages = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    return "ok", result, messages
