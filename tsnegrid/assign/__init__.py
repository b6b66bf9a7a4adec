"""Stage 3, the assignment: the grid, and every image to its own cell at minimal total cost.

``assign_to_grid`` solves it exactly (``solver/``: our certified solver; scipy and lapjv as
peers); ``grid`` places the nodes.
"""

from tsnegrid.assign.assignment import assign_to_grid
from tsnegrid.assign.grid import grid_nodes, near_square_grid

__all__ = ["assign_to_grid", "grid_nodes", "near_square_grid"]
