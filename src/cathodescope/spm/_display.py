"""Display units of SPM maps: SI values shown at a readable scale (m -> nm, A -> pA...)."""

from __future__ import annotations

__all__ = ["display_scale"]

_DISPLAY = {"m": (1e9, "nm"), "m/V": (1e12, "pm/V"), "A": (1e12, "pA"), "Hz": (1e-3, "kHz")}


def display_scale(units: str) -> tuple[float, str]:
    """Factor and unit for showing SI values at a readable scale.

    Parameters
    ----------
    units : str
        SI units of a map (``"m"``, ``"m/V"``, ``"A"``, ``"Hz"``, anything else).

    Returns
    -------
    tuple of (float, str)
        Multiply the SI values by the factor to get them in the returned unit; other units
        are returned unchanged with factor 1.

    Examples
    --------
    >>> display_scale("m")
    (1000000000.0, 'nm')
    >>> display_scale("deg")
    (1.0, 'deg')
    """
    return _DISPLAY.get(units, (1.0, units))
