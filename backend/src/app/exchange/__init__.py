"""The exchange: domain values and ports, and the AsterDEX adapter under ``http/``."""
