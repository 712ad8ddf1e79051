"""Technical indicators (TA-Lib) and the per-asset feature objects built from them. Pure."""
