"""Compute device: ``"cpu"`` (numpy) or ``"cuda"`` (CuPy), never a silent fallback.

One rule for every package that can run on a GPU (scale's depth profiles, tomo's
reconstructors): a device that cannot be honoured is an error that says what to do.
"""

from __future__ import annotations

from typing import Any, Literal

from cathodescope._validation import check_choice
from cathodescope.errors import DeviceUnavailableError

Device = Literal["cpu", "cuda"]
DEVICES = ("cpu", "cuda")


def resolve_device(device: str = "cpu") -> Any:
    """The array module for ``device``: ``numpy`` for ``"cpu"``, ``cupy`` for ``"cuda"``.

    Parameters
    ----------
    device : {"cpu", "cuda"}
        Compute device (``--device``).

    Returns
    -------
    module
        ``numpy`` or ``cupy``.

    Raises
    ------
    ParameterError
        For another device name.
    DeviceUnavailableError
        For ``"cuda"`` when CuPy is not installed or no GPU is visible.

    Examples
    --------
    >>> resolve_device("cpu").__name__
    'numpy'
    """
    check_choice(device, DEVICES, "device")
    if device == "cpu":
        import numpy

        return numpy
    try:
        import cupy
    except ImportError as exc:
        raise DeviceUnavailableError(
            "--device cuda needs CuPy: pip install 'cathodescope[gpu]' (cupy, cucim) on a "
            "machine with an NVIDIA GPU, or use --device cpu."
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


def gpu_available() -> bool:
    """Whether ``resolve_device("cuda")`` would succeed.

    Returns
    -------
    bool
        True when CuPy is installed and a GPU is visible.

    Examples
    --------
    >>> isinstance(gpu_available(), bool)
    True
    """
    try:
        resolve_device("cuda")
    except DeviceUnavailableError:
        return False
    return True
