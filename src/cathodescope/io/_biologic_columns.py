"""EC-Lab ``.mpr`` data-column IDs that galvani 0.5 does not know, and EC-Lab's voltage names.

The IDs are facts of the file format, as documented by yadg
(``yadg/extractors/eclab/mpr_columns.py``, dgbowl/yadg): ID -> (name as EC-Lab writes it in
``.mpt`` headers, numpy dtype). galvani's own table (``VMPdata_colID_dtype_map``) is used first;
these fill the gaps so that files of EC-Lab >= 11.5 (e.g. IDs 115, 116, 182) decode without
guessing widths.
"""

from __future__ import annotations

EXTRA_COLUMN_IDS: dict[int, tuple[str, str]] = {
    15: ("Phase(Z1)/deg", "<f4"),
    45: ("|Z1|/Ohm", "<f4"),
    46: ("|Z2|/Ohm", "<f4"),
    105: ("-Im(Z1)/Ohm", "<f4"),
    106: ("-Im(Z2)/Ohm", "<f4"),
    110: ("Energy ce/W.h", "<f8"),
    112: ("Energy we/W.h", "<f8"),
    115: ("Energy ce charge/W.h", "<f8"),
    116: ("Energy ce discharge/W.h", "<f8"),
    135: ("<E1>/V", "<f4"),
    136: ("<E2>/V", "<f4"),
    166: ("Phase(Zstack)/deg", "<f4"),
    167: ("|Zstack|/Ohm", "<f4"),
    175: ("|Zwe-ce|/Ohm", "<f4"),
    176: ("Re(Zwe-ce)/Ohm", "<f4"),
    177: ("-Im(Zwe-ce)/Ohm", "<f4"),
    182: ("step time/s", "<f8"),
    185: ("<Ece>/V", "<f4"),
    206: ("Temperature/°C", "<f4"),
    215: ("<Ece>/V", "<f4"),
    219: ("THD Ece/%", "<f4"),
    222: ("NSD Ece/%", "<f4"),
    225: ("NSR Ece/%", "<f4"),
    243: ("|Ece h3|/V", "<f4"),
    244: ("|Ece h4|/V", "<f4"),
    245: ("|Ece h5|/V", "<f4"),
    246: ("|Ece h6|/V", "<f4"),
    247: ("|Ece h7|/V", "<f4"),
    248: ("Rac/Ohm", "<f4"),
    249: ("Rdc/Ohm", "<f4"),
    253: ("Acir or Dcir Control", "<u1"),
}

#: Working-electrode (or cell) potential columns, in order of preference, with their scale to V.
VOLTAGE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Ewe/V", 1.0),
    ("<Ewe>/V", 1.0),
    ("Ecell/V", 1.0),
    ("<Ecell>/V", 1.0),
    ("Ewe-Ece/V", 1.0),
    ("Ewe/mV", 1e-3),
    ("<Ewe>/mV", 1e-3),
    ("Ecell/mV", 1e-3),
)

#: Current columns with their scale to mA.
CURRENT_COLUMNS: tuple[tuple[str, float], ...] = (
    ("I/mA", 1.0),
    ("<I>/mA", 1.0),
    ("I/A", 1e3),
    ("<I>/A", 1e3),
    ("I/uA", 1e-3),
    ("I/µA", 1e-3),
)
