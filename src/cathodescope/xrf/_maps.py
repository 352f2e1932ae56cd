"""Element-map images: ratio and fraction images with low-signal masking, RGB overlays."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import xarray as xr

from cathodescope._validation import check_positive, normalize_spacing, resolve_spacing
from cathodescope.errors import EmptyMapError, ParameterError, ScanGeometryError
from cathodescope.io import resolve_channels

Threshold = float | Literal["otsu"] | None


def as_maps(maps: xr.DataArray | Mapping[str, np.ndarray], spacing=None) -> xr.DataArray:
    """Return ``maps`` as a (channel, y, x) DataArray with coordinates in um.

    Parameters
    ----------
    maps : xarray.DataArray or mapping of str to 2-D array
        A reader's output (dims ``channel, y, x``), or ``{"Ni": array, ...}`` with ``spacing``.
    spacing : float or (float, float), optional
        Pixel size in um; required for a mapping or a DataArray without coordinates, checked
        against the coordinates of a DataArray that has them.

    Returns
    -------
    xarray.DataArray
        Dims ``(channel, y, x)`` with ``y``/``x`` coordinates in um (pixel centres).

    Raises
    ------
    ScanGeometryError
        Channels of different shapes, or a DataArray without ``channel``/``y``/``x`` dims.
    SpacingError
        A mapping given without a valid ``spacing``, or a ``spacing`` that contradicts the
        DataArray's coordinates (see :func:`cathodescope._validation.resolve_spacing`).
    """
    if isinstance(maps, xr.DataArray):
        if set(maps.dims) != {"channel", "y", "x"}:
            raise ScanGeometryError(
                f"expected an element map with dims ('channel', 'y', 'x'), got {maps.dims}."
            )
        maps = maps.transpose("channel", "y", "x")
        # the coordinates say the spacing; an explicit one must agree with them
        if spacing is not None and "y" in maps.coords and "x" in maps.coords:
            resolve_spacing(maps, spacing, 2)
        if "y" not in maps.coords or "x" not in maps.coords:
            sp = normalize_spacing(spacing, 2)
            maps = maps.assign_coords(
                y=np.arange(maps.sizes["y"]) * sp[0], x=np.arange(maps.sizes["x"]) * sp[1]
            )
        return maps
    names = list(maps)
    arrays = [np.asarray(maps[n], dtype=float) for n in names]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2:
        detail = ", ".join(f"{n}: {a.shape}" for n, a in zip(names, arrays, strict=True))
        raise ScanGeometryError(f"element maps must be 2-D and of one size, got {detail}.")
    sp = normalize_spacing(spacing, 2)
    ny, nx = arrays[0].shape
    return xr.DataArray(
        np.stack(arrays),
        dims=("channel", "y", "x"),
        coords={
            "channel": np.asarray(names, dtype=object),
            "y": ("y", np.arange(ny) * sp[0], {"units": "um"}),
            "x": ("x", np.arange(nx) * sp[1], {"units": "um"}),
        },
        attrs={"units": "counts", "spacing_um": sp},
    )


def map_spacing(maps: xr.DataArray) -> tuple[float, float]:
    """Pixel size ``(dy, dx)`` in um of a map, from its coordinates (mean step).

    Parameters
    ----------
    maps : xarray.DataArray
        Map with ``y``/``x`` coordinates in um; a single-pixel axis uses
        ``attrs['spacing_um']``.

    Returns
    -------
    (float, float)
        ``(dy, dx)`` in um (the reader's ``spacing_um`` when the coordinates agree with it).

    Raises
    ------
    ScanGeometryError
        An axis has a single pixel and the map declares no spacing.
    """
    out = []
    for dim in ("y", "x"):
        c = np.asarray(maps[dim].values, dtype=float)
        if c.size < 2:
            sp = maps.attrs.get("spacing_um")
            if sp is None:
                raise ScanGeometryError(
                    f"the map has a single pixel along {dim}; its pixel size is unknown."
                )
            out.append(float(sp[0 if dim == "y" else 1]))
        else:
            out.append(abs(float(c[-1] - c[0])) / (c.size - 1))
    declared = maps.attrs.get("spacing_um")
    if declared is not None and len(declared) == 2:
        # the reader's value, when the coordinates agree with it (avoids float round-off)
        if all(abs(d - o) <= 1e-6 * o for d, o in zip(declared, out, strict=True)):
            out = [float(d) for d in declared]
    dy, dx = normalize_spacing(tuple(out), 2)
    return dy, dx


def _channel(maps: xr.DataArray, name: str) -> xr.DataArray:
    (full,) = resolve_channels([str(c) for c in maps["channel"].values], [name])
    da = maps.sel(channel=full)
    if not np.any(np.isfinite(da.values)):
        raise EmptyMapError(f"channel {full!r} is all NaN; it carries no signal to analyse.")
    return da


def signal_threshold(signal: np.ndarray, threshold: Threshold, what: str) -> float:
    """Threshold (map units) below which a pixel counts as low signal; Otsu's value if asked."""
    finite = signal[np.isfinite(signal)]
    if finite.size == 0:
        raise EmptyMapError(f"{what} is all NaN; nothing to analyse.")
    if threshold is None:
        return -np.inf
    if isinstance(threshold, str):
        if threshold != "otsu":
            raise ParameterError(
                f"min_signal={threshold!r} is not valid; expected 'otsu', a number or None."
            )
        from skimage.filters import threshold_otsu

        if np.ptp(finite) == 0:
            raise EmptyMapError(
                f"{what} is constant ({finite[0]:g}): Otsu's threshold needs contrast between "
                "particles and background; give min_signal as a number or None."
            )
        return float(threshold_otsu(finite))
    return check_positive(threshold, "min_signal", allow_zero=True)


def ratio_map(
    maps: xr.DataArray,
    numerator: str,
    denominator: str,
    *,
    min_signal: Threshold = "otsu",
) -> xr.DataArray:
    """Ratio image of two element maps (e.g. Mn/Ni) with low-signal pixels masked.

    Parameters
    ----------
    maps : xarray.DataArray
        Element maps, dims ``("channel", "y", "x")`` (a reader's output).
    numerator, denominator : str
        Channel names or element symbols (``"Mn"``, ``"Ni"``).
    min_signal : float, "otsu" or None
        Pixels whose denominator is below this value (map units) are set to NaN: outside the
        particles a ratio of two noise values is meaningless. ``"otsu"`` takes Otsu's threshold
        of the denominator map; ``None`` masks only pixels where the denominator is <= 0.

    Returns
    -------
    xarray.DataArray
        dims ``("y", "x")``, the ratio (dimensionless, ``attrs["units"] = "1"``), NaN where
        masked; attrs ``numerator``, ``denominator``, ``min_signal`` (the threshold used, in the
        map's units) and ``masked_fraction``.

    Raises
    ------
    XRFChannelError
        A channel is not in the map.
    EmptyMapError
        A channel is all NaN or no pixel is above the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> ni = np.zeros((20, 20)); ni[5:15, 5:15] = 100.0
    >>> maps = as_maps({"Ni": ni, "Mn": 0.5 * ni}, spacing=0.05)
    >>> r = ratio_map(maps, "Mn", "Ni")
    >>> float(np.nanmean(r)), int(np.isfinite(r.values).sum())
    (0.5, 100)
    """
    num = _channel(maps, numerator)
    den = _channel(maps, denominator)
    thr = signal_threshold(den.values, min_signal, f"denominator {denominator!r}")
    valid = np.isfinite(den.values) & (den.values > max(thr, 0.0)) & np.isfinite(num.values)
    if not valid.any():
        raise EmptyMapError(
            f"no pixel has a {denominator!r} signal above {thr:g}; lower min_signal."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(valid, num.values / den.values, np.nan)
    return xr.DataArray(
        ratio,
        dims=("y", "x"),
        coords={"y": maps["y"], "x": maps["x"]},
        name=f"{num['channel'].item()}/{den['channel'].item()}",
        attrs={
            "units": "1",
            "numerator": str(num["channel"].item()),
            "denominator": str(den["channel"].item()),
            "min_signal": thr,
            "masked_fraction": float(1 - valid.mean()),
            "spacing_um": map_spacing(maps),
        },
    )


def fraction_maps(
    maps: xr.DataArray,
    elements: Sequence[str] = ("Ni", "Mn", "Co"),
    *,
    min_signal: Threshold = "otsu",
    sensitivity: Mapping[str, float] | None = None,
) -> xr.DataArray:
    """Element fractions ``E / (sum of elements)`` per pixel, e.g. Mn/(Ni+Mn+Co).

    Unlike a two-element ratio (Mn/Ni), a fraction is linear in the composition, so a step in
    composition gives a step in fraction with the same midpoint (see :func:`fit_core_shell`).

    Parameters
    ----------
    maps : xarray.DataArray
        Element maps ``("channel", "y", "x")``.
    elements : sequence of str
        The elements that make up the sum (at least two).
    min_signal : float, "otsu" or None
        Pixels whose summed (sensitivity-corrected) signal is below this value are NaN; ``"otsu"``
        uses Otsu's threshold of the summed map.
    sensitivity : mapping of str to float, optional
        Signal per unit atomic fraction of each element (e.g. from a standard); each map is
        divided by it first so that fractions are atomic fractions. Default: all 1 (fractions
        of the signals).

    Returns
    -------
    xarray.DataArray
        dims ``("channel", "y", "x")``, fractions (``units = "1"``) summing to 1 where valid,
        NaN where masked; attrs ``min_signal`` and ``masked_fraction``.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.ones((4, 4))
    >>> maps = as_maps({"Ni": 0.6 * one, "Mn": 0.2 * one, "Co": 0.2 * one}, spacing=0.1)
    >>> f = fraction_maps(maps, ["Ni", "Mn", "Co"], min_signal=None)
    >>> [round(float(f.sel(channel=e)[0, 0]), 3) for e in ("Ni", "Mn", "Co")]
    [0.6, 0.2, 0.2]
    """
    if len(elements) < 2:
        raise ParameterError(f"fractions need at least two elements, got {list(elements)}.")
    chans = [_channel(maps, e) for e in elements]
    values = np.stack([c.values for c in chans]).astype(float)
    if sensitivity is not None:
        for i, e in enumerate(elements):
            if e not in sensitivity:
                raise ParameterError(f"sensitivity has no value for {e!r}; give all {elements}.")
            values[i] /= check_positive(sensitivity[e], f"sensitivity[{e!r}]")
    total = values.sum(axis=0)
    thr = signal_threshold(total, min_signal, f"summed signal of {list(elements)}")
    valid = np.isfinite(total) & (total > max(thr, 0.0))
    if not valid.any():
        raise EmptyMapError(f"no pixel has a summed signal above {thr:g}; lower min_signal.")
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(valid[None], values / total[None], np.nan)
    names = [str(c["channel"].item()) for c in chans]
    return xr.DataArray(
        frac,
        dims=("channel", "y", "x"),
        coords={
            "channel": np.asarray(list(elements), dtype=object),
            "y": maps["y"],
            "x": maps["x"],
        },
        name="fraction",
        attrs={
            "units": "1",
            "source_channels": names,
            "min_signal": thr,
            "masked_fraction": float(1 - valid.mean()),
            "spacing_um": map_spacing(maps),
        },
    )


def rgb_overlay(
    maps: xr.DataArray,
    channels: Sequence[str] = ("Ni", "Co", "Mn"),
    *,
    percentiles: tuple[float, float] = (1.0, 99.5),
) -> xr.DataArray:
    """Three-element RGB overlay, each channel scaled between its own percentiles.

    Parameters
    ----------
    maps : xarray.DataArray
        Element maps ``("channel", "y", "x")``.
    channels : three str
        Elements shown in red, green and blue.
    percentiles : (float, float)
        Lower and upper percentile (0-100) of each map mapped to 0 and 1; values outside are
        clipped. Per-channel scaling keeps a weak element visible next to a strong one.

    Returns
    -------
    xarray.DataArray
        float64 in [0, 1], dims ``("y", "x", "rgb")``, ready for ``imshow``; NaN pixels are 0.
        ``attrs["limits"]``: {channel: (low, high)} in the maps' units.
    """
    if len(channels) != 3:
        raise ParameterError(f"an RGB overlay needs exactly 3 channels, got {list(channels)}.")
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0 <= lo_p < hi_p <= 100:
        raise ParameterError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}.")
    planes, limits = [], {}
    for name in channels:
        da = _channel(maps, name)
        v = da.values.astype(float)
        lo, hi = np.nanpercentile(v, [lo_p, hi_p])
        if not hi > lo:
            raise EmptyMapError(
                f"channel {name!r} has no contrast between the {lo_p} and {hi_p} percentiles "
                f"({lo:g}); widen percentiles or choose another element."
            )
        scaled = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
        planes.append(np.nan_to_num(scaled, nan=0.0))
        limits[str(da["channel"].item())] = (float(lo), float(hi))
    return xr.DataArray(
        np.stack(planes, axis=-1),
        dims=("y", "x", "rgb"),
        coords={"y": maps["y"], "x": maps["x"], "rgb": ["R", "G", "B"]},
        name="rgb",
        attrs={
            "units": "1",
            "channels": [str(c) for c in channels],
            "limits": limits,
            "percentiles": (lo_p, hi_p),
        },
    )


def _nanmean_quiet(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN: intended
        return np.nanmean(a, axis=axis)
