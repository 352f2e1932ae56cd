"""Compute device of the reconstructors: ``"cpu"`` (numpy, numba) or ``"cuda"`` (CuPy).

The same rule as :func:`cathodescope.scale.resolve_device` (which tomo, a sibling package of
scale, may not import): a device that cannot be honoured is an error, never a silent fallback.
"""

from __future__ import annotations

from typing import Any, Literal

from cathodescope._validation import check_choice
from cathodescope.errors import DeviceUnavailableError, ParameterError

Device = Literal["cpu", "cuda"]
DEVICES = ("cpu", "cuda")


def array_module(device: str = "cpu") -> Any:
    """``numpy`` for ``"cpu"``, ``cupy`` for ``"cuda"`` once a GPU is known to be visible.

    Raises
    ------
    ParameterError
        For another device name.
    DeviceUnavailableError
        For ``"cuda"`` when CuPy is not installed or no GPU is visible.
    """
    check_choice(device, DEVICES, "device")
    if device == "cpu":
        import numpy

        return numpy
    try:
        import cupy
    except ImportError as exc:
        raise DeviceUnavailableError(
            "--device cuda needs CuPy: pip install 'cathodescope[gpu]' on a machine with an "
            "NVIDIA GPU, or use --device cpu."
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own types
        raise DeviceUnavailableError(
            f"--device cuda: no usable GPU ({exc}); use --device cpu."
        ) from exc
    if count < 1:
        raise DeviceUnavailableError("--device cuda: no GPU is visible; use --device cpu.")
    return cupy


def check_device(device: str = "cpu", algorithm: str = "fbp") -> Any:
    """The array module that reconstructs with ``algorithm`` on ``device``, or an error.

    ``"cpu"`` gives ``numpy`` (the numba and astra reconstructors); ``"cuda"`` gives ``cupy``
    for FBP and gridrec (:mod:`cathodescope.tomo._xp_recon`) once a GPU is known to be visible.
    Called before any work, so that a device that cannot be honoured stops a run at once.

    Parameters
    ----------
    device : {"cpu", "cuda"}
        Compute device (``--device``).
    algorithm : str
        Reconstructor (``--algorithm``).

    Returns
    -------
    module
        ``numpy`` or ``cupy``.

    Raises
    ------
    ParameterError
        For an unknown device, or ``"cuda"`` with an algorithm other than fbp or gridrec.
    DeviceUnavailableError
        For ``"cuda"`` without CuPy or a visible GPU.

    Examples
    --------
    >>> check_device("cpu", "sirt").__name__
    'numpy'
    """
    check_choice(device, DEVICES, "device")
    if device != "cpu" and algorithm not in ("fbp", "gridrec"):
        raise ParameterError(
            f"--device {device} runs fbp and gridrec; algorithm {algorithm!r} runs on the CPU "
            "(use --device cpu, or --algorithm gridrec / fbp)."
        )
    return array_module(device)
