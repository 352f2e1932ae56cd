"""The streamed ``tomo pipeline`` (``--memory-limit``): volumes through disk, profiles out of core.

:func:`stream_volumes` runs :func:`cathodescope.tomo.stream_energies` with its stores in the run
folder; :func:`profile_out_of_core` hands the stored elemental volumes to the out-of-core
depth-profile engine (:func:`cathodescope.scale.analyze_scene_large`) under the same memory
limit, so that no step of the streamed pipeline holds a whole volume in memory. Its tables are
those of :func:`cathodescope.profile.analyze_scene` on the same volumes.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Literal, cast

_TABLES = ("particles", "profiles", "ratios", "metrics", "reliable_windows")


def stream_volumes(
    run: Any, scans: Sequence[Any], memory_limit: Any, fmt: str, **options: Any
) -> Any:
    """The streaming chain with its stores in the run folder; plan recorded, stores listed."""
    from cathodescope.tomo import stream_energies

    # "none" reaches stream_energies, which refuses it with the valid choices
    volume_format = cast(Literal["zarr", "h5"], fmt)
    result = stream_energies(
        scans, run.path, memory_limit=memory_limit, volume_format=volume_format, **options
    )
    run.results["stream"] = result.parameters["stream"]
    for store in sorted(run.path.iterdir()):
        if store.suffix in (".zarr", ".h5") and not store.name.startswith("."):
            run.file(store.name)  # recorded as outputs
    return result


def profile_out_of_core(
    run: Any,
    result: Any,
    memory_limit: Any,
    profile_opts: Mapping[str, Any],
    *,
    progress: bool = False,
) -> Any:
    """Depth profiles of the stored elemental volumes by the out-of-core engine; tables written.

    The channels are read from their stores in the run folder (``result.channels[el].attrs
    ["store"]``) chunk by chunk and per-particle crop; the engine's resume cache lives in a
    hidden folder of the run folder and is removed at the end. Per-particle figures and radial
    line scans need the label volume in memory and are not drawn (the manifest says so).

    Returns
    -------
    LargeSceneAnalysis
    """
    from cathodescope.profile import sample_summary
    from cathodescope.scale import analyze_scene_large

    files = {el: str(run.path / vol.attrs["store"]) for el, vol in result.channels.items()}
    cache = run.path / ".profile_cache"
    try:
        analysis = analyze_scene_large(
            files,
            spacing=result.spacing,
            memory_limit=memory_limit,
            cache_dir=cache,
            progress=progress,
            **profile_opts,
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    for name in _TABLES:
        run.write_table(name, getattr(analysis, name))
    # sample_summary reads the tables and the profile parameters (ci_level) of a DepthProfiles
    depth = SimpleNamespace(
        profiles=analysis.profiles,
        ratios=analysis.ratios,
        metrics=analysis.metrics,
        parameters=analysis.parameters["profile"],
    )
    run.write_table("sample_ratios", sample_summary(depth, table="ratios"))
    run.write_table("sample_metrics", sample_summary(depth, table="metrics"))
    run.results.update(
        n_particles=int(analysis.n_particles),
        threshold_used=float(analysis.threshold),
        spacing_um=list(analysis.spacing),
        profile_engine="out_of_core",
        profile_figures="not drawn out of core (they need the label volume in memory)",
    )
    run.parameters.setdefault("analysis", analysis.parameters)
    run.timings.update({f"profile_{k}": v for k, v in analysis.parameters["timings_s"].items()})
    return analysis
