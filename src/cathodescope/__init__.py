"""cathodescope: quantitative analysis of cathode-particle characterization data.

Subpackages are imported on demand (``import cathodescope.profile``); importing the top-level
package does no work and pulls in no heavy library.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cathodescope")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
