"""Report: one self-contained HTML page from a run folder.

* `inputs` — reading the run folder (seed reports, held-out predictions, verdict, corpus);
* `figures` — the matplotlib figures, rendered to embedded PNGs;
* `page` — the HTML sections and `write_report`.
"""

from vmafkit.report.page import render_report, write_report

__all__ = ["render_report", "write_report"]
