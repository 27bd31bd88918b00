"""`keyplane report`: the evidence report, built from the inventory and the other commands' files.

`build_report` reads the inputs (check JSON, post-apply JSON, drill evidence, waivers)
and folds them per environment and key; `render` turns the result into one
self-contained HTML page or Markdown. Nothing here calls a cloud or imports a cloud
SDK or CDK library.
"""

from __future__ import annotations

from keyplane.audit.report.data import ReportData, ReportOptions, build_report

__all__ = ["ReportData", "ReportOptions", "build_report", "render"]


def render(data: ReportData, fmt: str) -> str:
    """The report as `html` or `markdown`."""
    if fmt == "markdown":
        from keyplane.audit.report.markdown import render_markdown

        return render_markdown(data)
    from keyplane.audit.report.html import render_html

    return render_html(data)
