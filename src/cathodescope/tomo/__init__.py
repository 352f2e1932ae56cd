"""TXM tomography: raw projections -> aligned elemental volumes.

Pre-processing (flat/dark normalization, zingers, -log, rings), per-angle registration between
energies, rotation centre, jitter correction, reconstruction (our batched numba FBP/SIRT, astra
as reference) slab by slab into chunked stores, 3D registration, K-edge differences and
xraydb-based decomposition into element densities (:func:`process_energies` chains them;
:func:`stream_energies` streams the same chain through disk under a memory limit), and a
forward simulator with ground truth. ``device="cuda"`` (``--device cuda``) runs FBP and gridrec
on a GPU with CuPy (array-module code that the tests run with numpy against the CPU path). The
config-driven run folders (``cathodescope tomo``) are in :mod:`cathodescope.workflows.tomo`.

Spacing is ``(z, y, x)`` in um: ``z`` the detector row pitch, ``y == x`` the column pitch.
"""

from cathodescope.tomo._align import (
    CentreResult,
    ProjectionRegistration,
    VolumeRegistration,
    correct_jitter,
    correct_magnification,
    find_rotation_centre,
    register_projections,
    register_volumes,
    shift_projections,
)
from cathodescope.tomo._astra import astra_reconstruct_slice
from cathodescope.tomo._device import check_device
from cathodescope.tomo._elements import (
    Decomposition,
    EdgePair,
    attenuation_matrix,
    decompose,
    edge_difference,
    edge_energy_pairs,
    edge_pair,
)
from cathodescope.tomo._energies import ElementalVolumes, process_energies
from cathodescope.tomo._gridrec import gridrec
from cathodescope.tomo._preprocess import (
    minus_log,
    normalize,
    preprocess,
    remove_zingers,
    suppress_rings,
)
from cathodescope.tomo._recon import (
    angular_sampling_problems,
    angular_weights,
    backproject,
    check_centre,
    fbp,
    filter_sinogram,
    forward_project,
    sirt,
)
from cathodescope.tomo._simulate import (
    SimulationTruth,
    composition_to_densities,
    demo_particle_densities,
    simulate_projections,
    true_depth_ratios,
)
from cathodescope.tomo._stack import reconstruct, reconstruct_batch, volume_spacing
from cathodescope.tomo._store import open_volume, slice_statistics, write_volume
from cathodescope.tomo._stream import reopen_volumes, stream_energies
from cathodescope.tomo._stream_plan import StreamPlan, parse_memory_limit, plan_stream

__all__ = [
    "CentreResult",
    "Decomposition",
    "EdgePair",
    "ElementalVolumes",
    "ProjectionRegistration",
    "SimulationTruth",
    "StreamPlan",
    "VolumeRegistration",
    "angular_sampling_problems",
    "angular_weights",
    "astra_reconstruct_slice",
    "attenuation_matrix",
    "backproject",
    "check_centre",
    "check_device",
    "composition_to_densities",
    "correct_jitter",
    "correct_magnification",
    "decompose",
    "demo_particle_densities",
    "edge_difference",
    "edge_energy_pairs",
    "edge_pair",
    "fbp",
    "filter_sinogram",
    "find_rotation_centre",
    "forward_project",
    "gridrec",
    "minus_log",
    "normalize",
    "open_volume",
    "parse_memory_limit",
    "plan_stream",
    "preprocess",
    "process_energies",
    "reconstruct",
    "reconstruct_batch",
    "register_projections",
    "register_volumes",
    "remove_zingers",
    "reopen_volumes",
    "shift_projections",
    "simulate_projections",
    "sirt",
    "slice_statistics",
    "stream_energies",
    "suppress_rings",
    "true_depth_ratios",
    "volume_spacing",
    "write_volume",
]
