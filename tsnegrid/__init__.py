"""tsnegrid: lay image collections out on a grid by similarity, and publish the run as a report."""

from __future__ import annotations

__version__ = "0.1.0"
