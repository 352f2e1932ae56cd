"""Compute device of the reconstructors: ``"cpu"`` (numpy, numba) or ``"cuda"`` (CuPy).

The rule of :mod:`cathodescope.common.device` (shared with scale): a device that cannot be
honoured is an error, never a silent fallback.
"""

from __future__ import annotations

from typing import Any

from cathodescope._validation import check_choice
from cathodescope.common.device import DEVICES, Device, resolve_device
from cathodescope.errors import ParameterError

__all__ = ["DEVICES", "Device", "check_device"]


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
    return resolve_device(device)
