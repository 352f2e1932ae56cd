"""Reader and writer of ATHENA project files (``.prj``).

ATHENA project files come in two flavours, both usually gzip-compressed:

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.common.files import check_input_file, read_gzip_bounded
from cathodescope.errors import (
    EmptyDataError,
    FileFormatError,
    MissingMetadataError,
    TruncatedFileError,
)
from cathodescope.io._xas_common import _spectrum


@dataclass(frozen=True)
class AthenaGroup:
    """One data group of an ATHENA project with the processing parameters ATHENA stored.

    Parameters
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
        value: Any = self.args.get(key)
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

    @property
    def fixed_step(self) -> bool:
        """True when ATHENA's edge step was fixed by the user (``bkg_fixstep``), not fitted."""
        return bool(_as_float(self.args.get("bkg_fixstep", 0)) or 0)

    def normalization_parameters(self) -> dict[str, Any]:
        """The stored normalization parameters in *cathodescope* convention.

        Returns a dict with ``e0`` (eV), ``pre1``, ``pre2``, ``norm1``, ``norm2`` (eV relative
        to e0), ``nnorm``: the polynomial *order* of the post-edge curve, which is ATHENA's
        ``bkg_nnorm`` (number of coefficients) minus one, i.e. larch's ``nnorm``,
        ``window_convention`` (:attr:`engine`) and, for a group whose step was fixed in ATHENA
        (``bkg_fixstep``), ``step`` (the stored ``bkg_step``): all are keywords of
        ``xas.normalize``.
        """
        params: dict[str, Any] = {
            "e0": self.e0,
            "pre1": self._num("bkg_pre1"),
            "pre2": self._num("bkg_pre2"),
            "norm1": self._num("bkg_nor1"),
            "norm2": self._num("bkg_nor2"),
            "nnorm": int(self._num("bkg_nnorm")) - 1,
            "window_convention": self.engine,
        }
        if self.fixed_step:
            params["step"] = self.edge_step
        return params

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


#: Largest decompressed ATHENA project accepted (bytes); real projects are a few MB.
MAX_PROJECT_BYTES = 512 * 1024**2


def _decompress(path: Path) -> str:
    raw = path.read_bytes()
    if not raw:
        raise EmptyDataError(f"{path} is empty; not an ATHENA project.")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = read_gzip_bounded(path, limit=MAX_PROJECT_BYTES, what="ATHENA project")
        except TruncatedFileError as exc:
            raise TruncatedFileError(
                f"{path}: the gzip stream is truncated or corrupt ({exc.__cause__}); the project "
                "file was not completely copied. Re-export it from ATHENA."
            ) from exc
    text = raw.decode("utf-8", errors="replace")
    # Windows (CRLF) and old Mac (CR) line endings: the grammar below is line based
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
    DataTooLargeError
        If the gzip stream inflates beyond 512 MiB (a corrupt or hostile file).
    InputNotFoundError, InputIsFolderError
        If the path does not exist or is a folder.

    Examples
    --------
    >>> groups = read_athena("NiO.prj")  # doctest: +SKIP
    >>> groups["NiO.000"].normalization_parameters()["nnorm"]  # doctest: +SKIP
    2
    """
    path = check_input_file(path, "ATHENA project")
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
