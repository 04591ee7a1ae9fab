"""Triton kernels (forward.py, backward.py, shared pieces in common.py) and their host-side launchers."""
