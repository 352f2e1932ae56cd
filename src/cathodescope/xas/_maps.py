"""Per-pixel XANES: normalization and exact LCF vectorised over image stacks.

Why our own kernel: larch fits one spectrum at a time (5-7 ms each, ~1.5 h for 10^6 pixels).
Here every step is linear in mu once the windows are fixed, so a chunk of pixels is processed
with one matrix product ``X.T @ [s | M | Q]`` and the exact simplex solver of
:mod:`cathodescope.xas._lcf` (a few products per support of the standards):

* the pre-edge and post-edge windows are placed around one common e0 (found on the mean
  spectrum of the stack, or given), as a beamline user does when normalizing a map in ATHENA
  with one parameter set; the per-pixel edge position is measured separately (edge-energy
  map);
* edge step of every pixel ``= mu @ s`` (``s`` = pre-line and post-polynomial projections
  evaluated at e0), the normalized fit-window spectrum ``= (mu @ Q) / step``; LCF right-hand
  sides ``= (mu @ Q @ A) / step``;
* pixels whose edge step is below ``min_edge_step`` are masked (NaN fractions).

Stacks bigger than RAM: pass a dask-backed DataArray (or ``chunks=``); the work runs per block
of image rows with the energy axis whole, and only the small output maps are materialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import ParameterError, ShapeMismatchError, StandardRangeError
from cathodescope.xas._lcf import _SimplexSolver, _standard_arrays
from cathodescope.xas._normalize import _index_nearest, _window, find_e0
from cathodescope.xas._spectrum import as_spectrum

EdgeMethod = Literal["half_step", "derivative_max"]


@dataclass(frozen=True)
class _MapOperators:
    energy: np.ndarray
    e0: float
    fit_idx: np.ndarray
    step_vec: np.ndarray  # (m,)
    q_all: np.ndarray  # (m, m): mu @ q_all = mu - pre_edge (flattening included if asked)
    m_fit: np.ndarray  # (m, k): mu @ m_fit = (normalized fit window) @ A * step
    gram: np.ndarray  # (k, k)
    edge_idx: np.ndarray
    solver: _SimplexSolver


def _poly_projection(e: np.ndarray, idx: slice, order: int) -> tuple[np.ndarray, float, float]:
    """Matrix P (m_win, order+1) such that coefs = y[idx] @ P (least squares, increasing)."""
    x = e[idx]
    center = x.mean()
    scale = max(np.ptp(x), 1e-9)
    v = np.vander((x - center) / scale, order + 1, increasing=True)
    pinv = np.linalg.pinv(v)  # (order+1, m_win) on scaled variable
    # convert scaled-variable coefficients to evaluation at arbitrary energies via a helper
    return pinv, center, scale


def _eval_scaled(coef_map: np.ndarray, center: float, scale: float, at: np.ndarray) -> np.ndarray:
    """Rows: evaluation points; returns (n_at, m_win) operator mapping window values -> fit."""
    order = coef_map.shape[0] - 1
    v = np.vander((np.atleast_1d(at) - center) / scale, order + 1, increasing=True)
    return v @ coef_map


def build_operators(
    energy: np.ndarray,
    standards: Mapping[str, Any],
    *,
    e0: float,
    pre1: float,
    pre2: float,
    norm1: float,
    norm2: float,
    nnorm: int,
    fit_range: tuple[float, float],
    quantity: Literal["norm", "flat"] = "flat",
    edge_window: tuple[float, float] = (-20.0, 30.0),
    normalize_standards: bool = True,
) -> _MapOperators:
    """Linear operators of the per-pixel pipeline (see module docstring)."""
    e = np.asarray(energy, dtype=float)
    m = e.size
    p1, p2 = _window(e, e0, pre1, pre2)
    n1, n2 = _window(e, e0, norm1, norm2)
    if p2 - p1 < 2 or n2 - n1 < nnorm + 2:
        from cathodescope.errors import TooFewPointsError

        raise TooFewPointsError(
            f"the stack's energies give {p2 - p1} pre-edge and {n2 - n1} post-edge points for "
            f"windows [{pre1:g},{pre2:g}] / [{norm1:g},{norm2:g}] eV around e0={e0:g}; widen "
            "the windows or measure more energies."
        )
    # pre-edge line: pre(E) = L_pre @ mu  -> (m, m) operator
    cpre, cc, cs = _poly_projection(e, slice(p1, p2), 1)
    pre_op = np.zeros((m, m))
    pre_op[:, p1:p2] = _eval_scaled(cpre, cc, cs, e)
    sub = np.eye(m) - pre_op  # (mu - pre) = sub @ mu
    cpost, pc, ps = _poly_projection(e, slice(n1, n2), nnorm)
    post_win = np.zeros((m, m))
    post_win[:, n1:n2] = _eval_scaled(cpost, pc, ps, e)
    post_op = post_win @ sub  # post_rel = post_op @ mu
    at_e0 = np.zeros((1, m))
    at_e0[:, n1:n2] = _eval_scaled(cpost, pc, ps, np.array([e0]))
    step_vec = (at_e0 @ sub)[0]  # step = step_vec @ mu
    if quantity == "flat":
        # flat * step = (mu - pre) - (post_rel - post_rel(e0)) above e0
        above = (e >= e0)[:, None]
        numer = np.where(above, sub - post_op + step_vec[None, :], sub)
    else:
        numer = sub
    lo, hi = sorted(fit_range)
    fit_idx = np.flatnonzero((e >= lo) & (e <= hi))
    std = _standard_arrays(standards)
    for name, (es, _) in std.items():
        if es[0] > lo + 1e-9 or es[-1] < hi - 1e-9:
            raise StandardRangeError(
                f"standard {name!r} covers {es[0]:g}-{es[-1]:g} eV but the fit range is "
                f"{lo:g}-{hi:g} eV; narrow fit_range."
            )
    if normalize_standards:
        for name, (es, _) in std.items():
            if es[0] > e[0] + 1e-9 or es[-1] < e[-1] - 1e-9:
                raise StandardRangeError(
                    f"standard {name!r} covers {es[0]:g}-{es[-1]:g} eV but normalizing it like "
                    f"the stack needs {e[0]:g}-{e[-1]:g} eV; pass normalize_standards=False "
                    "(CLI: --standards-normalized) for standards that are already normalized."
                )
        a_full = np.stack([np.interp(e, es, mus) for es, mus in std.values()], axis=1)
        steps = step_vec @ a_full
        if np.any(steps <= 0):
            raise StandardRangeError("a standard has edge step <= 0 with the stack's windows.")
        a = (numer @ a_full / steps)[fit_idx]
    else:
        a = np.stack([np.interp(e[fit_idx], es, mus) for es, mus in std.values()], axis=1)
    q_fit = numer[fit_idx]  # (m_fit, m)
    m_fit = (a.T @ q_fit).T  # (m, k)
    gram = a.T @ a
    elo, ehi = e0 + edge_window[0], e0 + edge_window[1]
    edge_idx = np.flatnonzero((e >= elo) & (e <= ehi))
    return _MapOperators(
        energy=e,
        e0=float(e0),
        fit_idx=fit_idx,
        step_vec=step_vec,
        q_all=numer.T.copy(),
        m_fit=m_fit,
        gram=gram,
        edge_idx=edge_idx,
        solver=_SimplexSolver.from_gram(gram),
    )


def _process_block(
    x: np.ndarray,
    ops: _MapOperators,
    *,
    min_step: float,
    edge_method: str,
    dtype: Any,
) -> np.ndarray:
    """x: (m, P) spectra as columns -> (k + 3, P): weights, edge energy, edge step, R-factor."""
    x = np.asarray(x, dtype=dtype)
    k = ops.gram.shape[0]
    ei = ops.edge_idx
    en = ops.energy[ei]
    mf = ops.fit_idx.size
    # one BLAS product for every linear quantity, pixels as rows (contiguous reductions)
    op = np.concatenate(
        [ops.step_vec[:, None], ops.m_fit, ops.q_all[:, ops.fit_idx], ops.q_all[:, ei]], axis=1
    ).astype(dtype)
    r = x.T @ op  # (P, 1 + k + m_fit + m_edge)
    step = r[:, 0]
    ok = step > min_step
    inv = (1.0 / np.where(ok, step, 1.0)).astype(dtype)
    b = (r[:, 1 : 1 + k] * inv[:, None]).T
    w, q = ops.solver.solve(np.ascontiguousarray(b))
    y = r[:, 1 + k : 1 + k + mf]
    yy = np.einsum("pm,pm->p", y, y) * inv * inv
    ssr = np.maximum(yy + q, 0.0)
    rfac = ssr / np.where(yy > 0, yy, 1.0)
    nrm = r[:, 1 + k + mf :] * inv[:, None]  # (P, m_edge)
    cols = np.arange(x.shape[1])
    if edge_method == "half_step":
        above = nrm >= 0.5
        j = np.argmax(above, axis=1)
        has = above.any(axis=1) & (j > 0)
        jj = np.clip(j, 1, en.size - 1)
        n0 = nrm[cols, jj - 1]
        n1 = nrm[cols, jj]
        t = np.where(n1 != n0, (0.5 - n0) / np.where(n1 != n0, n1 - n0, 1.0), 0.0)
        edge = en[jj - 1] + t * (en[jj] - en[jj - 1])
        edge = np.where(has, edge, np.nan)
    else:
        d = np.diff(nrm, axis=1) / np.diff(en)[None, :]
        mid = 0.5 * (en[1:] + en[:-1])
        j = np.argmax(d, axis=1)
        jj = np.clip(j, 1, max(d.shape[1] - 2, 1))
        y0, y1, y2 = d[cols, jj - 1], d[cols, jj], d[cols, jj + 1]
        den = y0 - 2 * y1 + y2
        delta = np.where(den < 0, 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
        delta = np.clip(delta, -1, 1)
        h = np.where(
            delta >= 0, mid[np.minimum(jj + 1, mid.size - 1)] - mid[jj], mid[jj] - mid[jj - 1]
        )
        edge = mid[jj] + delta * h
    out = np.empty((k + 3, x.shape[1]), dtype=np.float32 if dtype == np.float32 else np.float64)
    out[:k] = np.where(ok[None, :], w, np.nan)
    out[k] = np.where(ok, edge, np.nan)
    out[k + 1] = step
    out[k + 2] = np.where(ok, rfac, np.nan)
    return out


@dataclass(frozen=True)
class XanesMaps:
    """Per-pixel XANES results.

    Parameters
    ----------
    fractions : xarray.DataArray
        Dims ``("channel", "y", "x")``: one fraction map per standard (NaN where masked);
        ``y``/``x`` coordinates in um. ``fractions.sel(channel="NiO")`` is a ``(y, x)`` map
        ready for the depth-profile engine.
    edge_energy : xarray.DataArray
        Dims ``("y", "x")``, eV.
    edge_step : xarray.DataArray
        Dims ``("y", "x")``, units of the stack.
    r_factor : xarray.DataArray
        Dims ``("y", "x")``: per-pixel LCF R-factor (residual map).
    mask : xarray.DataArray
        Dims ``("y", "x")``, bool: True where the edge jump is too small (no fit).
    parameters : dict
        e0, windows, fit range, thresholds used.
    """

    fractions: Any
    edge_energy: Any
    edge_step: Any
    r_factor: Any
    mask: Any
    parameters: dict[str, Any] = field(default_factory=dict)

    def fraction(self, standard: str):
        """The ``(y, x)`` fraction map of one standard (DataArray, um coordinates)."""
        return self.fractions.sel(channel=standard).drop_vars("channel")

    def valence(self, valences: Mapping[str, float]):
        """Average oxidation-state map ``sum_i f_i v_i`` (dims ``y, x``; NaN where masked).

        Parameters
        ----------
        valences : mapping standard -> oxidation state
            E.g. ``{"NiO": 2, "LiNiO2": 3}``; every standard of the fit must be given.
        """
        names = [str(c) for c in self.fractions.channel.values]
        missing = set(names) - set(valences)
        if missing:
            raise ParameterError(f"no valence given for standards {sorted(missing)}.")
        v = self.fractions.copy(data=self.fractions.values.astype(float))
        v = (v * np.array([valences[n] for n in names], dtype=float)[:, None, None]).sum(
            "channel", skipna=False
        )
        v.name = "valence"
        v.attrs = {"units": "oxidation state"}
        return v

    def to_dataframe(self):
        """One row per unmasked pixel: ``y_um, x_um, edge_energy_eV, edge_step, r_factor``
        and ``fraction_<standard>``."""
        import pandas as pd

        keep = ~self.mask.values
        yy, xx = np.meshgrid(self.mask.y.values, self.mask.x.values, indexing="ij")
        data = {
            "y_um": yy[keep],
            "x_um": xx[keep],
            "edge_energy_eV": self.edge_energy.values[keep],
            "edge_step": self.edge_step.values[keep],
            "r_factor": self.r_factor.values[keep],
        }
        for name in self.fractions.channel.values:
            data[f"fraction_{name}"] = self.fractions.sel(channel=name).values[keep]
        return pd.DataFrame(data)


def _min_step_from_sample(stack: Any, ops: Any, fraction: float) -> float:
    """Edge-step threshold: ``fraction`` of the 95th percentile of a pixel sample's steps."""
    ny, nx = stack.sizes["y"], stack.sizes["x"]
    flat = stack.data.reshape(stack.sizes["energy"], ny * nx)
    stride = max(1, (ny * nx) // 20000)  # cheap, deterministic
    sample = np.asarray(flat[:, ::stride], dtype=float)
    steps = ops.step_vec @ sample
    finite = steps[np.isfinite(steps)]
    med = float(np.percentile(finite, 95)) if finite.size else 0.0
    if not med > 0:
        raise ParameterError("the edge steps of the stack are <= 0: no edge to map.")
    return fraction * med


def _run_dask(
    stack: Any, ops: Any, kw: dict, *, k: int, chunks: int | None, chunk_pixels: int
) -> np.ndarray:
    """Every pixel block through :func:`_process_block` with dask (stacks larger than RAM)."""
    import dask.array as da

    nx = stack.sizes["x"]
    data = stack.data
    if not isinstance(data, da.Array):
        data = da.from_array(data, chunks=(-1, chunks or max(1, chunk_pixels // nx), -1))
    else:
        data = data.rechunk({0: -1})
        if chunks is not None:
            data = data.rechunk({1: chunks})

    def block(b: np.ndarray) -> np.ndarray:
        m_, by, bx = b.shape
        res = _process_block(b.reshape(m_, by * bx), ops, **kw)
        return res.reshape(k + 3, by, bx)

    return data.map_blocks(
        block, dtype=kw["dtype"], chunks=((k + 3,), data.chunks[1], data.chunks[2])
    ).compute()


def _run_threads(
    stack: Any,
    ops: Any,
    kw: dict,
    *,
    k: int,
    chunk_pixels: int,
    n_threads: int,
    progress: bool,
) -> np.ndarray:
    """Every pixel block through :func:`_process_block` in memory, on ``n_threads`` threads."""
    ny, nx = stack.sizes["y"], stack.sizes["x"]
    flat = np.asarray(stack.data).reshape(stack.sizes["energy"], ny * nx)
    out = np.empty((k + 3, ny * nx), dtype=kw["dtype"])
    starts = list(range(0, ny * nx, chunk_pixels))

    def run_block(s0: int) -> None:
        sl = slice(s0, min(s0 + chunk_pixels, ny * nx))
        out[:, sl] = _process_block(flat[:, sl], ops, **kw)

    if int(n_threads) < 1:
        raise ParameterError(f"n_threads must be >= 1, got {n_threads}.")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts), desc="xanes map", unit="block")
    if int(n_threads) == 1:
        for s0 in starts:
            run_block(s0)
            if bar is not None:
                bar.update()
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=int(n_threads)) as pool:
            for _ in pool.map(run_block, starts):
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    return out.reshape(k + 3, ny, nx)


def xanes_maps(
    stack: Any,
    standards: Mapping[str, Any],
    *,
    fit_range: tuple[float, float],
    e0: float | None = None,
    pre1: float = -30.0,
    pre2: float = -10.0,
    norm1: float = 30.0,
    norm2: float | None = None,
    nnorm: int = 1,
    quantity: Literal["norm", "flat"] = "flat",
    normalize_standards: bool = True,
    edge_method: EdgeMethod = "half_step",
    min_edge_step: float | None = None,
    min_edge_step_fraction: float = 0.1,
    dtype: Literal["float32", "float64"] = "float32",
    chunk_pixels: int = 1 << 16,
    chunks: int | None = None,
    n_threads: int = 1,
    progress: bool = False,
) -> XanesMaps:
    """Normalize and fit every pixel of a XANES stack.

    Parameters
    ----------
    stack : xarray.DataArray
        Dims ``("energy", "y", "x")`` (energy in eV; y/x in um), numpy- or dask-backed.
    standards : mapping of name to DataArray or ``(energy, mu)``
        Normalized standards (eV) covering ``fit_range``.
    fit_range : (float, float)
        LCF window in eV (absolute).
    e0 : float, optional
        Common e0 for the normalization windows (eV); default: derivative maximum of the mean
        spectrum of the stack.
    pre1, pre2, norm1, norm2 : float
        Windows relative to e0 (eV); ``norm2`` defaults to the last energy.
    nnorm : int
        Post-edge polynomial order (0-2 for sparse TXM energy lists).
    quantity : {"flat", "norm"}
        Fit flattened or normalized spectra.
    normalize_standards : bool
        Put the standards through exactly the same (linear) normalization as the pixels, so
        that a pixel that is a mixture of them is fitted exactly (default). Requires standards
        covering the stack's whole energy range; pass False for standards already normalized
        on a different grid.
    edge_method : {"half_step", "derivative_max"}
        Per-pixel edge energy definition.
    min_edge_step : float, optional
        Absolute edge-jump threshold for the mask; default ``min_edge_step_fraction`` times the
        95th percentile of the edge steps (a robust "full particle" step, valid when the
        particle covers less than half of the field of view).
    min_edge_step_fraction : float
        Fraction of that 95th percentile used when ``min_edge_step`` is not given.
    dtype : {"float32", "float64"}
        Working precision of the kernel.
    chunk_pixels : int
        Pixels per block for in-memory stacks.
    chunks : int, optional
        Rows of the image per dask block; using it (or a dask-backed stack) turns on dask.
    n_threads : int
        Threads working on blocks of an in-memory stack (numpy releases the GIL in the matrix
        products and reductions); results do not depend on it.
    progress : bool
        tqdm progress bar over blocks (in-memory path).

    Returns
    -------
    XanesMaps

    Raises
    ------
    ShapeMismatchError
        If the stack lacks the dims ``energy, y, x``.
    StandardRangeError, TooFewPointsError
        As for :func:`~cathodescope.xas.lcf` and :func:`~cathodescope.xas.normalize`.
    """
    import xarray as xr

    check_choice(quantity, ("norm", "flat"), "quantity")
    check_choice(edge_method, ("half_step", "derivative_max"), "edge_method")
    check_choice(dtype, ("float32", "float64"), "dtype")
    if not isinstance(stack, xr.DataArray) or set(stack.dims) != {"energy", "y", "x"}:
        raise ShapeMismatchError(
            "stack must be an xarray.DataArray with dims ('energy', 'y', 'x'); read it with "
            "cathodescope.io.read_xanes_stack."
        )
    stack = stack.transpose("energy", "y", "x")
    energy, _ = as_spectrum(
        np.zeros(stack.sizes["energy"]), stack.energy.values, name="stack", min_points=5
    )
    np_dtype = np.float32 if dtype == "float32" else np.float64
    is_dask = chunks is not None or type(stack.data).__module__.startswith("dask")
    if e0 is None:
        mean = stack.mean(dim=("y", "x"))
        mean_vals = np.asarray(mean.values, dtype=float)
        e0 = find_e0(mean_vals, energy, method="derivative_max")
    if norm2 is None:
        norm2 = float(energy[-1] - e0)
    ops = build_operators(
        energy,
        standards,
        e0=float(e0),
        pre1=pre1,
        pre2=pre2,
        norm1=norm1,
        norm2=norm2,
        nnorm=nnorm,
        fit_range=fit_range,
        quantity=quantity,
        normalize_standards=normalize_standards,
    )
    if min_edge_step is None:
        min_step = _min_step_from_sample(stack, ops, min_edge_step_fraction)
    else:
        min_step = float(min_edge_step)
    k = ops.gram.shape[0]
    kw = {"min_step": min_step, "edge_method": edge_method, "dtype": np_dtype}
    if is_dask:
        out = _run_dask(stack, ops, kw, k=k, chunks=chunks, chunk_pixels=chunk_pixels)
    else:
        out = _run_threads(
            stack, ops, kw, k=k, chunk_pixels=chunk_pixels, n_threads=n_threads, progress=progress
        )
    names = list(_standard_arrays(standards))
    coords = {"y": stack.y, "x": stack.x}
    mask = ~(out[k + 1] > min_step)
    fr = xr.DataArray(
        out[:k],
        dims=("channel", "y", "x"),
        coords={"channel": names, **coords},
        attrs={"units": "fraction"},
        name="fraction",
    )

    def m2(a: np.ndarray, name: str, units: str):
        return xr.DataArray(a, dims=("y", "x"), coords=coords, name=name, attrs={"units": units})

    return XanesMaps(
        fractions=fr,
        edge_energy=m2(out[k], "edge_energy", "eV"),
        edge_step=m2(out[k + 1], "edge_step", stack.attrs.get("units", "a.u.")),
        r_factor=m2(out[k + 2], "r_factor", "1"),
        mask=m2(mask, "low_edge_jump", "bool"),
        parameters={
            "e0": float(e0),
            "pre1": pre1,
            "pre2": pre2,
            "norm1": norm1,
            "norm2": float(norm2),
            "nnorm": nnorm,
            "fit_range": tuple(fit_range),
            "quantity": quantity,
            "normalize_standards": normalize_standards,
            "edge_method": edge_method,
            "min_edge_step": min_step,
            "dtype": dtype,
            "dask": bool(is_dask),
            "n_threads": int(n_threads),
            "e0_index": _index_nearest(energy, float(e0)),
        },
    )
