"""The report: figures, the zoomable map, pages, JSON, and the one writer.

``figures``/``encode``/``tiles`` draw and encode (in the pipeline's figures stage);
``context`` turns a run into the values the templates read; ``pages`` fills the templates;
``files`` makes every file as bytes; ``writer`` swaps the report folder in whole.
"""

from tsnegrid.report.context import report_context
from tsnegrid.report.writer import check_output, write_docs

__all__ = ["check_output", "report_context", "write_docs"]
