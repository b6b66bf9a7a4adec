"""Our exact assignment solver for points onto a regular lattice (see :mod:`.multilevel`).

One idea per module: :mod:`.pyramid` (max-pyramid branch and bound over the lattice),
:mod:`.coarse` (coarse-to-fine potentials), :mod:`.graph` (the candidate graph),
:mod:`.flood` (candidate nodes by a best-first flood), :mod:`.eps_auction` (scaled auction on
the potentials), :mod:`.implicit_auction` (the same on all M nodes, for clusters),
:mod:`.auction` (row reduction), :mod:`.sparse_lap` (shortest augmenting paths with a dummy
hub), :mod:`.reverse_lap` (the same, searched from the free columns), :mod:`.problem` (the
state they share), :mod:`.certify` (the full-problem dual check) and :mod:`.multilevel` (the
driver).
"""

from __future__ import annotations

from tsnegrid.assign.solver.multilevel import Solution, solve_lattice

__all__ = ["Solution", "solve_lattice"]
