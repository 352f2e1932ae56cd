"""Compute device of the out-of-core engine: the shared rule of :mod:`cathodescope.common.device`."""

from cathodescope.common.device import gpu_available, resolve_device

__all__ = ["gpu_available", "resolve_device"]
