"""TXM tomography: raw projections -> aligned elemental volumes -> depth profiles.

Pre-processing (flat/dark normalization, zingers, -log, rings), per-angle registration between
energies, rotation centre, jitter correction, reconstruction (our batched numba FBP/SIRT, astra
as reference), 3D registration, K-edge differences and xraydb-based decomposition into element
densities, a forward simulator, and the config-driven pipeline behind ``cathodescope tomo``.
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
from cathodescope.tomo._elements import (
    Decomposition,
    EdgePair,
    attenuation_matrix,
    decompose,
    edge_difference,
    edge_energy_pairs,
    edge_pair,
)
from cathodescope.tomo._gridrec import gridrec
from cathodescope.tomo._pipeline import (
    ElementalVolumes,
    demo_particle_densities,
    load_config,
    process_energies,
    run_demo_from_projections,
    run_pipeline,
    true_depth_ratios,
)
from cathodescope.tomo._preprocess import (
    minus_log,
    normalize,
    preprocess,
    remove_zingers,
    suppress_rings,
)
from cathodescope.tomo._recon import (
    angular_weights,
    astra_reconstruct_slice,
    backproject,
    check_centre,
    fbp,
    filter_sinogram,
    forward_project,
    reconstruct,
    sirt,
)
from cathodescope.tomo._simulate import (
    SimulationTruth,
    composition_to_densities,
    simulate_projections,
)
from cathodescope.tomo._store import open_volume

__all__ = [
    "CentreResult",
    "Decomposition",
    "EdgePair",
    "ElementalVolumes",
    "ProjectionRegistration",
    "SimulationTruth",
    "VolumeRegistration",
    "angular_weights",
    "astra_reconstruct_slice",
    "attenuation_matrix",
    "backproject",
    "check_centre",
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
    "load_config",
    "minus_log",
    "normalize",
    "open_volume",
    "preprocess",
    "process_energies",
    "reconstruct",
    "register_projections",
    "register_volumes",
    "remove_zingers",
    "run_demo_from_projections",
    "run_pipeline",
    "shift_projections",
    "simulate_projections",
    "sirt",
    "suppress_rings",
    "true_depth_ratios",
]
