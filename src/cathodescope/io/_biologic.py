"""BioLogic EC-Lab files: binary ``.mpr`` (through galvani, with our own fallback decoder) and
``.mpt`` text exports, read into the canonical cycling table (see ``_cycler_table``).

galvani raises ``NotImplementedError`` on the first column ID missing from its table
(``VMPdata_dtype_from_colIDs``) and ``AssertionError`` on header bytes it does not expect, which
newer EC-Lab versions produce. The fallback below re-reads the modules itself, uses galvani's
column table, and decodes one unknown column by the width left over in each record (the record
size is the data length divided by the number of points), naming it ``unknown_<id>``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.common.files import check_input_file, warn_incomplete_row
from cathodescope.errors import (
    CyclerColumnError,
    EmptyDataError,
    FileFormatError,
    TruncatedFileError,
)
from cathodescope.io._biologic_columns import CURRENT_COLUMNS, EXTRA_COLUMN_IDS, VOLTAGE_COLUMNS
from cathodescope.io._cycler_table import (
    STEP_TYPES,
    build_cycling_table,
    classify_rows,
    file_label,
)

_MPR_MAGIC = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00\x00\x00\x00"
_HDR_V1 = np.dtype(
    [
        ("shortname", "S10"),
        ("longname", "S25"),
        ("length", "<u4"),
        ("version", "<u4"),
        ("date", "S8"),
    ]
)
_HDR_V2 = np.dtype(
    [
        ("shortname", "S10"),
        ("longname", "S25"),
        ("max length", "<u4"),
        ("length", "<u4"),
        ("version", "<u4"),
        ("unknown2", "<u4"),
        ("date", "S8"),
    ]
)


def _read_modules(raw: bytes, source: str) -> list[dict[str, Any]]:
    """Split an .mpr byte string into its modules (header fields + data bytes)."""
    pos = len(_MPR_MAGIC)
    modules = []
    while pos < len(raw):
        if raw[pos : pos + 6] != b"MODULE":
            raise FileFormatError(
                f"{source}: expected a module header at byte {pos}; the .mpr file is corrupt."
            )
        pos += 6
        hdr_bytes = raw[pos : pos + _HDR_V1.itemsize]
        dtype = _HDR_V1
        if len(hdr_bytes) == _HDR_V1.itemsize and hdr_bytes[35:39] == b"\xff\xff\xff\xff":
            dtype = _HDR_V2
        hdr_bytes = raw[pos : pos + dtype.itemsize]
        if len(hdr_bytes) < dtype.itemsize:
            raise TruncatedFileError(f"{source}: the file ends inside a module header.")
        hdr = np.frombuffer(hdr_bytes, dtype=dtype, count=1)[0]
        pos += dtype.itemsize
        length = int(hdr["length"])
        data = raw[pos : pos + length]
        if len(data) < length:
            raise TruncatedFileError(
                f"{source}: module {hdr['shortname'].decode(errors='replace').strip()!r} "
                f"should hold {length} bytes but the file ends after {len(data)}; the file was "
                "cut short (interrupted copy or acquisition)."
            )
        pos += length
        modules.append(
            {"shortname": bytes(hdr["shortname"]), "version": int(hdr["version"]), "data": data}
        )
    return modules


def _decode_mpr_fallback(raw: bytes, source: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the data module without galvani's strict checks; see module docstring."""
    from galvani.BioLogic import VMPdata_colID_dtype_map, VMPdata_colID_flag_map

    modules = _read_modules(raw, source)
    data_mods = [m for m in modules if m["shortname"].startswith(b"VMP data")]
    if not data_mods:
        raise FileFormatError(f"{source}: no 'VMP data' module; the .mpr file holds no data.")
    mod = data_mods[0]
    buf = mod["data"]
    n_points = int(np.frombuffer(buf[:4], dtype="<u4")[0])
    n_cols = int(buf[4])
    version = mod["version"]
    if version in (2, 3):
        col_ids = np.frombuffer(buf[5:], dtype="<u2", count=n_cols)
        main = buf[406:] if version == 3 else buf[405:]
    elif version == 0:
        if buf[5]:
            col_ids = np.frombuffer(buf[5:], dtype="u1", count=n_cols)
            main = buf[100:]
        else:
            col_ids = np.frombuffer(buf[5:], dtype="u1", count=2 * n_cols)[1::2]
            main = buf[1007:]
    else:
        raise FileFormatError(f"{source}: data module version {version} is not understood.")
    fields: list[tuple[str, str]] = []
    flags: dict[str, tuple[int, Any]] = {}
    unknown: list[int] = []
    seen: dict[str, int] = {}
    for cid in (int(c) for c in col_ids):
        if cid in VMPdata_colID_flag_map:
            if "flags" not in seen:
                fields.append(("flags", "u1"))
                seen["flags"] = 1
            name, mask, ftype = VMPdata_colID_flag_map[cid]
            flags[name] = (mask, ftype)
        elif cid in VMPdata_colID_dtype_map or cid in EXTRA_COLUMN_IDS:
            name, ftype = VMPdata_colID_dtype_map.get(cid) or EXTRA_COLUMN_IDS[cid]
            seen[name] = seen.get(name, 0) + 1
            fields.append((name if seen[name] == 1 else f"{name} {seen[name]}", ftype))
        else:
            unknown.append(cid)
            fields.append((f"unknown_{cid}", "?"))
    if n_points == 0:
        raise EmptyDataError(f"{source}: the .mpr data module holds 0 points.")
    record = len(main) / n_points
    if unknown:
        known = sum(np.dtype(f).itemsize for _, f in fields if f != "?")
        spare = record - known
        if len(unknown) == 1 and spare in (4, 8):
            fields = [(n, ("<f4" if spare == 4 else "<f8") if f == "?" else f) for n, f in fields]
        else:
            raise FileFormatError(
                f"{source}: column IDs {unknown} are unknown to galvani and to cathodescope and "
                "their widths cannot be inferred; export the file as .mpt text from EC-Lab and "
                "read that instead."
            )
    dtype = np.dtype(fields)
    if len(main) < dtype.itemsize * n_points:
        raise TruncatedFileError(
            f"{source}: the header announces {n_points} points but only "
            f"{len(main) // dtype.itemsize} are present; the file was cut short."
        )
    data = np.frombuffer(main, dtype=dtype, count=n_points)
    return data, {"flags": flags, "unknown_column_ids": unknown, "decoder": "cathodescope"}


def _mpr_records(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Return the record array and info (flags, decoder) of an .mpr file."""
    source = file_label(path)
    raw = path.read_bytes()
    if len(raw) == 0:
        raise EmptyDataError(f"{source}: the file is empty.")
    if not raw.startswith(_MPR_MAGIC):
        raise FileFormatError(
            f"{source}: not a BioLogic .mpr file (bad magic bytes); for EC-Lab text exports use "
            "the .mpt reader."
        )
    _read_modules(raw, source)  # truncation is reported precisely here, before galvani
    try:
        from galvani.BioLogic import MPRfile

        with open(path, "rb") as fh:  # galvani leaves a path it opened unclosed
            mpr = MPRfile(fh)
            data = np.array(mpr.data)
        info = {
            "flags": {k: (int(m), t) for k, (m, t) in mpr.flags_dict.items()},
            "unknown_column_ids": [],
            "decoder": "galvani",
        }
        if data.shape[0] == 0:
            raise EmptyDataError(f"{source}: the .mpr data module holds 0 points.")
        return data, info
    except (NotImplementedError, AssertionError, ValueError, OSError) as exc:
        if isinstance(exc, EmptyDataError):
            raise
        data, info = _decode_mpr_fallback(raw, source)
        info["galvani_error"] = f"{type(exc).__name__}: {exc}"
        return data, info


def _biologic_table(frame: pd.DataFrame, source: str, attrs: dict[str, Any]) -> pd.DataFrame:
    """Canonical table from a frame with EC-Lab column names (from .mpr or .mpt)."""
    cols = set(frame.columns)
    tcol = next((c for c in ("time/s", "time/s ") if c in cols), None)
    if tcol is None:
        raise CyclerColumnError(f"{source}: no 'time/s' column; cannot build a cycling table.")
    vcol, vscale = next(((c, f) for c, f in VOLTAGE_COLUMNS if c in cols), (None, 1.0))
    if vcol is None:
        raise CyclerColumnError(
            f"{source}: no potential column (looked for {[c for c, _ in VOLTAGE_COLUMNS]}); "
            f"columns are {sorted(cols)}."
        )
    attrs["voltage_column"] = vcol
    t = frame[tcol].to_numpy(float)
    icol, iscale = next(((c, f) for c, f in CURRENT_COLUMNS if c in cols), (None, 1.0))
    if icol is not None:
        current = frame[icol].to_numpy(float) * iscale
    elif "dq/mA.h" in cols or "dQ/mA.h" in cols:
        # v3 GCPL files store no current: use the charge increment of each point over its
        # time interval (the instrument's own integral), mA = mAh / h.
        dq = frame["dq/mA.h" if "dq/mA.h" in cols else "dQ/mA.h"].to_numpy(float)
        dt = np.diff(t, prepend=t[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            current = np.where(dt > 0, dq / dt * 3600.0, 0.0)
        attrs["current_source"] = "dq/dt"
    else:
        raise CyclerColumnError(
            f"{source}: neither a current (I/mA) nor a charge-increment (dq/mA.h) column; "
            "cannot build a cycling table."
        )
    if "(Q-Qo)/mA.h" in cols:
        q = frame["(Q-Qo)/mA.h"].to_numpy(float)
    elif "(Q-Qo)/C" in cols:
        q = frame["(Q-Qo)/C"].to_numpy(float) / 3.6
    else:
        q = None
    codes = classify_rows(current)
    extra: dict[str, Any] = {}
    if "freq/Hz" in cols:
        freq = frame["freq/Hz"].to_numpy(float)
        codes = np.where(freq > 0, STEP_TYPES.index("eis"), codes).astype(np.int8)
        extra["frequency_Hz"] = freq
    step = frame["Ns"].to_numpy() if "Ns" in cols else None
    cyc = None
    for name in ("cycle number", "z cycle"):
        if name in cols:
            cyc = frame[name].to_numpy()
            break
    return build_cycling_table(
        t,
        frame[vcol].to_numpy(float) * vscale,
        current,
        charge_mAh=q,
        instrument_step=step,
        row_class=codes,
        cycle_instrument=cyc,
        extra=extra,
        attrs=attrs,
        source=source,
    )


def read_biologic_mpr(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read a BioLogic EC-Lab ``.mpr`` file into the canonical cycling table.

    Parameters
    ----------
    path : path-like
        The ``.mpr`` file (data module versions 0, 2 and 3).
    active_mass_g : float, optional
        Active-material mass in g, stored in ``attrs['active_mass_g']``.

    Returns
    -------
    pandas.DataFrame
        Canonical columns (see :mod:`cathodescope.common.schemas`), plus ``instrument_step``
        (EC-Lab ``Ns``), ``cycle_instrument`` (EC-Lab cycle counter, when present) and
        ``frequency_Hz`` (PEIS points, which get step type ``"eis"``). Files without a current
        column (GCPL v3) get the current from ``dq/mA.h`` over each time interval.

    Raises
    ------
    FileFormatError
        Not an .mpr file, or unknown columns whose width cannot be inferred.
    TruncatedFileError
        The file ends before its modules do.
    EmptyDataError
        No data points.
    """
    p = Path(path)
    source = file_label(p)
    data, info = _mpr_records(p)
    frame = pd.DataFrame({name: data[name] for name in data.dtype.names or () if name != "flags"})
    for name, (mask, ftype) in info["flags"].items():
        frame[name] = np.asarray(data["flags"] & mask, dtype=ftype)
    attrs = {
        "instrument": "BioLogic",
        "format": "mpr",
        "active_mass_g": active_mass_g,
        "decoder": info["decoder"],
        "unknown_column_ids": info["unknown_column_ids"],
    }
    if "galvani_error" in info:
        attrs["galvani_error"] = info["galvani_error"]
    return _biologic_table(frame, source, attrs)


def read_biologic_mpt(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read an EC-Lab ``.mpt`` text export ("EC-Lab ASCII FILE") into the canonical table.

    Handles the ``Nb header lines`` header, tab separation, decimal commas and latin-1 text
    (``°C``, ``µF`` in column names). Result as :func:`read_biologic_mpr`.

    Parameters
    ----------
    path : path-like
        The ``.mpt`` file.
    active_mass_g : float, optional
        Active-material mass in g, stored in ``attrs['active_mass_g']``.

    Returns
    -------
    pandas.DataFrame
        Canonical columns (see :mod:`cathodescope.common.schemas`) and the extra columns of
        :func:`read_biologic_mpr`.
    """
    p = check_input_file(path, "EC-Lab .mpt")
    source = file_label(p)
    raw = p.read_bytes()
    if not raw.strip():
        raise EmptyDataError(f"{source}: the file is empty.")
    text = raw.decode("latin-1")
    lines = text.splitlines()
    if not lines[0].startswith("EC-Lab ASCII FILE"):
        raise FileFormatError(f"{source}: first line is not 'EC-Lab ASCII FILE'; not an .mpt.")
    n_header = None
    for line in lines[1:4]:
        if line.startswith("Nb header lines"):
            n_header = int(line.split(":")[1].strip())
    if n_header is None:
        n_header = 1  # a bare export: the column line follows the first line
    if len(lines) < n_header:
        raise TruncatedFileError(f"{source}: the file ends inside its {n_header}-line header.")
    columns = [c.strip() for c in lines[n_header - 1].rstrip("\t").split("\t")]
    body = [ln for ln in lines[n_header:] if ln.strip()]
    if not body:
        raise EmptyDataError(f"{source}: the header is complete but there are no data rows.")
    width = len(columns)
    if len(body[-1].rstrip("\t").split("\t")) < width:
        body = body[:-1]  # an interrupted last line: never read a cut number
        if not body:
            raise TruncatedFileError(f"{source}: the only data row is incomplete.")
        warn_incomplete_row(source, len(body))
    first = body[0]
    decimal = "," if ("," in first and "." not in first) else "."
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(body)),
            sep="\t",
            header=None,
            names=range(width),
            usecols=range(width),
            decimal=decimal,
            dtype=float,
            engine="c",
        )
    except ValueError as exc:
        raise FileFormatError(f"{source}: non-numeric data in the table ({exc}).") from exc
    frame.columns = columns
    attrs = {
        "instrument": "BioLogic",
        "format": "mpt",
        "active_mass_g": active_mass_g,
        "decimal": decimal,
    }
    return _biologic_table(frame, source, attrs)
