import numpy as np
import pytest

from tsnegrid.assign.grid import axis_coords, cell_width, grid_nodes, near_square_grid, node_rc


def test_node_index_and_position_follow_the_notebook_meshgrid():
    nodes = grid_nodes(3, 4)
    assert nodes.shape == (12, 2)
    r, c = 2, 1
    assert nodes[r * 4 + c] == pytest.approx([c / 3, r / 2])
    assert nodes.min() == 0.0
    assert nodes.max() == 1.0


def test_single_row_or_column_sits_at_zero():
    assert np.array_equal(grid_nodes(1, 3)[:, 1], np.zeros(3))
    assert np.array_equal(grid_nodes(3, 1)[:, 0], np.zeros(3))
    assert np.array_equal(grid_nodes(1, 1), [[0.0, 0.0]])


def test_axis_coords_rejects_empty_axis():
    with pytest.raises(ValueError, match="at least one node"):
        axis_coords(0)


def test_node_rc_inverts_the_index():
    rows, cols = node_rc(np.array([0, 5, 11]), 4)
    assert rows.tolist() == [0, 1, 2]
    assert cols.tolist() == [0, 1, 3]


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, (1, 1)),
        (2, (1, 2)),
        (4, (2, 2)),
        (5, (2, 3)),
        (2500, (50, 50)),
        (1797, (42, 43)),
        (70000, (265, 265)),
    ],
)
def test_near_square_grid_fits_with_fewest_cells(n, expected):
    rows, cols = near_square_grid(n)
    assert (rows, cols) == expected
    assert rows * cols >= n
    assert (rows - 1) * cols < n


def test_cell_width_is_the_node_spacing():
    assert cell_width(50, 50) == pytest.approx(1 / 49)
    assert cell_width(1, 1) == 1.0
