"""``cathodescope info FILE...``: what cathodescope reads from any supported file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` command."""
    p = subparsers.add_parser(
        "info",
        help="what is in a file: format, kind, shape, channels and units, spacing, energy",
        description="Print what cathodescope reads from each file (any modality): format, "
        "kind, shape and dims, channels with units, spacing in um, energy in eV (null when "
        "unknown), wavelength in A, angles and the readers' warnings.",
    )
    p.add_argument("files", nargs="+", help="files to describe (any supported format)")
    p.add_argument("--json", action="store_true", help="print JSON (a list for several files)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from cathodescope.io import describe_file

    described = [describe_file(f) for f in args.files]
    if args.json:
        print(json.dumps(described[0] if len(described) == 1 else described, indent=2))
        return 0
    for d in described:
        print(f"{d['file']}: {d['kind']} ({d['format']})")
        for key in ("shape", "dims", "spacing_um", "energy_eV", "wavelength_A", "angles_deg"):
            if d[key] is not None:
                print(f"  {key}: {d[key]}")
        for c in d["channels"]:
            print(f"  channel {c['name']}" + (f" [{c['units']}]" if c["units"] else ""))
        for w in d["warnings"]:
            print(f"  warning: {w}")
    return 0
