"""Stage 4, the quality: DPQ, neighbourhood preservation, displacement, class coherence, the
random and sorted baselines, and the quality figures.

``assess_quality`` scores the run's layout beside the baselines. To add a measure: compute it in
:func:`~tsnegrid.quality.metrics.evaluate_layout`, add its field to
:class:`~tsnegrid.results.LayoutQuality`, write it in ``quality_to_json`` and show it in
``templates/quality.md.j2``.
"""

from tsnegrid.quality.assess import assess_quality, quality_json
from tsnegrid.quality.metrics import evaluate_layout

__all__ = ["assess_quality", "evaluate_layout", "quality_json"]
