"""Backtests: the live agent loop on a simulated clock, paper exchange and in-memory ports."""
