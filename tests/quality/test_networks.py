"""Tests of the sorting networks (tsnegrid.quality.networks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsnegrid.quality import networks


@pytest.mark.parametrize("size", networks.SIZES)
def test_the_networks_sort_every_input(size: int) -> None:
    # The 0-1 principle: a comparator network that sorts every sequence of 0s and 1s sorts all.
    bits = (np.arange(2**size)[:, None] >> np.arange(size)) & 1
    for i, j in networks.sorting_network(size):
        lo, hi = np.minimum(bits[:, i], bits[:, j]), np.maximum(bits[:, i], bits[:, j])
        bits[:, i], bits[:, j] = lo, hi
    assert (np.diff(bits, axis=1) >= 0).all()


def test_the_kernels_are_the_generated_source() -> None:
    text = Path(networks.__file__).read_text()
    assert text.split(networks.MARKER)[1].lstrip("\n") == networks.network_source()


@pytest.mark.parametrize("size", networks.SIZES)
def test_each_kernel_sorts_any_count_in_place_and_nothing_else(size: int) -> None:
    kernel = getattr(networks, f"sort{size}")
    rng = np.random.default_rng(size)
    for m in range(size + 1):
        buf = rng.integers(0, 5, size=size + 6).astype(np.float64)  # ties included
        before = buf.copy()
        kernel(buf, 3, m)
        np.testing.assert_array_equal(buf[3 : 3 + m], np.sort(before[3 : 3 + m]))
        np.testing.assert_array_equal(buf[:3], before[:3])
        np.testing.assert_array_equal(buf[3 + m :], before[3 + m :])
