"""The paged report in a real browser: the navigation, the overview's tables and a further
page lay out at desktop and phone widths without text leaving its box (see
test_report_browser.py for the harness and how Chromium is found)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyplane.cli import main
from tests.audit.test_report import cli_inputs
from tests.audit.test_report_browser import _layout, chromium  # noqa: F401 (the fixture)

# What may scroll sideways inside its own box on a phone: the wide tables and the charts.
SCROLLERS = {"table.overview", "table.inventory", "table.evidence", "table.rotation",
             "svg.chart.timeline", "table.findings", "table.access", "table.unknowns",
             "table.check", "svg.chart.rto", "table.drills", "table.waivers",
             "table.waivers.all", "table.inputs"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "report.html"
    try:
        main(["report", *cli_inputs(), "--output", str(out), "--page-size", "2"])
    except SystemExit as exc:
        assert not exc.code
    return out.parent


@pytest.mark.parametrize("name", ["report.html", "report-page-2.html"])
def test_pages_lay_out_at_desktop_and_phone_widths(chromium: str, site: Path,  # noqa: F811
                                                   tmp_path: Path, name: str) -> None:
    text = (site / name).read_text(encoding="utf-8")
    assert 'class="pages"' in text  # the navigation is on the page measured
    got = _layout(chromium, tmp_path, text)
    for width, layout in got.items():
        assert (layout["viewport"], layout["pageWidth"]) == (width, width), layout
        assert layout["scripts"] == 0
        assert layout["checked"] > 100
        assert layout["overflow"] == [], (width, layout["overflow"])
        assert layout["outside"] == [] and layout["overlaps"] == [], width
    assert got[1400]["scrolling"] == []
    assert set(got[390]["scrolling"]) <= SCROLLERS
