"""What happens to a layout after the assignment: polishing it for distance preservation."""

from tsnegrid.layout.polish import PolishedLayout, polish_layout

__all__ = ["PolishedLayout", "polish_layout"]
