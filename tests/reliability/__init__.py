"""The reliability probes of issue 11, kept as tests (``pytest -m reliability``).

Each probe runs in a child interpreter (``python -m reliability.<probe>``) with a deadline
of its own, so that a hang inside a shielded scope fails the test instead of blocking the
run, and so that fd limits, forks and SIGKILL stay out of the pytest process. Every host
process a child starts carries ``AIOHCS_PROBE_TAG=<tag>`` in its environment (hcsim's
guest processes inherit the host environment), which lets the parent find the ones that
outlive their child.
"""
