"""Hexagonal (R-3m) lattice parameters, layered-oxide metrics and Williamson-Hall analysis.

R-3m in the hexagonal setting: ``1/d^2 = 4/3 (h^2 + h k + k^2) / a^2 + l^2 / c^2``.
Lattice parameters come from a weighted least-squares fit of the observed 2theta positions
(weights 1/sigma^2 from the peak fits), optionally with a zero offset ``z`` and/or a sample-
displacement term ``D cos(theta)``::

    2theta_obs = 2 asin(lambda / (2 d_hkl(a, c))) + z + D cos(theta)

Every frame of a series is fitted at once (batched Gauss-Newton, the problem being tiny).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import CathodescopeWarning, InsufficientPeaksError, ParameterError
from cathodescope.xrd._peaks import PeakFitResult

__all__ = [
    "LAYERED_HKL",
    "LatticeResult",
    "d_spacing_hexagonal",
    "fit_hexagonal_lattice",
    "layered_oxide_lattice",
    "layered_peak_windows",
]

#: The five reflections used for layered oxides (hexagonal indices of R-3m).
LAYERED_HKL: dict[str, tuple[int, int, int]] = {
    "003": (0, 0, 3),
    "101": (1, 0, 1),
    "104": (1, 0, 4),
    "108": (1, 0, 8),
    "110": (1, 1, 0),
}

_DEG = 180.0 / np.pi


def d_spacing_hexagonal(
    hkl: Sequence[Sequence[int]] | np.ndarray, a: float, c: float
) -> np.ndarray:
    """d-spacings (Angstrom) of hexagonal reflections.

    Parameters
    ----------
    hkl : array_like, shape (n, 3)
        Miller indices (hexagonal setting).
    a, c : float
        Lattice parameters in Angstrom.

    Returns
    -------
    numpy.ndarray, shape (n,)

    Examples
    --------
    >>> round(float(d_spacing_hexagonal([(0, 0, 3)], 2.87, 14.2)[0]), 4)
    4.7333
    """
    h, k, l_ = np.asarray(hkl, dtype=float).reshape(-1, 3).T
    inv_d2 = 4.0 / 3.0 * (h * h + h * k + k * k) / a**2 + l_ * l_ / c**2
    return 1.0 / np.sqrt(inv_d2)


@dataclass(frozen=True)
class LatticeResult:
    """Hexagonal lattice parameters per frame.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per frame: ``frame``, ``a_A``, ``a_err_A``, ``c_A``, ``c_err_A``, ``c_over_a``,
        ``c_over_a_err``, ``volume_A3``, ``zero_deg``/``zero_err_deg`` and
        ``displacement_deg``/``displacement_err_deg`` (coefficient D of D cos(theta), deg) when
        fitted, ``i003_i104`` and ``i003_i104_err`` (area ratio) when both peaks are present,
        ``n_peaks``, ``redchi`` and the per-frame coordinates of the peak table.
    parameters : dict
        Wavelength, correction, hkl used.
    """

    table: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The result table (a copy)."""
        return self.table.copy()

    @property
    def a(self) -> float:
        """a (Angstrom) of the first frame."""
        return float(self.table["a_A"].iloc[0])

    @property
    def c(self) -> float:
        """c (Angstrom) of the first frame."""
        return float(self.table["c_A"].iloc[0])


def _n_extra(correction: str) -> int:
    return {"none": 0, "zero": 1, "displacement": 1, "both": 2}[correction]


def fit_hexagonal_lattice(
    hkl: Sequence[Sequence[int]] | np.ndarray,
    two_theta: np.ndarray,
    sigma: np.ndarray | None,
    wavelength: float,
    *,
    correction: Literal["none", "zero", "displacement", "both"] = "none",
    scale_covar: bool | Literal["auto"] = "auto",
    max_iter: int = 50,
) -> dict[str, np.ndarray]:
    """Weighted least-squares a and c from peak positions, for one or many frames.

    Parameters
    ----------
    hkl : array_like, shape (n_peaks, 3)
        Hexagonal Miller indices.
    two_theta : array_like, shape (n_peaks,) or (n_frames, n_peaks)
        Observed positions in degrees; NaN marks a missing peak (weight 0).
    sigma : array_like, same shape, optional
        1-sigma uncertainties of the positions (deg); default 1 (unweighted).
    wavelength : float
        Wavelength (Angstrom) the positions were measured at.
    correction : {"none", "zero", "displacement", "both"}
        Also fit a zero offset z (deg), a sample-displacement coefficient D (deg, term
        D cos(theta)), or both.
    scale_covar : bool or "auto"
        ``False``: uncertainties propagated from ``sigma`` alone. ``True``: covariance scaled
        by the reduced chi-square (lmfit's convention). ``"auto"`` (default): scaled by
        max(reduced chi-square, 1), so a lattice model that does not fit the positions within
        their errors (peak asymmetry, unmodelled zero error) widens the error bars but never
        narrows them below the propagated ones. No scaling with zero degrees of freedom.
    max_iter : int
        Gauss-Newton iterations.

    Returns
    -------
    dict
        Arrays of shape (n_frames,): ``a``, ``a_err``, ``c``, ``c_err``, ``cov_ac``, ``zero``,
        ``zero_err``, ``displacement``, ``displacement_err``, ``redchi``, ``n_peaks``.

    Raises
    ------
    InsufficientPeaksError
        Fewer usable peaks than parameters, or no peak with l != 0 / no peak with h or k != 0.

    Examples
    --------
    >>> from cathodescope.xrd import d_to_two_theta
    >>> hkl = [(0, 0, 3), (1, 0, 1), (1, 0, 4), (1, 1, 0)]
    >>> tth = d_to_two_theta(d_spacing_hexagonal(hkl, 2.87, 14.2), 1.5406)
    >>> r = fit_hexagonal_lattice(hkl, tth, None, 1.5406)
    >>> round(float(r["a"][0]), 6), round(float(r["c"][0]), 6)
    (2.87, 14.2)
    """
    check_choice(correction, ("none", "zero", "displacement", "both"), "correction")
    wl = check_positive(wavelength, "wavelength (Angstrom)")
    hkl = np.asarray(hkl, dtype=float).reshape(-1, 3)
    tth = np.atleast_2d(np.asarray(two_theta, dtype=float))
    if tth.shape[1] != hkl.shape[0]:
        raise ParameterError(f"{tth.shape[1]} positions per frame for {hkl.shape[0]} hkl.")
    sig = np.ones_like(tth) if sigma is None else np.atleast_2d(np.asarray(sigma, dtype=float))
    sig = np.broadcast_to(sig, tth.shape)
    valid = np.isfinite(tth) & np.isfinite(sig) & (sig > 0)
    w = np.where(valid, 1.0 / np.where(valid, sig, 1.0) ** 2, 0.0)
    tth_f = np.where(valid, tth, 0.0)
    h, k, l_ = hkl.T
    hh = 4.0 / 3.0 * (h * h + h * k + k * k)
    ll = l_ * l_
    n_par = 2 + _n_extra(correction)
    n_valid = valid.sum(axis=1)
    has_l = (valid & (ll > 0)[None, :]).any(axis=1)
    has_h = (valid & (hh > 0)[None, :]).any(axis=1)
    usable = (n_valid >= n_par) & has_l & has_h
    if not usable.any():
        raise InsufficientPeaksError(
            f"need at least {n_par} indexed peaks including one with l != 0 (e.g. 003) and one "
            f"with h or k != 0 (e.g. 110) for correction={correction!r}; got {int(n_valid.max())}."
        )
    model = _PositionModel(hh, ll, wl, correction)
    p = _linear_start(model, tth_f, valid, w, usable, n_par)
    sw = np.sqrt(w)
    p = _gauss_newton(model, p, tth_f, sw, usable, max_iter)
    t, jac = model(p)
    r = (tth_f - t) * sw
    chi2 = np.sum(r * r, axis=1)
    dof = np.maximum(n_valid - n_par, 0)
    redchi = np.where(dof > 0, chi2 / np.maximum(dof, 1), np.nan)
    jw = jac * sw[..., None]
    cov = np.linalg.pinv(jw.transpose(0, 2, 1) @ jw)
    if scale_covar == "auto":
        cov = cov * np.where(dof > 0, np.maximum(redchi, 1.0), 1.0)[:, None, None]
    elif scale_covar:
        cov = cov * np.where(dof > 0, redchi, 1.0)[:, None, None]
    out = _lattice_output(p, cov, correction, usable)
    out["redchi"] = np.where(usable, redchi, np.nan)
    out["n_peaks"] = n_valid
    return out


class _PositionModel:
    """Bragg positions (deg) of hkl for cell parameters A = 1/a^2, C = 1/c^2 (+ corrections)."""

    def __init__(self, hh: np.ndarray, ll: np.ndarray, wl: float, correction: str) -> None:
        self.hh, self.ll, self.wl, self.correction = hh, ll, wl, correction

    def __call__(self, par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hh, ll, wl, correction = self.hh, self.ll, self.wl, self.correction
        qv = par[:, 0:1] * hh + par[:, 1:2] * ll
        qv = np.maximum(qv, 1e-12)
        s = np.clip(wl * np.sqrt(qv) / 2, 0, 1 - 1e-12)
        t0 = 2 * np.arcsin(s) * _DEG  # Bragg angle of the model cell (deg)
        d_t_dq = 2 / np.sqrt(1 - s * s) * wl / (4 * np.sqrt(qv)) * _DEG
        t = t0
        extra = []
        j = 2
        if correction in ("zero", "both"):
            t = t + par[:, j : j + 1]
            extra.append(np.ones_like(t))
            j += 1
        if correction in ("displacement", "both"):
            # D cos(theta) evaluated at the model's Bragg angle (exact derivative below)
            cos_t = np.cos(np.radians(t0 / 2))
            t = t + par[:, j : j + 1] * cos_t
            d_t_dq = d_t_dq * (1 - par[:, j : j + 1] * np.sin(np.radians(t0 / 2)) * np.pi / 360)
            extra.append(cos_t)
        cols = [d_t_dq * hh, d_t_dq * ll, *extra]
        return t, np.stack(cols, axis=-1)


def _linear_start(
    model: _PositionModel,
    tth_f: np.ndarray,
    valid: np.ndarray,
    w: np.ndarray,
    usable: np.ndarray,
    n_par: int,
) -> np.ndarray:
    """Start values: Q = 1/d^2 = hh A + ll C, solved per frame by weighted least squares."""
    wl = model.wl
    q_obs = (2 * np.sin(np.radians(np.where(valid, tth_f, 90.0) / 2)) / wl) ** 2
    dq = 4 * np.sin(np.radians(tth_f)) / (2 * wl**2) * np.radians(1.0)  # dQ/d(2theta deg)
    wq = np.where(valid, w / np.maximum(dq, 1e-30) ** 2, 0.0)
    shape = tth_f.shape
    m = np.stack([np.broadcast_to(model.hh, shape), np.broadcast_to(model.ll, shape)], axis=-1)
    ata = np.einsum("fn,fnp,fnq->fpq", wq, m, m) + 1e-30 * np.eye(2)
    atb = np.einsum("fn,fnp,fn->fp", wq, m, q_obs)
    ac = np.linalg.solve(ata[usable], atb[usable][..., None])[..., 0]
    p = np.zeros((shape[0], n_par))
    p[usable, :2] = ac
    p[~usable, :2] = 1.0
    return p


def _gauss_newton(
    model: _PositionModel,
    p: np.ndarray,
    tth_f: np.ndarray,
    sw: np.ndarray,
    usable: np.ndarray,
    max_iter: int,
) -> np.ndarray:
    for _ in range(max_iter):
        t, jac = model(p)
        r = (tth_f - t) * sw
        jw = jac * sw[..., None]
        a_mat = np.einsum("fnp,fnq->fpq", jw, jw)
        g = np.einsum("fnp,fn->fp", jw, r)
        step = np.zeros_like(p)
        step[usable] = np.einsum("fpq,fq->fp", np.linalg.pinv(a_mat[usable]), g[usable])
        p = p + step
        scale = np.abs(p) + 1e-12
        if np.all(np.abs(step) <= 1e-13 * scale):
            break
    return p


def _lattice_output(
    p: np.ndarray, cov: np.ndarray, correction: str, usable: np.ndarray
) -> dict[str, np.ndarray]:
    """a, c (Angstrom) and the corrections with standard errors from A = 1/a^2, C = 1/c^2."""
    big_a, big_c = p[:, 0], p[:, 1]
    a = 1 / np.sqrt(big_a)
    c = 1 / np.sqrt(big_c)
    da = -0.5 * big_a**-1.5
    dc = -0.5 * big_c**-1.5
    out = {
        "a": a,
        "a_err": np.abs(da) * np.sqrt(cov[:, 0, 0]),
        "c": c,
        "c_err": np.abs(dc) * np.sqrt(cov[:, 1, 1]),
        "cov_ac": da * dc * cov[:, 0, 1],
        "zero": np.full(a.shape, np.nan),
        "zero_err": np.full(a.shape, np.nan),
        "displacement": np.full(a.shape, np.nan),
        "displacement_err": np.full(a.shape, np.nan),
    }
    j = 2
    if correction in ("zero", "both"):
        out["zero"], out["zero_err"] = p[:, j], np.sqrt(cov[:, j, j])
        j += 1
    if correction in ("displacement", "both"):
        out["displacement"], out["displacement_err"] = p[:, j], np.sqrt(cov[:, j, j])
    return {key: np.where(usable, value, np.nan) for key, value in out.items()}


def layered_oxide_lattice(
    peaks: PeakFitResult | pd.DataFrame,
    *,
    wavelength: float | None = None,
    hkl: Mapping[str, Sequence[int]] | None = None,
    correction: Literal["none", "zero", "displacement", "both"] = "none",
    min_significance: float = 3.0,
    scale_covar: bool | Literal["auto"] = "auto",
) -> LatticeResult:
    """a, c, c/a, cell volume and I(003)/I(104) of a layered R-3m oxide from fitted peaks.

    Parameters
    ----------
    peaks : PeakFitResult or DataFrame
        Output of :func:`fit_peaks`/:func:`track_peaks`; peak names are matched to ``hkl``.
    wavelength : float, optional
        Ka1 wavelength in Angstrom of the fitted positions; default from the fit parameters.
    hkl : mapping, optional
        Peak name -> (h, k, l). Default :data:`LAYERED_HKL` (003, 101, 104, 108, 110); peaks of
        the table not in the mapping are ignored.
    correction : {"none", "zero", "displacement", "both"}
        Zero-offset and/or sample-displacement term fitted together with a and c.
    min_significance : float
        Peaks whose area is below ``min_significance`` x its standard error are treated as
        absent (e.g. a vanished (003) in a heating series).
    scale_covar : bool or "auto"
        See :func:`fit_hexagonal_lattice`.

    Returns
    -------
    LatticeResult

    Raises
    ------
    MissingWavelengthError
        No wavelength given or recorded.
    InsufficientPeaksError
        Too few indexed peaks.

    Warns
    -----
    CathodescopeWarning
        I(003)/I(104), or a, c and c/a, of some frames rest on peak fits that did not converge
        (the table's ``converged`` column); the numbers are still returned.
    """
    from cathodescope.xrd._units import _wl

    if isinstance(peaks, PeakFitResult):
        table = peaks.table
        if wavelength is None:
            wavelength = peaks.parameters.get("wl1")
    else:
        table = peaks
    wl = _wl(wavelength, "lattice parameters")
    hkl_map = dict(LAYERED_HKL if hkl is None else hkl)
    names = [n for n in hkl_map if n in set(table["peak"])]
    if len(names) < 2:
        raise InsufficientPeaksError(
            f"the peak table has {sorted(set(table['peak']))}; name the peaks after their hkl "
            f"(e.g. {list(LAYERED_HKL)}) or pass hkl={{name: (h, k, l)}} (CLI: the name field of --window LO:HI:CENTRE:NAME)."
        )
    sub = table[table["peak"].isin(names)]
    pos = sub.pivot(index="frame", columns="peak", values="center_deg")[names]
    err = sub.pivot(index="frame", columns="peak", values="center_err_deg")[names]
    area = sub.pivot(index="frame", columns="peak", values="area")[names]
    area_err = sub.pivot(index="frame", columns="peak", values="area_err")[names]
    significant = area.to_numpy() > min_significance * np.nan_to_num(
        area_err.to_numpy(), nan=np.inf
    )
    tth = np.where(significant, pos.to_numpy(), np.nan)
    res = fit_hexagonal_lattice(
        [hkl_map[n] for n in names],
        tth,
        err.to_numpy(),
        wl,
        correction=correction,
        scale_covar=scale_covar,
    )
    a, c = res["a"], res["c"]
    ca = c / a
    ca_err = ca * np.sqrt(
        (res["a_err"] / a) ** 2 + (res["c_err"] / c) ** 2 - 2 * res["cov_ac"] / (a * c)
    )
    vol = np.sqrt(3) / 2 * a * a * c
    out = pd.DataFrame(
        {
            "frame": pos.index.to_numpy(),
            "a_A": a,
            "a_err_A": res["a_err"],
            "c_A": c,
            "c_err_A": res["c_err"],
            "c_over_a": ca,
            "c_over_a_err": ca_err,
            "volume_A3": vol,
            "n_peaks": res["n_peaks"],
            "redchi": res["redchi"],
        }
    )
    if correction in ("zero", "both"):
        out["zero_deg"], out["zero_err_deg"] = res["zero"], res["zero_err"]
    if correction in ("displacement", "both"):
        out["displacement_deg"] = res["displacement"]
        out["displacement_err_deg"] = res["displacement_err"]
    if "003" in names and "104" in names:
        i3, i4 = area["003"].to_numpy(), area["104"].to_numpy()
        e3, e4 = area_err["003"].to_numpy(), area_err["104"].to_numpy()
        ratio = i3 / i4
        out["i003_i104"] = ratio
        out["i003_i104_err"] = np.abs(ratio) * np.sqrt((e3 / i3) ** 2 + (e4 / i4) ** 2)
    _warn_unconverged(sub, names, significant, pos.index.to_numpy())
    for coord in ("temperature_C", "time_s", "soc"):
        if coord in table.columns:
            out[coord] = table.groupby("frame")[coord].first().reindex(out["frame"]).to_numpy()
    params = {
        "wavelength_A": wl,
        "correction": correction,
        "hkl": {n: hkl_map[n] for n in names},
        "min_significance": min_significance,
        "scale_covar": scale_covar,
    }
    return LatticeResult(out, params)


def _warn_unconverged(
    sub: pd.DataFrame, names: Sequence[str], used: np.ndarray, frames: np.ndarray
) -> None:
    """Warn when a, c, c/a or I(003)/I(104) rest on peak fits that did not converge."""
    if "converged" not in sub.columns:
        return
    conv = sub.pivot(index="frame", columns="peak", values="converged")[list(names)]
    bad = ~conv.to_numpy(dtype=bool)
    texts = []
    if "003" in names and "104" in names:
        cols = [list(names).index("003"), list(names).index("104")]
        ratio_bad = bad[:, cols].any(axis=1)
        if ratio_bad.any():
            texts.append(
                f"I(003)/I(104) of {int(ratio_bad.sum())} of {len(frames)} frame(s) (first: frame "
                f"{int(frames[ratio_bad][0])}) comes from peak fits that did not converge"
            )
    lattice_bad = (bad & used).any(axis=1)
    if lattice_bad.any():
        texts.append(
            f"a, c and c/a of {int(lattice_bad.sum())} frame(s) (first: frame "
            f"{int(frames[lattice_bad][0])}) use peak positions from unconverged fits"
        )
    if texts:
        warnings.warn(
            "; ".join(texts) + ": check the windows (--a/--c, --half-width) or raise max_iter "
            "before reporting these numbers (the peak table's 'converged' column says which).",
            CathodescopeWarning,
            stacklevel=3,
        )


def layered_peak_windows(
    a: float,
    c: float,
    wavelength: float,
    *,
    half_width: float = 0.4,
    hkl: Mapping[str, Sequence[int]] | None = None,
) -> list:
    """Fitting windows for the layered-oxide reflections predicted from approximate a and c.

    Peaks closer than ``2 * half_width`` (deg) share one window (e.g. (108)/(110)).

    Parameters
    ----------
    a, c : float
        Approximate lattice parameters (Angstrom); the predicted positions must lie within
        ``half_width`` of the true ones.
    wavelength : float
        Wavelength (Angstrom) of the pattern.
    half_width : float
        Half width (deg) of each window around the predicted position.
    hkl : mapping, optional
        Peak name -> (h, k, l); default :data:`LAYERED_HKL`.

    Returns
    -------
    list of PeakWindow
    """
    from cathodescope.xrd._peaks import PeakWindow
    from cathodescope.xrd._units import d_to_two_theta

    hkl_map = dict(LAYERED_HKL if hkl is None else hkl)
    names = list(hkl_map)
    pos = d_to_two_theta(
        d_spacing_hexagonal([hkl_map[n] for n in names], a, c), wavelength, unreachable="nan"
    )
    order = [i for i in np.argsort(pos) if np.isfinite(pos[i])]
    groups: list[list[int]] = []
    for i in order:
        if groups and pos[i] - pos[groups[-1][-1]] < 2 * half_width:
            groups[-1].append(i)
        else:
            groups.append([i])
    return [
        PeakWindow(
            float(pos[g[0]] - half_width),
            float(pos[g[-1]] + half_width),
            tuple(float(pos[i]) for i in g),
            tuple(names[i] for i in g),
        )
        for g in groups
    ]
