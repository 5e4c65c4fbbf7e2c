"""modelphase: production telemetry to validated, versioned, monitored models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("modelphase")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
