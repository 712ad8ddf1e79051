"""Fakes of the outside world (exchange, LLM provider, clock) that speak the real protocols."""
