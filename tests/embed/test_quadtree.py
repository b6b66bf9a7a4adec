"""The quadtree of our t-SNE engine and the Barnes-Hut forces it gives, against the exact
n x n computation."""

import numpy as np
import pytest

from tsnegrid.embed import bhtsne, quadtree
from tsnegrid.runtime.workers import worker_pool


def exact_forces(y):
    """Repulsion ``sum_j q_ij^2 (y_i - y_j)`` and ``sum_j q_ij`` by the n x n matrix."""
    d = y[:, None, :] - y[None, :, :]
    q = 1.0 / (1.0 + (d**2).sum(-1))
    np.fill_diagonal(q, 0.0)
    return ((q**2)[:, :, None] * d).sum(1), q.sum(1)


def forces(y, theta, ptr=None, cols=None, vals=None):
    n = len(y)
    if ptr is None:
        ptr, cols, vals = np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0)
    attract, repel, sum_q = np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(n)
    tree = quadtree.build_tree(y)
    groups = quadtree.groups_of(tree, quadtree.GROUP_SIZE)
    bhtsne._attraction(y, ptr, cols, vals, 0, n, attract)
    quadtree.repulsion(y, tree, groups, theta, repel, sum_q)
    return attract, repel, sum_q


def points_of(kind):
    """700 points: spread, in tight clusters, half of them repeated, on a line, one alone, or
    all at one place."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=(700, 2)) * 30
    if kind == "clusters":
        y = rng.normal(size=(700, 2)) * 1e-3 + rng.integers(0, 4, size=(700, 1)) * 50.0
    elif kind == "duplicates":
        y[350:] = y[:350]
        y[10:40] = y[5]
    elif kind == "line":
        y[:, 1] = 3.0
    elif kind == "one":
        y = y[:1]
    elif kind == "same":
        y[:] = y[3]
    return y


@pytest.mark.parametrize("kind", ["gaussian", "clusters", "duplicates", "line"])
def test_quadtree_partitions_the_points_into_nested_cells(kind):
    y = points_of(kind)
    order, start, end, com, width, child, nchild, n_nodes = quadtree.build_tree(y)
    assert sorted(order) == list(range(len(y)))
    assert (start[0], end[0]) == (0, len(y))
    lo = y.min(axis=0)
    for v in range(n_nodes):
        members = y[order[start[v] : end[v]]]
        np.testing.assert_allclose(com[v], members.mean(axis=0), atol=1e-9 * max(1, width[0]))
        if nchild[v] == 0:  # a leaf is one point or points at one place
            assert end[v] - start[v] == 1 or np.ptp(members, axis=0).max() <= width[0] * 2**-20
            continue
        assert nchild[v] >= 2  # chains of single children are collapsed
        kids = range(child[v], child[v] + nchild[v])
        assert [start[c] for c in kids] == [start[v], *[end[c] for c in kids][:-1]]
        assert end[child[v] + nchild[v] - 1] == end[v]
        for c in kids:  # each child lies in one cell of its size on the root's lattice
            assert width[c] < width[v]
            cells = np.floor((y[order[start[c] : end[c]]] - lo) / width[c] * (1 - 1e-12))
            assert len(np.unique(cells, axis=0)) == 1
    groups = quadtree.groups_of(quadtree.build_tree(y), 16)
    covered = np.concatenate([order[start[g] : end[g]] for g in groups])
    assert sorted(covered) == list(range(len(y)))


def reference_tree(y):
    """The tree by splitting each node's points level by level, breadth first (the direct
    construction, O(n x depth)), from the same Morton codes."""
    bits = quadtree._BITS
    lo = y.min(axis=0)
    side = max(np.ptp(y[:, 0]), np.ptp(y[:, 1]))
    side = (side if side > 0 else 1.0) * (1.0 + 1e-9)
    q = np.minimum(((y - lo) * ((1 << bits) / side)).astype(np.int64), (1 << bits) - 1)
    codes = [sum(((int(qx) >> b & 1) << (2 * b + 1)) | ((int(qy) >> b & 1) << (2 * b))
                 for b in range(bits)) for qx, qy in q]  # fmt: skip
    order = sorted(range(len(y)), key=lambda i: codes[i])
    sc = [codes[i] for i in order]
    nodes = [[0, len(y), 0, -1, 0]]  # start, end, level, first child, children
    head = 0
    while head < len(nodes):
        start, end, level = nodes[head][:3]
        if end - start >= 2:
            while level < bits and sc[start] >> 2 * (bits - 1 - level) == sc[end - 1] >> 2 * (
                bits - 1 - level
            ):
                level += 1
            nodes[head][2] = level
            if level < bits:
                shift = 2 * (bits - 1 - level)
                nodes[head][3] = len(nodes)
                a = start
                while a < end:
                    b = a + 1
                    while b < end and (sc[b] >> shift) & 3 == (sc[a] >> shift) & 3:
                        b += 1
                    nodes.append([a, b, level + 1, -1, 0])
                    nodes[head][4] += 1
                    a = b
        head += 1
    return np.array(order), np.array(nodes), side


@pytest.mark.parametrize("kind", ["gaussian", "clusters", "duplicates", "line", "one", "same"])
def test_quadtree_is_the_direct_level_by_level_split(kind):
    """build_tree gives the direct construction's nodes, levels and numbering."""
    y = points_of(kind)
    order, start, end, _, width, child, nchild, n_nodes = quadtree.build_tree(y)
    ref_order, ref, side = reference_tree(y)
    np.testing.assert_array_equal(order, ref_order)
    assert n_nodes == len(ref)
    np.testing.assert_array_equal(start, ref[:, 0])
    np.testing.assert_array_equal(end, ref[:, 1])
    np.testing.assert_array_equal(width, side / 2.0 ** ref[:, 2])
    np.testing.assert_array_equal(child, ref[:, 3])
    np.testing.assert_array_equal(nchild, ref[:, 4])


@pytest.mark.parametrize("kind", ["gaussian", "duplicates"])
def test_forces_are_exact_at_theta_zero_and_close_at_the_default(kind):
    rng = np.random.default_rng(2)
    y = rng.normal(size=(500, 2)) * 10
    if kind == "duplicates":
        y[250:] = y[:250]
    repel, sum_q = exact_forces(y)
    _, r0, s0 = forces(y, 0.0)
    np.testing.assert_allclose(r0, repel, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s0, sum_q, rtol=1e-9)
    _, r, s = forces(y, 0.5)
    z, z_exact = s.sum(), sum_q.sum()
    assert abs(z / z_exact - 1) < 1e-2
    assert np.linalg.norm(r / z - repel / z_exact) < 2e-2 * np.linalg.norm(repel / z_exact)


def test_interaction_lists_longer_than_the_scratch_are_summed_in_pieces():
    # At theta 0 no cell stands for its points: every group's list holds all 5,000 points,
    # more than two pieces of the list's scratch.
    assert 2 * quadtree._LIST_CAP < 5000
    y = np.random.default_rng(4).normal(size=(5000, 2)) * 10
    y[4000:] = y[:1000]  # and leaves of several points
    repel, sum_q = np.empty((5000, 2)), np.empty(5000)
    for lo in range(0, 5000, 500):  # the exact sums, 500 rows at a time
        d = y[lo : lo + 500, None, :] - y[None, :, :]
        q = 1.0 / (1.0 + (d**2).sum(-1))
        q[np.arange(len(q)), np.arange(lo, lo + len(q))] = 0.0
        repel[lo : lo + 500], sum_q[lo : lo + 500] = ((q**2)[:, :, None] * d).sum(1), q.sum(1)
    _, r0, s0 = forces(y, 0.0)
    np.testing.assert_allclose(r0, repel, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s0, sum_q, rtol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 5000])
def test_the_morton_codes_radix_sort_is_a_stable_sort(n):
    rng = np.random.default_rng(n)
    codes = rng.integers(0, 2**42, size=n).astype(np.uint64)
    codes[: n // 3] = codes[-1]  # ties keep the points' order
    codes[n // 3 : n // 2] &= np.uint64(0xFFF)  # small codes: the top passes have one digit
    order, sorted_codes = quadtree._radix_order(codes)
    np.testing.assert_array_equal(order, np.argsort(codes, kind="stable"))
    np.testing.assert_array_equal(sorted_codes, np.sort(codes))


def preorder(tree):
    """Each node's (first point, last point, side, centre, children) in depth-first order,
    children in their order: the tree whatever its numbering."""
    _, start, end, com, width, child, nchild, _ = tree
    out, stack = [], [0]
    while stack:
        v = stack.pop()
        out.append((start[v], end[v], width[v], com[v, 0], com[v, 1], nchild[v]))
        stack.extend(child[v] + c for c in range(nchild[v] - 1, -1, -1))
    return out


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["gaussian", "clusters", "duplicates", "line", "one", "same"])
def test_the_threads_build_the_same_tree(kind, threads, monkeypatch):
    """TreeBuilder gives build_tree's nodes, cells and centres (numbered otherwise), and with
    it the repulsion is the same to the bit; small seeds, so that the threads split many."""
    monkeypatch.setattr(quadtree, "SEED_MIN", 2)
    y = points_of(kind)
    serial = quadtree.build_tree(y)
    with worker_pool(threads) as pool:
        builder = quadtree.TreeBuilder(len(y), threads, pool)
        for _ in range(2):  # the builder's arrays are reused
            started = builder.start(y)
            assert started[4] + 2 * len(y) <= len(builder.gapped[0])  # the top's bound held
            tree = builder.finish(started)
            np.testing.assert_array_equal(tree[0], serial[0])
            assert tree[7] == serial[7]
            assert preorder(tree) == preorder(serial)
            for theta in (0.0, 0.5):
                forces_of = []
                for t in (serial, tree):
                    repel, sum_q = np.zeros((len(y), 2)), np.zeros(len(y))
                    groups = quadtree.groups_of(t, quadtree.GROUP_SIZE)
                    quadtree.repulsion(y, t, groups, theta, repel, sum_q)
                    forces_of.append((repel, sum_q))
                np.testing.assert_array_equal(forces_of[0][0], forces_of[1][0])
                np.testing.assert_array_equal(forces_of[0][1], forces_of[1][1])
            y = y[::-1].copy()  # another tree on the second build
            serial = quadtree.build_tree(y)
