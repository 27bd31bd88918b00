"""`keyplane report`: the evidence report, built from the inventory and the other commands' files.

`build_report` reads the inputs (check JSON, post-apply JSON, drill evidence, waivers)
and folds them per environment and key; `render` turns the result into one
self-contained HTML page or Markdown, `render_pages` into linked HTML pages (the estate
overview first, then the environments worst first, each page under a size bound).
Nothing here calls a cloud or imports a cloud SDK or CDK library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyplane.audit.report.data import ReportData, ReportOptions, build_report

if TYPE_CHECKING:
    from keyplane.audit.report.html import HtmlPage

__all__ = ["ReportData", "ReportOptions", "build_report", "render", "render_pages"]


def render(data: ReportData, fmt: str) -> str:
    """The report as `html` or `markdown`."""
    if fmt == "markdown":
        from keyplane.audit.report.markdown import render_markdown

        return render_markdown(data)
    from keyplane.audit.report.html import render_html

    return render_html(data)


def render_pages(data: ReportData, *, first_name: str, page_size: int) -> list[HtmlPage]:
    """The report as linked HTML pages, the first named `first_name`, at most `page_size`
    environments and MAX_PAGE_BYTES each (html.render_pages); `page_size` 0: one page."""
    from keyplane.audit.report.html import MAX_PAGE_BYTES
    from keyplane.audit.report.html import render_pages as pages

    return pages(data, first_name=first_name, page_size=page_size,
                 max_bytes=MAX_PAGE_BYTES if page_size > 0 else None)
