"""Multi-step runs that write one run folder each: wiring only, every step lives in its package.

Modules (one per job; import them explicitly, nothing is imported here):

- :mod:`cathodescope.workflows.profile` -- ``cathodescope profile``: read one file per channel,
  segment, depth profiles, tables, figures and manifest.
- :mod:`cathodescope.workflows.profile_large` -- ``cathodescope profile --memory-limit ...``:
  the out-of-core depth profiles on a dask cluster (:mod:`cathodescope.scale`).
- :mod:`cathodescope.workflows.tomo` -- ``cathodescope tomo reconstruct`` (one projection file
  to a chunked volume) and ``cathodescope tomo pipeline`` (TOML config: projections at several
  energies -> elemental volumes -> depth profiles).
- :mod:`cathodescope.workflows.demo` -- ``cathodescope demo`` (phantom scene -> profiles
  compared with the truth) and ``cathodescope demo --from-projections`` (simulated TXM scans
  through the whole tomography chain).
- :mod:`cathodescope.workflows.xrd` -- ``cathodescope xrd peaks|lattice|series``.
- :mod:`cathodescope.workflows.thermal` -- ``cathodescope thermal``: gas release on heating.
- :mod:`cathodescope.workflows.xas`, :mod:`~cathodescope.workflows.xas_lcf`,
  :mod:`~cathodescope.workflows.xas_selfabs` -- ``cathodescope xas normalize|calibrate|merge|map``,
  ``xas lcf`` and ``xas selfabs``.
- :mod:`cathodescope.workflows.xas_layer` -- ``cathodescope xas layer``: surface layer from
  probes of different depth.
- :mod:`cathodescope.workflows.spm` -- ``cathodescope spm info|level|dart|particles|soc-series``.
- :mod:`cathodescope.workflows.xrf` -- ``cathodescope xrf ratio|overlay|profile|coreshell|
  particles|phantom``.
- :mod:`cathodescope.workflows.diffusion` -- ``cathodescope diffusion simulate|fit|demo``:
  interdiffusion during sintering, forward and inverse.
- :mod:`cathodescope.workflows.echem` -- ``cathodescope echem summary|dqdv|gitt|ici``.
- :mod:`cathodescope.workflows.report` -- ``cathodescope report``: the HTML sample report of
  run folders, and ``report --compare``.

This layer sits above :mod:`cathodescope.report` and below :mod:`cathodescope.cli`.
"""
