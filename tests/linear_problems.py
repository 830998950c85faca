"""Shared by the tests of the fold-batched linear solvers: a problem shaped like CNN activations, and the working
memory a call allocates (numpy and scikit-learn allocate through tracemalloc)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np


def skewed_problem(rows: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Units of very different means and spreads (as CNN activations are), the label carried by a few of them;
    float32 features, labels 1 and 0 split at the median."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, width)) * rng.uniform(0.1, 5, width) + rng.normal(scale=3, size=width)
    signal = features[:, :3] @ np.array([1.0, -0.5, 0.25]) + rng.normal(scale=2, size=rows)
    return features.astype(np.float32), (signal > np.median(signal)).astype(np.int64)


def peak_allocation(call: Callable[[], object]) -> int:
    """Bytes allocated at the peak of `call`, on top of what already existed."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
