"""The fault campaign of ``tests/e2e/test_fault_campaign.py``: plan, rig, referee, report.

``plan`` draws the steps from a seed, ``actions`` performs each kind of step, ``runner``
holds the rig (service subprocess, fakes, database proxy) and judges the invariants after
every step (``invariants``, ``monitor``), ``report`` prints the summary.
"""
