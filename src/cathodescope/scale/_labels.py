"""Chunked passes over the whole volume: threshold, mask clean-up, connected components, boxes.

Each pass reproduces the in-memory step of :func:`cathodescope.segment.segment_particles`
exactly: the same Otsu histogram (minimum, maximum and the same regular sub-grid), morphology
by exact Euclidean balls computed chunk by chunk with an overlap wide enough for the ball, and
face-connected components whose labels agree across chunk borders (per-chunk labels merged
across the chunk faces).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cathodescope.errors import EmptyDataError, EmptySegmentationError, ParameterError


def segmentation_image(channels: Mapping[str, Any], segment_on: str | Any | None) -> Any:
    """The (lazy) image to segment: a channel, another array, or the float32 sum of channels."""
    first = next(iter(channels.values()))
    if segment_on is None:
        import dask.array as da

        total = da.zeros(first.shape, dtype=np.float32, chunks=first.chunks)
        for values in channels.values():
            total = total + values  # float32 sums in channel order, as in analyze_scene
        return total
    if isinstance(segment_on, str):
        if segment_on not in channels:
            raise ParameterError(
                f"segment_on={segment_on!r} is not a channel; expected one of {tuple(channels)}."
            )
        return channels[segment_on]
    return segment_on


def lazy_threshold(image: Any, threshold: float | str = "otsu") -> tuple[float, str, float, float]:
    """Threshold from one pass over the volume: (value, method, minimum, maximum).

    Otsu's threshold of the 256-bin histogram of the same regular sub-grid (>= 4 million voxels)
    as the in-memory segmentation, so the value is identical; the minimum and maximum come from
    the same pass.

    Parameters
    ----------
    image : dask array
        The segmentation image.
    threshold : float or "otsu"

    Returns
    -------
    (float, str, float, float)
        Threshold, ``"otsu"`` or ``"value"``, image minimum and maximum.

    Raises
    ------
    EmptyDataError
        For an all-zero or constant image.
    NonFiniteDataError
        If the image holds NaN or inf.
    """
    import dask
    from skimage.filters import threshold_otsu

    from cathodescope._validation import check_finite

    ndim = image.ndim
    step = max(1, int((math.prod(image.shape) / 4e6) ** (1 / ndim)))
    total, lo, hi, sample = dask.compute(
        image.sum(dtype=np.float64),
        image.min(),
        image.max(),
        image[(slice(None, None, step),) * ndim],
    )
    lo, hi = float(lo), float(hi)
    if not math.isfinite(float(total)):
        check_finite(np.asarray([lo, hi, float(total)]), "image")
    if lo == 0.0 and hi == 0.0:
        raise EmptyDataError(
            "the image is all zero: nothing to segment; check that the right channel/file was "
            "loaded."
        )
    if lo == hi:
        raise EmptyDataError(f"the image is constant ({lo:g}): no contrast to segment.")
    if threshold == "otsu":
        counts, edges = np.histogram(sample, bins=256, range=(lo, hi))
        return float(threshold_otsu(hist=(counts, 0.5 * (edges[:-1] + edges[1:])))), "otsu", lo, hi
    if isinstance(threshold, str):
        raise ParameterError(f"threshold={threshold!r} is not valid; expected 'otsu' or a number.")
    return float(threshold), "value", lo, hi


def _reach(spacing: Sequence[float], radius_um: float) -> tuple[int, ...]:
    return tuple(max(1, math.ceil(radius_um / s)) + 1 for s in spacing)


def clean_mask(
    mask: Any, *, spacing: Sequence[float], opening_radius_um: float, closing_radius_um: float
) -> Any:
    """Opening then closing by Euclidean balls (um), chunk by chunk with an exact overlap.

    A voxel's result depends only on the mask within twice the radius (erosion then dilation),
    so each chunk is processed with that overlap (no padding at the array border, where the
    in-memory distance maps do not treat the border as background either).
    """
    from cathodescope.segment import binary_close_um, binary_open_um

    sp = tuple(spacing)
    if opening_radius_um > 0:
        depth = tuple(2 * r for r in _reach(sp, opening_radius_um))
        mask = mask.map_overlap(
            binary_open_um,
            depth=depth,
            boundary="none",
            dtype=bool,
            radius_um=opening_radius_um,
            spacing=sp,
        )
    if closing_radius_um > 0:
        depth = tuple(2 * r for r in _reach(sp, closing_radius_um))
        mask = mask.map_overlap(
            binary_close_um,
            depth=depth,
            boundary="none",
            dtype=bool,
            radius_um=closing_radius_um,
            spacing=sp,
        )
    return mask


def _label_block(block: np.ndarray, path: str, region: tuple[slice, ...]) -> int:
    """Label one chunk of the mask (face connectivity) into its own chunk of a Zarr store."""
    import zarr
    from scipy import ndimage as ndi

    structure = ndi.generate_binary_structure(block.ndim, 1)
    lab, n = ndi.label(block, structure=structure, output=np.int32)
    zarr.open_array(path, mode="r+")[region] = lab
    return int(n)


def _face_pairs(
    path: str, axis: int, region: tuple[slice, ...], offsets: tuple[int, int]
) -> np.ndarray:
    """Pairs (label_a, label_b) of chunk-local labels (plus their offsets) touching across the
    face between the chunk ``region`` and its neighbour after it along ``axis``."""
    import zarr

    z = zarr.open_array(path, mode="r")
    stop = region[axis].stop
    a_sl = tuple(slice(stop - 1, stop) if i == axis else s for i, s in enumerate(region))
    b_sl = tuple(slice(stop, stop + 1) if i == axis else s for i, s in enumerate(region))
    a, b = np.asarray(z[a_sl]).ravel(), np.asarray(z[b_sl]).ravel()
    both = (a > 0) & (b > 0)
    if not both.any():
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.stack(
        [a[both].astype(np.int64) + offsets[0], b[both].astype(np.int64) + offsets[1]], axis=1
    )
    return np.unique(pairs, axis=0)


def _relabel_block(
    src: str, dst: str, region: tuple[slice, ...], lut: np.ndarray, offset: int
) -> np.ndarray:
    """Chunk-local labels -> component ids (``lut[offset + local]``); return the chunk's boxes."""
    import zarr

    local = np.asarray(zarr.open_array(src, mode="r")[region])
    out = np.where(local > 0, lut[np.where(local > 0, local + offset, 0)], 0).astype(np.int32)
    zarr.open_array(dst, mode="r+")[region] = out
    return _block_boxes(out, [s.start for s in region])


def label_chunked(mask: Any, folder: str) -> tuple[str, dict[int, tuple[slice, ...]]]:
    """Face-connected components of a chunked mask, consistent across chunk borders.

    Each chunk is labelled on its own (``scipy.ndimage.label``) into a Zarr store with the
    mask's chunking (every task writes whole chunks of its own); the labels that touch across
    each chunk face are merged by a connected-components pass over the pair graph; a last pass
    writes the component ids and collects the bounding boxes. Memory: one chunk per task, and
    the driver holds only the pair graph.

    Parameters
    ----------
    mask : dask array of bool
        Foreground; its chunks set the Zarr chunks.
    folder : str
        Where the stores ``local.zarr`` and ``components.zarr`` are written.

    Returns
    -------
    (str, dict of int to tuple of slice)
        Path of the component-label store (int32) and each component's bounding box.

    Raises
    ------
    EmptySegmentationError
        If the mask is empty.
    """
    import dask
    import zarr
    from dask import delayed
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ndim = mask.ndim
    chunks = tuple(c[0] for c in mask.chunks)
    local_path, comp_path = f"{folder}/local.zarr", f"{folder}/components.zarr"
    for path in (local_path, comp_path):
        zarr.open_array(
            path, mode="w", shape=mask.shape, chunks=chunks, dtype="int32", fill_value=0
        )
    starts = [np.cumsum((0, *c)) for c in mask.chunks]
    grid = list(np.ndindex(*mask.numblocks))
    regions = {
        idx: tuple(slice(int(starts[a][i]), int(starts[a][i + 1])) for a, i in enumerate(idx))
        for idx in grid
    }
    blocks = mask.to_delayed()
    counts = dask.compute(
        *[delayed(_label_block)(blocks[idx], local_path, regions[idx]) for idx in grid]
    )
    offsets = dict(zip(grid, np.cumsum((0, *counts[:-1])).tolist(), strict=True))
    n_local = int(sum(counts))
    if n_local == 0:
        raise EmptySegmentationError("no voxel is above the threshold after the clean-up.")
    tasks = []
    for idx in grid:
        for axis in range(ndim):
            nxt = tuple(i + 1 if a == axis else i for a, i in enumerate(idx))
            if nxt[axis] < mask.numblocks[axis]:
                tasks.append(
                    delayed(_face_pairs)(
                        local_path, axis, regions[idx], (offsets[idx], offsets[nxt])
                    )
                )
    pairs = [p for p in dask.compute(*tasks) if p.size]
    edges = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(edges), dtype=np.int8), (edges[:, 0] - 1, edges[:, 1] - 1)),
        shape=(n_local, n_local),
    )
    _, comp = connected_components(graph, directed=False)
    lut = np.zeros(n_local + 1, dtype=np.int32)
    lut[1:] = comp + 1
    lut_d = delayed(lut)
    rows = dask.compute(
        *[
            delayed(_relabel_block)(local_path, comp_path, regions[idx], lut_d, offsets[idx])
            for idx in grid
        ]
    )
    rows = [r for r in rows if r.size]
    return comp_path, _merge_boxes(np.concatenate(rows), ndim)


def _block_boxes(block: np.ndarray, origin: Sequence[int]) -> np.ndarray:
    """Per block: rows (label, start_0, stop_0, ...) of the labels it holds, global indices."""
    from scipy import ndimage as ndi

    ndim = block.ndim
    ids = np.unique(block)
    ids = ids[ids > 0]
    rows = np.zeros((ids.size, 1 + 2 * ndim), dtype=np.int64)
    if ids.size:
        compact = np.searchsorted(ids, block) + 1
        compact[block == 0] = 0
        for i, sl in enumerate(ndi.find_objects(compact)):
            rows[i, 0] = ids[i]
            for a, s in enumerate(sl):
                rows[i, 1 + 2 * a] = s.start + origin[a]
                rows[i, 2 + 2 * a] = s.stop + origin[a]
    return rows


def _merge_boxes(allrows: np.ndarray, ndim: int) -> dict[int, tuple[slice, ...]]:
    """Union of per-chunk boxes (rows: label, start_0, stop_0, ...) per label, in label order."""
    boxes: dict[int, list[list[int]]] = {}
    for row in allrows:
        k = int(row[0])
        lohi = [[int(row[1 + 2 * a]), int(row[2 + 2 * a])] for a in range(ndim)]
        if k in boxes:
            for a in range(ndim):
                boxes[k][a][0] = min(boxes[k][a][0], lohi[a][0])
                boxes[k][a][1] = max(boxes[k][a][1], lohi[a][1])
        else:
            boxes[k] = lohi
    return {k: tuple(slice(lo, hi) for lo, hi in boxes[k]) for k in sorted(boxes)}
