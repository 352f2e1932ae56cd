"""Readers for X-ray absorption spectra: XDI, plain column files, ATHENA projects, XANES stacks.

Every reader returns energies in eV. Units are never guessed silently: a file either declares
them (XDI ``Column.N: energy eV``, a header word ``eV``/``keV``, the ``energy_units=`` argument) or
its values admit only one reading (see :func:`resolve_energy_units`); otherwise
:class:`~cathodescope.errors.UnitsError` is raised.

ATHENA project files (``.prj``) come in two flavours, both usually gzip-compressed:

* the historical *Perl dumper* text (``$old_group = 'abcde'; @args = (...); @x = (...);``),
  which we parse with a small tokenizer of our own (never ``eval``), and
* the newer JSON layout (keys ``_____header1``, ``_____order`` and one object per group with
  ``args``, ``x``, ``y``, ``i0``...), as written by recent Demeter and by larch.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import (
    EmptyDataError,
    EnergyAxisError,
    FileFormatError,
    MissingMetadataError,
    ShapeMismatchError,
    TruncatedFileError,
    UnitsError,
)

EnergyUnits = Literal["eV", "keV", "auto"]
_UNIT_CHOICES = ("eV", "keV", "auto")

# Lowest absorption edge used in practice is Li K (~55 eV); the highest tabulated K edges are
# ~116 keV (U). A value below 30 cannot be eV, a value above 200 cannot be keV.
_MIN_EV = 30.0
_MAX_KEV = 200.0


def resolve_energy_units(
    energy: np.ndarray, declared: str | None, *, source: str = "energy"
) -> float:
    """Return the factor converting ``energy`` to eV (1.0 or 1000.0).

    Parameters
    ----------
    energy : ndarray
        Energy values as read from the file (any unit).
    declared : {"eV", "keV"} or None
        Units declared by the file or the caller; ``None`` means undeclared.
    source : str
        Name used in error messages.

    Returns
    -------
    float
        Multiply ``energy`` by this to get eV.

    Raises
    ------
    UnitsError
        If the units are undeclared and the values could be both eV and keV (between 30 and
        200), or if declared units are impossible for the values.

    Examples
    --------
    >>> resolve_energy_units(np.array([8.2, 8.6]), None)
    1000.0
    >>> resolve_energy_units(np.array([8200.0, 8600.0]), None)
    1.0
    """
    e = np.asarray(energy, dtype=float)
    lo, hi = float(np.nanmin(e)), float(np.nanmax(e))
    if declared is not None:
        unit = {"ev": "eV", "kev": "keV"}.get(str(declared).strip().lower())
        if unit is None:
            raise UnitsError(f"{source}: unknown energy unit {declared!r}; use 'eV' or 'keV'.")
        factor = 1.0 if unit == "eV" else 1000.0
        if hi * factor > _MAX_KEV * 1000 or lo * factor < 1.0:
            raise UnitsError(
                f"{source}: energies {lo:g}-{hi:g} declared in {unit} give {lo * factor:g}-"
                f"{hi * factor:g} eV, outside any X-ray absorption edge; check the units."
            )
        return factor
    could_be_ev = lo >= _MIN_EV
    could_be_kev = hi <= _MAX_KEV and lo * 1000.0 >= _MIN_EV
    if could_be_ev and not could_be_kev:
        return 1.0
    if could_be_kev and not could_be_ev:
        return 1000.0
    raise UnitsError(
        f"{source}: energy units are not declared and the values {lo:g}-{hi:g} could be eV "
        "or keV; pass energy_units='eV' or 'keV' (or add the unit to the column header)."
    )


def _check_energy_axis(energy: np.ndarray, source: str) -> None:
    if energy.size < 2:
        raise EmptyDataError(f"{source}: fewer than 2 energy points; the file holds no spectrum.")
    if not np.all(np.isfinite(energy)):
        raise EnergyAxisError(f"{source}: the energy column contains NaN/inf; fix the file.")
    d = np.diff(energy)
    if np.any(d == 0):
        i = int(np.flatnonzero(d == 0)[0])
        raise EnergyAxisError(
            f"{source}: duplicated energy {energy[i]:g} eV at points {i} and {i + 1}; remove "
            "repeated points (or average them) before the analysis."
        )
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise EnergyAxisError(
            f"{source}: energies are not increasing ({energy[i]:g} then {energy[i + 1]:g} eV at "
            f"point {i}); sort the scan or split it into monotonic segments."
        )


def _spectrum(
    energy: np.ndarray,
    mu: np.ndarray,
    *,
    name: str,
    attrs: Mapping[str, Any],
    extra: Mapping[str, np.ndarray] | None = None,
):
    import xarray as xr

    coords: dict[str, Any] = {"energy": ("energy", energy, {"units": "eV"})}
    for key, values in (extra or {}).items():
        coords[key] = ("energy", np.asarray(values, dtype=float))
    return xr.DataArray(
        np.asarray(mu, dtype=float),
        dims=("energy",),
        coords=coords,
        name=name,
        attrs={"units": "a.u.", **attrs},
    )


# ----------------------------------------------------------------------------------------------
# XDI
# ----------------------------------------------------------------------------------------------


def read_xdi(path: str | os.PathLike[str], *, mu: str = "auto", energy_units: EnergyUnits = "auto"):
    """Read an XDI 1.0 file into a spectrum ``DataArray`` (dim ``energy``, eV).

    Parameters
    ----------
    path : path-like
        The ``.xdi`` file.
    mu : str
        Column to return as the spectrum. ``"auto"`` takes ``mutrans``, ``mufluor``, ``mu`` or
        ``norm`` if present, otherwise computes ``ln(i0/itrans)`` from ``i0`` and ``itrans``.
    energy_units : {"auto", "eV", "keV"}
        Overrides the unit of the energy column; ``"auto"`` uses the ``Column.N`` declaration
        or, when it has none, values that admit only one reading.

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy,)``; coordinate ``energy`` in eV; the other columns as coordinates
        along ``energy``; header fields in ``attrs`` (``Element.symbol``, ``Element.edge``...).

    Raises
    ------
    FileFormatError
        If the file does not start with ``# XDI/`` or has no data.
    UnitsError
        If the energy column's unit is missing and ambiguous.
    EnergyAxisError
        If energies are duplicated or not increasing.
    """
    path = Path(path)
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].lstrip("#").strip().upper().startswith("XDI/"):
        raise FileFormatError(f"{path} is not an XDI file (first line must start with '# XDI/').")
    header: dict[str, str] = {}
    columns: dict[int, tuple[str, str | None]] = {}
    comments: list[str] = []
    data_rows: list[list[float]] = []
    in_comments = False
    for line in lines[1:]:
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            body = s.lstrip("#").strip()
            if body.startswith("///"):
                in_comments = True
                continue
            if body.startswith("---"):
                in_comments = False
                continue
            if in_comments:
                comments.append(body)
                continue
            m = re.match(r"([A-Za-z0-9_]+\.[A-Za-z0-9_]+)\s*:\s*(.*)$", body)
            if m:
                key, value = m.group(1), m.group(2).strip()
                header[key] = value
                cm = re.match(r"column\.(\d+)$", key, re.IGNORECASE)
                if cm:
                    parts = value.split()
                    columns[int(cm.group(1)) - 1] = (
                        parts[0].lower() if parts else f"col{cm.group(1)}",
                        parts[1] if len(parts) > 1 else None,
                    )
            continue
        try:
            data_rows.append([float(v) for v in s.split()])
        except ValueError as exc:
            raise FileFormatError(f"{path}: cannot parse data line {s[:60]!r}.") from exc
    if not data_rows:
        raise EmptyDataError(f"{path}: the XDI file contains no data rows.")
    ncol = min(len(r) for r in data_rows)
    if any(len(r) != ncol for r in data_rows):
        raise TruncatedFileError(f"{path}: data rows have unequal lengths; the file is damaged.")
    data = np.array(data_rows, dtype=float)
    names = [columns.get(i, (f"col{i + 1}", None))[0] for i in range(ncol)]
    if "energy" not in names:
        raise MissingMetadataError(f"{path}: no 'Column.N: energy' line in the XDI header.")
    ie = names.index("energy")
    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    declared = columns.get(ie, ("", None))[1] if energy_units == "auto" else energy_units
    factor = resolve_energy_units(data[:, ie], declared, source=str(path))
    energy = data[:, ie] * factor
    _check_energy_axis(energy, str(path))
    cols = {n: data[:, i] for i, n in enumerate(names) if i != ie}
    if mu == "auto":
        for cand in ("mutrans", "mufluor", "mu", "norm", "normtrans", "normfluor"):
            if cand in cols:
                mu = cand
                break
        else:
            if "i0" in cols and "itrans" in cols:
                with np.errstate(divide="ignore", invalid="ignore"):
                    cols["mu"] = np.log(cols["i0"] / cols["itrans"])
                mu = "mu"
            else:
                raise MissingMetadataError(
                    f"{path}: no mu column (mutrans, mufluor, mu) and no i0/itrans pair; pass "
                    f"mu= one of {sorted(cols)}."
                )
    if mu not in cols:
        raise MissingMetadataError(f"{path}: no column {mu!r}; columns are {sorted(cols)}.")
    attrs = {k: v for k, v in header.items() if not k.lower().startswith("column.")}
    attrs["comments"] = "\n".join(comments)
    attrs["source"] = os.fspath(path)
    attrs["signal"] = mu
    extra = {k: v for k, v in cols.items() if k != mu}
    return _spectrum(energy, cols[mu], name=mu, attrs=attrs, extra=extra)


# ----------------------------------------------------------------------------------------------
# Plain column files
# ----------------------------------------------------------------------------------------------

_UNIT_WORD = re.compile(r"(?<![A-Za-z])(k?eV)(?![A-Za-z])", re.IGNORECASE)


def read_xas_columns(
    path: str | os.PathLike[str],
    *,
    energy_units: EnergyUnits = "auto",
    energy_column: int = 0,
    mu_column: int = 1,
    delimiter: str | None = None,
):
    """Read a plain two-or-more-column spectrum (text, CSV) into a ``DataArray``.

    Parameters
    ----------
    path : path-like
        Text file; ``#`` lines are comments. Commas, tabs or spaces separate columns.
    energy_units : {"auto", "eV", "keV"}
        ``"auto"`` uses a unit declared in the header (``eV``/``keV`` in the comment or column
        names) or, failing that, the values when they admit only one reading.
    energy_column, mu_column : int
        Zero-based column indices.
    delimiter : str, optional
        Column separator; default: comma if the file contains commas, else whitespace.

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy,)``, coordinate ``energy`` in eV.

    Raises
    ------
    UnitsError
        Units undeclared and ambiguous.
    EnergyAxisError
        Non-monotonic or duplicated energies.
    EmptyDataError
        Fewer than 2 data rows.
    """
    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    path = Path(path)
    text = path.read_text(errors="replace")
    header_lines: list[str] = []
    rows: list[list[float]] = []
    if delimiter is None:
        delimiter = "," if "," in text else None
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith(("#", "%", ";")):
            header_lines.append(s)
            continue
        parts = [p for p in (s.split(delimiter) if delimiter else s.split()) if p.strip()]
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            if rows:
                raise FileFormatError(
                    f"{path}: non-numeric data line {s[:60]!r} after the data started."
                ) from None
            header_lines.append(s)  # a column-name line
    if len(rows) < 2:
        raise EmptyDataError(f"{path}: fewer than 2 numeric rows; not a spectrum file.")
    ncol = min(len(r) for r in rows)
    if max(energy_column, mu_column) >= ncol:
        raise ShapeMismatchError(
            f"{path}: has {ncol} columns, cannot take energy_column={energy_column}, "
            f"mu_column={mu_column}."
        )
    data = np.array([r[:ncol] for r in rows], dtype=float)
    declared: str | None = None
    if energy_units != "auto":
        declared = energy_units
    else:
        found = {m.group(1).lower() for h in header_lines for m in _UNIT_WORD.finditer(h)}
        if len(found) > 1:
            raise UnitsError(f"{path}: the header mentions both eV and keV; pass energy_units=.")
        if found:
            declared = found.pop()
    factor = resolve_energy_units(data[:, energy_column], declared, source=str(path))
    energy = data[:, energy_column] * factor
    _check_energy_axis(energy, str(path))
    attrs = {"source": os.fspath(path), "header": "\n".join(header_lines)}
    return _spectrum(energy, data[:, mu_column], name="mu", attrs=attrs)


# ----------------------------------------------------------------------------------------------
# ATHENA project files
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AthenaGroup:
    """One data group of an ATHENA project with the processing parameters ATHENA stored.

    Attributes
    ----------
    label : str
        The group's label as shown in ATHENA (leading/trailing blanks removed).
    group_id : str
        ATHENA's 5-letter hash key (``$old_group``/JSON key).
    energy : ndarray
        Stored energies in eV, shape ``(n,)``, *without* ATHENA's ``bkg_eshift``.
    mu : ndarray
        Stored mu(E), shape ``(n,)``.
    i0, signal : ndarray or None
        Stored I0 and signal channels when present.
    args : dict
        Every stored parameter (``bkg_e0``, ``bkg_pre1``, ``bkg_step``, ``bkg_eshift``...), with
        numeric strings converted to float.
    engine : {"larch", "ifeffit"}
        The library ATHENA used for the stored normalization, from the project header
        (Athena 0.8 wrote Ifeffit projects; Demeter 0.9 with Larch, and JSON projects, larch).
        It decides how the fit windows were cut (see ``normalize(window_convention=)``).
    """

    label: str
    group_id: str
    energy: np.ndarray
    mu: np.ndarray
    i0: np.ndarray | None = None
    signal: np.ndarray | None = None
    args: dict[str, Any] = field(default_factory=dict)
    engine: str = "larch"

    def _num(self, key: str) -> float:
        value = self.args.get(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise MissingMetadataError(
                f"ATHENA group {self.label!r} has no numeric {key!r} parameter."
            ) from None

    @property
    def eshift(self) -> float:
        """ATHENA's energy shift (``bkg_eshift``) in eV, 0 when absent."""
        try:
            return self._num("bkg_eshift")
        except MissingMetadataError:
            return 0.0

    @property
    def e0(self) -> float:
        """Stored e0 (``bkg_e0``) in eV, on the shifted axis ``energy + eshift``."""
        return self._num("bkg_e0")

    @property
    def edge_step(self) -> float:
        """Stored edge step (``bkg_step``)."""
        return self._num("bkg_step")

    @property
    def reference_id(self) -> str | None:
        """Group id of the tied reference channel (``referencegroup``), if any."""
        ref = self.args.get("referencegroup") or self.args.get("reference")
        return str(ref) if ref else None

    @property
    def stored_values_current(self) -> bool:
        """False when ATHENA flagged the stored normalization as out of date (``update_norm``).

        ATHENA recomputes such groups when the project is opened; their stored ``bkg_step``
        predates a later change (typically an energy shift from alignment).
        """
        return not bool(self.args.get("update_norm", 0))

    def normalization_parameters(self) -> dict[str, float | int]:
        """The stored normalization parameters in *cathodescope* convention.

        Returns a dict with ``e0`` (eV), ``pre1``, ``pre2``, ``norm1``, ``norm2`` (eV relative
        to e0), ``nnorm``: the polynomial *order* of the post-edge curve, which is ATHENA's
        ``bkg_nnorm`` (number of coefficients) minus one, i.e. larch's ``nnorm``, and
        ``window_convention`` (:attr:`engine`); all are keywords of ``xas.normalize``.
        """
        return {
            "e0": self.e0,
            "pre1": self._num("bkg_pre1"),
            "pre2": self._num("bkg_pre2"),
            "norm1": self._num("bkg_nor1"),
            "norm2": self._num("bkg_nor2"),
            "nnorm": int(self._num("bkg_nnorm")) - 1,
            "window_convention": self.engine,
        }

    def to_dataarray(self, *, apply_eshift: bool = True):
        """The group as a spectrum ``DataArray`` (eV); ``apply_eshift`` adds ``bkg_eshift``."""
        energy = self.energy + (self.eshift if apply_eshift else 0.0)
        attrs = {
            "label": self.label,
            "group_id": self.group_id,
            "eshift_applied": float(self.eshift if apply_eshift else 0.0),
            **{k: v for k, v in self.args.items() if isinstance(v, int | float | str)},
        }
        return _spectrum(energy, self.mu, name=self.label, attrs=attrs)


class _PerlParser:
    """Tokenizer/parser for the Perl ``Data::Dumper`` subset ATHENA writes (no code execution).

    Grammar: value := 'string' | "string" | number | undef | bareword | [ list ] | { pairs } |
    bless( value, 'Class' ); list := value (, value)* ; pairs := key => value (, ...)*.
    """

    _token = re.compile(
        r"""\s*(?:
        (?P<sq>'(?:[^'\\]|\\.)*')
      | (?P<dq>"(?:[^"\\]|\\.)*")
      | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<arrow>=>)
      | (?P<punct>[\[\]{}(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_:]*)
        )""",
        re.VERBOSE | re.DOTALL,
    )

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.pos = 0
        self.where = where

    def _next(self) -> tuple[str, str]:
        m = self._token.match(self.text, self.pos)
        if not m or m.end() == self.pos:
            rest = self.text[self.pos :].strip()
            if not rest:
                raise TruncatedFileError(f"{self.where}: the record ends unexpectedly.")
            raise FileFormatError(f"{self.where}: cannot parse {rest[:40]!r}.")
        self.pos = m.end()
        kind = m.lastgroup or ""
        return kind, m.group(kind)

    def _peek(self) -> tuple[str, str]:
        save = self.pos
        try:
            return self._next()
        finally:
            self.pos = save

    def value(self) -> Any:
        kind, tok = self._next()
        if kind == "sq":
            return re.sub(r"\\(.)", r"\1", tok[1:-1])
        if kind == "dq":
            return re.sub(r"\\(.)", r"\1", tok[1:-1])
        if kind == "num":
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if kind == "punct" and tok in "[(":
            return self.sequence("]" if tok == "[" else ")")
        if kind == "punct" and tok == "{":
            return self.mapping()
        if kind == "word":
            if tok == "undef":
                return None
            if tok == "bless":
                self.expect("(")
                inner = self.value()
                self.expect(",")
                self.value()  # class name
                self.expect(")")
                return inner
            return tok
        raise FileFormatError(f"{self.where}: unexpected {tok!r}.")

    def expect(self, char: str) -> None:
        _kind, tok = self._next()
        if tok != char:
            raise FileFormatError(f"{self.where}: expected {char!r}, found {tok!r}.")

    def sequence(self, close: str) -> list[Any]:
        out: list[Any] = []
        while True:
            kind, tok = self._peek()
            if kind == "punct" and tok == close:
                self._next()
                return out
            out.append(self.value())
            kind, tok = self._next()
            if kind == "punct" and tok == close:
                return out
            if tok not in (",", "=>"):
                raise FileFormatError(f"{self.where}: expected ',' or {close!r}, found {tok!r}.")

    def mapping(self) -> dict[str, Any]:
        items = self.sequence("}")
        return {str(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


def _as_float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return value
        return f if math.isfinite(f) else value
    return value


def _decompress(path: Path) -> str:
    raw = path.read_bytes()
    if not raw:
        raise EmptyDataError(f"{path} is empty; not an ATHENA project.")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, zlib.error, OSError) as exc:
            raise TruncatedFileError(
                f"{path}: the gzip stream is truncated or corrupt ({exc}); the project file was "
                "not completely copied. Re-export it from ATHENA."
            ) from exc
    return raw.decode("utf-8", errors="replace")


_NUM_LIST = re.compile(r"^@(\w+)\s*=\s*\((.*)\)\s*;\s*$", re.DOTALL)


def _parse_perl_project(text: str, where: str) -> list[AthenaGroup]:
    groups: list[AthenaGroup] = []
    header = "\n".join(ln for ln in text[:2000].splitlines() if ln.startswith("#"))
    engine = (
        "ifeffit"
        if re.search(r"ifeffit", header, re.IGNORECASE)
        and not re.search(r"larch", header, re.IGNORECASE)
        else "larch"
    )
    current: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}

    def flush() -> None:
        if not current and not arrays:
            return
        args = current.get("args", {})
        gid = current.get("old_group") or args.get("group") or f"g{len(groups)}"
        if "x" not in arrays or "y" not in arrays:
            raise TruncatedFileError(f"{where}: group {gid!r} lacks its @x/@y arrays.")
        if arrays["x"].size != arrays["y"].size:
            raise TruncatedFileError(f"{where}: group {gid!r} has @x and @y of unequal length.")
        groups.append(
            AthenaGroup(
                label=str(args.get("label", gid)).strip(),
                group_id=str(gid),
                energy=arrays["x"],
                mu=arrays["y"],
                i0=arrays.get("i0"),
                signal=arrays.get("signal"),
                args=args,
                engine=engine,
            )
        )

    statements = re.split(r";[ \t]*\n", text)
    terminated = False
    for raw_stmt in statements:
        stmt = "\n".join(
            ln for ln in raw_stmt.splitlines() if not ln.lstrip().startswith("#")
        ).strip()
        if not stmt:
            continue
        if stmt.startswith("[record]"):
            flush()
            current, arrays = {}, {}
            rest = stmt[len("[record]") :].strip()
            if not rest:
                continue
            stmt = "\n".join(ln for ln in rest.splitlines() if not ln.strip().startswith("#"))
            stmt = stmt.strip()
            if not stmt:
                continue
        if stmt in ("1", "1;"):
            terminated = True
            continue
        if stmt.startswith("$old_group"):
            current["old_group"] = _PerlParser(stmt.split("=", 1)[1], where).value()
        elif stmt.startswith("@args"):
            items = _PerlParser(stmt.split("=", 1)[1], where).value()
            current["args"] = {
                str(items[i]): _as_float(items[i + 1]) for i in range(0, len(items) - 1, 2)
            }
        elif stmt.startswith("@journal") or stmt.startswith("$xdi") or stmt.startswith("$"):
            continue
        elif stmt.startswith("@"):
            m = _NUM_LIST.match(stmt + ";")
            if not m:
                raise TruncatedFileError(f"{where}: unterminated array {stmt[:30]!r}...")
            body = m.group(2).replace("'", " ").replace('"', " ").replace(",", " ")
            try:
                arrays[m.group(1)] = np.array(body.split(), dtype=float)
            except ValueError:
                continue  # non-numeric list such as @plot_features: ignore
    if not terminated:
        raise TruncatedFileError(
            f"{where}: the project text stops before its final '1;' line; the file is "
            "truncated. Re-export it from ATHENA."
        )
    if current or arrays:
        flush()
    return groups


def _parse_json_project(text: str, where: str) -> list[AthenaGroup]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TruncatedFileError(
            f"{where}: the JSON project text is incomplete or invalid ({exc.msg} at character "
            f"{exc.pos}); re-export it from ATHENA."
        ) from exc
    heads = " ".join(str(v) for k, v in doc.items() if k.startswith("_____header"))
    engine = "ifeffit" if "engine: ifeffit" in heads.lower() else "larch"
    order = doc.get("_____order")
    if not isinstance(order, list):
        order = [k for k in doc if not k.startswith("_____")]
    groups = []
    for gid in order:
        dat = doc.get(gid)
        if not isinstance(dat, dict) or "x" not in dat or "y" not in dat:
            raise FileFormatError(f"{where}: group {gid!r} is listed but has no x/y arrays.")
        args = {str(k): _as_float(v) for k, v in dict(dat.get("args", {})).items()}
        x = np.asarray(dat["x"], dtype=float)
        y = np.asarray(dat["y"], dtype=float)
        if x.size != y.size:
            raise FileFormatError(f"{where}: group {gid!r} has x and y of unequal length.")
        groups.append(
            AthenaGroup(
                label=str(args.get("label", gid)).strip(),
                group_id=str(gid),
                energy=x,
                mu=y,
                i0=np.asarray(dat["i0"], dtype=float) if "i0" in dat else None,
                signal=np.asarray(dat["signal"], dtype=float) if "signal" in dat else None,
                args=args,
                engine=engine,
            )
        )
    return groups


def read_athena(path: str | os.PathLike[str]) -> dict[str, AthenaGroup]:
    """Read an ATHENA project (``.prj``; Perl-dumper or JSON, gzipped or plain).

    Parameters
    ----------
    path : path-like
        The project file.

    Returns
    -------
    dict of str to AthenaGroup
        Groups in file order, keyed by label (a repeated label gets `` [2]``, `` [3]``...).

    Raises
    ------
    FileFormatError
        If the file is not an ATHENA project (no ``Athena project file`` header).
    TruncatedFileError
        If the gzip stream or the project text stops early.

    Examples
    --------
    >>> groups = read_athena("NiO.prj")  # doctest: +SKIP
    >>> groups["NiO.000"].normalization_parameters()["nnorm"]  # doctest: +SKIP
    2
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    text = _decompress(path)
    head = text[:600]
    if "Athena project file" not in head and "_____header" not in head:
        raise FileFormatError(
            f"{path} is not an ATHENA project file (no 'Athena project file' header); open it "
            "in ATHENA and save it as a project, or read it with read_xdi/read_xas_columns."
        )
    where = os.fspath(path)
    if text.lstrip().startswith("{"):
        groups = _parse_json_project(text, where)
    else:
        groups = _parse_perl_project(text, where)
    if not groups:
        raise EmptyDataError(f"{path}: the project contains no data groups.")
    out: dict[str, AthenaGroup] = {}
    for g in groups:
        key, n = g.label, 1
        while key in out:
            n += 1
            key = f"{g.label} [{n}]"
        out[key] = g
    return out


def write_athena_json(path: str | os.PathLike[str], groups: Sequence[AthenaGroup]) -> Path:
    """Write groups as a gzipped JSON ATHENA project (atomically).

    Parameters
    ----------
    path : path-like
        Target ``.prj`` file.
    groups : sequence of AthenaGroup
        Groups to store, with their ``args``.

    Returns
    -------
    Path
        The written file.
    """
    from cathodescope.common.atomic import atomic_write_bytes

    doc: dict[str, Any] = {
        "_____header1": "# Athena project file -- Demeter version 0.9.26",
        "_____header2": "# Written by cathodescope (JSON project layout)",
        "_____header3": "# Normalization engine: "
        + ("Ifeffit" if groups and groups[0].engine == "ifeffit" else "Larch"),
        "_____journal": [],
        "_____order": [g.group_id for g in groups],
    }
    for g in groups:
        entry: dict[str, Any] = {
            "args": {**g.args, "label": g.label},
            "x": g.energy.tolist(),
            "y": g.mu.tolist(),
        }
        if g.i0 is not None:
            entry["i0"] = g.i0.tolist()
        doc[g.group_id] = entry
    return atomic_write_bytes(path, gzip.compress(json.dumps(doc).encode()))


# ----------------------------------------------------------------------------------------------
# XANES image stacks
# ----------------------------------------------------------------------------------------------


def read_xanes_stack(
    path: str | os.PathLike[str],
    energies: Sequence[float] | np.ndarray | str | os.PathLike[str],
    *,
    pixel_size_um: float | Sequence[float],
    energy_units: EnergyUnits = "auto",
    dataset: str | None = None,
):
    """Read a XANES image stack (multi-page TIFF or HDF5) with its energy list.

    Parameters
    ----------
    path : path-like
        ``.tif``/``.tiff`` (pages = energies) or ``.h5``/``.hdf5`` (``dataset`` of shape
        ``(n_energy, ny, nx)``).
    energies : array-like or path-like
        One energy per frame, or a text file with one energy per line.
    pixel_size_um : float or (float, float)
        Pixel size in um (``y, x``).
    energy_units : {"auto", "eV", "keV"}
        Units of ``energies``.
    dataset : str, optional
        HDF5 dataset path (required for HDF5 files with more than one 3-D dataset).

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy, ny, nx)``, dims ``("energy", "y", "x")``, energy in eV, y/x in um.

    Raises
    ------
    ShapeMismatchError
        If the number of energies differs from the number of frames.
    UnitsError, EnergyAxisError
        For ambiguous units or a bad energy list.
    """
    import xarray as xr

    from cathodescope._validation import normalize_spacing

    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    path = Path(path)
    spacing = normalize_spacing(pixel_size_um, 2)
    if isinstance(energies, str | os.PathLike):
        e = np.loadtxt(energies, comments="#", ndmin=1, dtype=float)
    else:
        e = np.asarray(energies, dtype=float).ravel()
    factor = resolve_energy_units(
        e, None if energy_units == "auto" else energy_units, source=f"{path} energies"
    )
    e = e * factor
    _check_energy_axis(e, f"{path} energies")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        data = np.asarray(tifffile.imread(path))
    elif suffix in (".h5", ".hdf5", ".hdf", ".nxs"):
        import h5py

        with h5py.File(path, "r") as fh:
            if dataset is None:
                found: list[str] = []
                fh.visititems(
                    lambda n, o: (
                        found.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 3 else None
                    )
                )
                if len(found) != 1:
                    raise MissingMetadataError(
                        f"{path}: {len(found)} 3-D datasets ({found[:5]}); pass dataset=."
                    )
                dataset = found[0]
            data = np.asarray(fh[dataset])
    else:
        raise FileFormatError(f"{path}: unsupported stack format {suffix!r}; use TIFF or HDF5.")
    if data.ndim != 3:
        raise ShapeMismatchError(f"{path}: expected a 3-D stack (energy, y, x), got {data.shape}.")
    if data.shape[0] != e.size:
        raise ShapeMismatchError(
            f"{path}: {data.shape[0]} frames but {e.size} energies; give one energy per frame."
        )
    ny, nx = data.shape[1:]
    return xr.DataArray(
        data,
        dims=("energy", "y", "x"),
        coords={
            "energy": ("energy", e, {"units": "eV"}),
            "y": ("y", np.arange(ny) * spacing[0], {"units": "um"}),
            "x": ("x", np.arange(nx) * spacing[1], {"units": "um"}),
        },
        attrs={"units": "a.u.", "source": os.fspath(path), "pixel_size_um": spacing},
    )
