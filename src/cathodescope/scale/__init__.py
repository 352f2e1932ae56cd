"""Beamline-scale depth profiles: out of core, on a dask cluster, on a GPU when one is there.

Channels are read lazily (Zarr, HDF5, TIFF stacks, .npy), thresholded from one histogram pass,
labelled chunk by chunk with labels that agree across chunk borders, split and profiled per
particle on crops read on demand by tasks on dask.distributed (a local cluster sized to the
cores and the memory limit, or a running scheduler), with a resumable per-particle cache. The
tables equal those of :func:`cathodescope.profile.analyze_scene` on volumes that fit in memory.
:func:`particle_statistics` is the GPU-capable part of the per-particle work (EDT, sub-voxel
depth, binning, per-bin moments), one code for NumPy and CuPy.
"""

from cathodescope.scale._device import gpu_available, resolve_device
from cathodescope.scale._lazy import open_lazy_channels, open_source
from cathodescope.scale._memory import MemoryPlan, format_bytes, parse_memory_limit, plan_memory
from cathodescope.scale._run import LargeSceneAnalysis, analyze_scene_large
from cathodescope.scale._xp import ParticleStatistics, particle_statistics

__all__ = [
    "LargeSceneAnalysis",
    "MemoryPlan",
    "ParticleStatistics",
    "analyze_scene_large",
    "format_bytes",
    "gpu_available",
    "open_lazy_channels",
    "open_source",
    "parse_memory_limit",
    "particle_statistics",
    "plan_memory",
    "resolve_device",
]
