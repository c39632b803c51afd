"""The desktop app (the only package importing PySide6 and pyqtgraph).

Before torch is imported: OpenMP threads that finish a parallel region sleep instead of spinning. By default
they busy-wait for the next region, and on a machine with few cores that takes the CPU from the GUI thread
(stalls) and from the worker's own next op (measured on 2 shared cores: a 512-token append 1,070 ms spinning,
57 ms passive). Set OMP_WAIT_POLICY yourself to override.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
