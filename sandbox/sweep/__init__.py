"""Sweeps: a base scenario, parameter sets (a grid or an explicit list), mechanisms and seeds.

``spec`` reads and expands a sweep file; ``warm`` keeps a worker's chain and deployed market
between runs; ``executors`` runs the distinct runs (a local process pool, or Ray actors) and
yields each as it finishes; ``store`` streams them to an in-progress folder, resumes an
interrupted sweep and publishes the final folder atomically; ``run_sweep`` ties them together.
The final folder is read back by ``sandbox.results.Results.load``.
"""

from .spec import ParameterSet, Row, RunSpec, SweepSpec, load_sweep, parse_sweep

__all__ = ["ParameterSet", "Row", "RunSpec", "SweepSpec", "load_sweep", "parse_sweep"]
