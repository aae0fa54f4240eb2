"""liqcascade: venue-exact margin math, liquidation maps and a cascade engine for crypto perps."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liqcascade")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]
