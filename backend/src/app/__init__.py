"""trading-agent: an LLM trading agent for AsterDEX perpetual futures."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trading-agent")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
