"""The evidence report in a real browser: headless Chromium lays it out and the charts draw.

Chromium is Debian's `chromium` package. The session fixture uses /usr/bin/chromium,
installs it with apt-get where it is missing and the tests run as root, and skips
(saying why) only when no Chromium can be had.

The layout tests load a test-only harness page (written to a temporary directory) that
holds the report, byte for byte and script-free, in one iframe per viewport width, and
measures each laid-out frame from outside; the result is written into the harness's DOM
and read back with --dump-dom.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from keyplane.audit.evidence import DrillResult
from keyplane.audit.report.charts import rto_svg, timeline_svg
from keyplane.audit.report.style import CSS
from keyplane.cli import main
from tests.audit.test_report import AS_OF, EXAMPLE_KEYS, cli_inputs, estate

INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 120
WIDTH = 1480

# Measures the laid-out page and writes the result into the DOM for --dump-dom to print.
PROBE = """<script>(function () {
  function box(e) { var r = e.getBoundingClientRect(); return [r.width, r.height]; }
  var out = {};
  out.viewport = window.innerWidth;
  out.scrollWidth = document.documentElement.scrollWidth;
  out.h2 = Array.from(document.querySelectorAll('section.env > h2')).map(function (h) {
    return [h.parentElement.dataset.env, h.firstChild.textContent, box(h)[1] > 0]; });
  out.rows = Array.from(document.querySelectorAll('table.inventory tr.key')).map(function (tr) {
    return [tr.closest('section').dataset.env, tr.dataset.key, box(tr)[1] > 0]; });
  out.cells = Array.from(document.querySelectorAll('td.cell .mark')).filter(function (m) {
    var b = box(m); return b[0] > 0 && b[1] > 0; }).length;
  out.waivers = Array.from(document.querySelectorAll('table.all tr[data-waiver]')).map(
    function (tr) { return [tr.dataset.waiver, tr.dataset.status, box(tr)[1] > 0]; });
  out.tables = Array.from(document.querySelectorAll('table.inventory')).map(function (t) {
    return t.scrollWidth <= t.parentElement.clientWidth + 1; });
  out.svgs = Array.from(document.querySelectorAll('svg.chart')).map(function (s) {
    var marks = Array.from(s.querySelectorAll('rect, circle, path')).filter(function (e) {
      return e.querySelector('title') !== null; });
    return {id: s.id, box: box(s), marks: marks.length,
            drawn: marks.filter(function (e) { var b = box(e); return b[0] > 0 && b[1] > 0; })
              .length}; });
  var pre = document.createElement('pre');
  pre.id = 'kp-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def _apt(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env,
                          timeout=INSTALL_TIMEOUT, check=False)


def _find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium, installed through apt-get when missing (as root)."""
    found = _find_chromium()
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and "
                    "apt-get): run `apt-get install -y --no-install-recommends chromium`")
    try:
        policy = subprocess.run(["apt-cache", "policy", "chromium"], capture_output=True,
                                text=True, timeout=60, check=False).stdout
        if "Candidate:" not in policy or "Candidate: (none)" in policy:
            update = _apt(["update"])  # the package lists are missing or stale
            if update.returncode != 0:
                pytest.skip(f"chromium cannot be installed: apt-get update failed: "
                            f"{update.stderr.strip()[-300:]}")
        install = _apt(["install", "-y", "--no-install-recommends", "chromium"])
    except subprocess.TimeoutExpired:
        pytest.skip(f"chromium cannot be installed: apt-get took longer than "
                    f"{INSTALL_TIMEOUT} s")
    found = _find_chromium()
    if install.returncode != 0 or not found:
        pytest.skip(f"chromium cannot be installed: apt-get install chromium failed: "
                    f"{install.stderr.strip()[-300:]}")
    return found


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
           f"--window-size={WIDTH},1200", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    try:
        main(["report", *cli_inputs(), "--output", str(out)])
    except SystemExit as exc:
        assert not exc.code
    return out


def test_the_page_lays_out_with_every_environment_key_and_waiver(
        chromium: str, page: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    # The page forbids scripts (CSP); the probe copy drops that meta to measure the layout.
    probed = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(probed.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _browser(chromium, tmp_path / "profile", "--dump-dom", probe_page.as_uri())
    m = re.search(r'<pre id="kp-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"chromium printed no probe result (exit {proc.returncode}): {proc.stderr[-500:]}"
    got = json.loads(html.unescape(m.group(1)))

    assert [(env, title, shown) for env, title, shown in got["h2"]] == [
        (env, env, True) for env in ("prod", "staging", "dev")]  # worst first
    rows = {(env, key) for env, key, shown in got["rows"] if shown}
    assert rows == {(env, k) for env, keys in EXAMPLE_KEYS.items() for k in keys}
    assert got["cells"] >= 4 * 16  # every matrix cell shows its mark
    assert sorted((w, s) for w, s, shown in got["waivers"] if shown) == [
        ("aws_cloudwatch_log_group_retention:aws_cloudwatch_log_group.aws_audit_log-group_*",
         "expired"),
        ("aws_kms_key_policy_no_wildcard_actions:aws_kms_key.aws_keys_code-signing_g4_*",
         "active"),
        ("gcp_kms_protection_level:google_kms_crypto_key.gcp_key-legacy-*", "active")]
    # dense but readable: nothing wider than the window, the matrix fits its column
    assert got["scrollWidth"] <= got["viewport"]
    assert got["tables"] == [True, True, True]
    charts = {c["id"]: c for c in got["svgs"]}
    assert set(charts) == {"timeline-dev", "timeline-prod", "timeline-staging", "rto-prod",
                           "rto-staging"}
    for chart in charts.values():
        width, height = chart["box"]
        assert width > 600 and height > 60, chart
        assert chart["marks"] > 0 and chart["drawn"] == chart["marks"], chart


def _png_pixels(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixels) of an 8-bit, non-interlaced RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = ctype = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (2, 6)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * ch
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b = prev[i]
            c = prev[i - ch] if i >= ch else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) \
                    & 255
        out += line
        prev = line
    return width, height, ch, bytes(out)


def test_a_screenshot_of_the_real_page_is_not_blank(chromium: str, page: Path,
                                                    tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    proc = _browser(chromium, tmp_path / "profile", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}"
    width, height, ch, px = _png_pixels(shot.read_bytes())
    assert (width, height) == (WIDTH, 1200)
    colours = {px[i:i + 3] for i in range(0, len(px), ch * 7)}
    assert len(colours) > 50  # text, tables and badges, not an empty page
    # the dark header band is drawn, and the met / not met badges carry their colours
    assert px[10 * width * ch:10 * width * ch + 3] == bytes((0x0d, 0x1b, 0x2a))
    assert any(abs(c[0] - 0xda) < 4 and abs(c[1] - 0xfb) < 4 and abs(c[2] - 0xe1) < 4
               for c in colours)  # met badge background
    assert any(abs(c[0] - 0xff) < 4 and abs(c[1] - 0xeb) < 4 and abs(c[2] - 0xe9) < 4
               for c in colours)  # not met badge background


# ---- layout at a desktop and a phone width ---------------------------------------------------

VIEWPORTS = (1400, 390)
FRAME_HEIGHT = 900

# Runs in the harness page when a frame has loaded. For every element with text (outside
# SVG): its content must fit its box (scrollWidth <= clientWidth). The only boxes allowed
# to be narrower than their content are the report's deliberate scrollers (`.scroll`,
# overflow-x auto); what is inside them is checked like everything else. For every SVG
# <text>: its bounding box lies inside the viewBox and crosses no other text. Closed
# <details> are opened first, so the evidence tables are measured too.
LAYOUT_PROBE = r"""
function kpMeasure(frame) {
  var doc = frame.contentDocument, win = frame.contentWindow;
  Array.prototype.forEach.call(doc.querySelectorAll('details'), function (d) { d.open = true; });
  var out = {width: Number(frame.dataset.width), viewport: doc.documentElement.clientWidth,
             pageWidth: doc.documentElement.scrollWidth, checked: 0, overflow: [],
             scrolling: [], svgTexts: 0, outside: [], overlaps: [],
             scripts: doc.querySelectorAll('script').length};
  function name(el) {
    var cls = (el.getAttribute('class') || '').trim();
    return el.tagName.toLowerCase() + (cls ? '.' + cls.split(/\s+/).join('.') : ''); }
  Array.prototype.forEach.call(doc.body.querySelectorAll('*'), function (el) {
    if (el.closest('svg') || !el.textContent.trim() || el.getClientRects().length === 0) return;
    out.checked += 1;
    var wide = el.scrollWidth > el.clientWidth + 1;
    if (el.classList.contains('scroll') && win.getComputedStyle(el).overflowX === 'auto') {
      if (wide) out.scrolling.push(name(el.firstElementChild));
      return;
    }
    if (wide) out.overflow.push([name(el), el.scrollWidth, el.clientWidth,
                                 el.textContent.trim().slice(0, 100)]);
  });
  Array.prototype.forEach.call(doc.querySelectorAll('svg'), function (svg) {
    var vb = svg.viewBox.baseVal;
    var texts = Array.prototype.slice.call(svg.querySelectorAll('text'));
    var boxes = texts.map(function (t) { return t.getBBox(); });
    out.svgTexts += texts.length;
    boxes.forEach(function (b, i) {
      if (b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 ||
          b.y + b.height > vb.y + vb.height + 0.5) {
        out.outside.push([svg.id, texts[i].textContent,
                          [b.x, b.y, b.width, b.height].map(Math.round), vb.width]);
      }
      for (var j = i + 1; j < boxes.length; j++) {
        var c = boxes[j];
        var w = Math.min(b.x + b.width, c.x + c.width) - Math.max(b.x, c.x);
        var h = Math.min(b.y + b.height, c.y + c.height) - Math.max(b.y, c.y);
        if (w > 0.5 && h > 0.5) {
          out.overlaps.push([svg.id, texts[i].textContent, texts[j].textContent]);
        }
      }
    });
  });
  var pre = document.createElement('pre');
  pre.className = 'kp-layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}
"""


def _harness(document: str, widths: tuple[int, ...] = VIEWPORTS) -> str:
    """A page holding `document` unchanged in one iframe per width (srcdoc: same origin)."""
    frames = "".join(
        f'<iframe data-width="{w}" width="{w}" height="{FRAME_HEIGHT}" '
        f'onload="kpMeasure(this)" srcdoc="{html.escape(document, quote=True)}"></iframe>'
        for w in widths)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><script>{LAYOUT_PROBE}</script>'
            f"</head><body>{frames}</body></html>")


def _layout(chromium: str, tmp_path: Path, document: str,
            widths: tuple[int, ...] = VIEWPORTS) -> dict[int, dict]:
    """What the probe measured, per viewport width."""
    page = tmp_path / "harness.html"
    page.write_text(_harness(document, widths), encoding="utf-8")
    proc = _browser(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    got = {}
    for m in re.findall(r'<pre class="kp-layout">(.*?)</pre>', proc.stdout, re.S):
        result = json.loads(html.unescape(m))
        got[result["width"]] = result
    assert sorted(got) == sorted(widths), \
        f"chromium printed no layout for every width (exit {proc.returncode}): " \
        f"{proc.stderr[-500:]}"
    return got


def test_no_text_overflows_its_box_at_desktop_and_phone_widths(
        chromium: str, page: Path, tmp_path: Path) -> None:
    report = page.read_text(encoding="utf-8")
    got = _layout(chromium, tmp_path, report)
    for width, layout in got.items():
        assert (layout["viewport"], layout["pageWidth"]) == (width, width), layout
        assert layout["scripts"] == 0  # the report is measured as written: no script in it
        assert layout["checked"] > 1000  # every table row and cell, the evidence included
        assert layout["overflow"] == [], (width, layout["overflow"])
        assert layout["svgTexts"] > 100
        assert layout["outside"] == [], (width, layout["outside"])
        assert layout["overlaps"] == [], (width, layout["overlaps"])
    # On the desktop everything fits; on a phone the wide tables and the charts scroll
    # inside their own boxes, and nothing else does.
    assert got[1400]["scrolling"] == []
    assert set(got[390]["scrolling"]) == {
        "table.overview", "table.inventory", "table.evidence", "table.rotation",
        "svg.chart.timeline", "table.findings", "table.access", "table.unknowns",
        "table.check", "svg.chart.rto", "table.drills", "table.waivers",
        "table.waivers.all", "table.inputs"}


def test_chart_labels_stay_inside_and_apart_with_the_longest_names(
        chromium: str, tmp_path: Path) -> None:
    # Key names may be 63 characters long; drill targets add a Region or a generation.
    staging = next(e for e in estate() if e.name == "staging")
    keys = [k.model_copy(update={"name": f"{k.name}-".ljust(63, "x")}) for k in staging.keys]
    drills = [DrillResult(run_id="r1", environment="staging", kind=kind, key=f"{k.name}@us-west-2",
                          generation=12, tier=k.tier.value, started_at="2026-11-20T01:00:00Z",
                          ended_at="2026-11-20T05:00:00Z", outcome=outcome, reason="-",
                          identity="ci", rto_seconds=rto, deadline_seconds=600)
              for k, kind, outcome, rto in zip(keys, ("replica", "sign-canary", "escrow", "backup"),
                                               ("INTEGRITY_ALARM", "PASSED", "TIMED_OUT", "SKIPPED"),
                                               (14400, 30, None, 500), strict=True)]
    charts = (timeline_svg(keys, AS_OF, chart_id="timeline-long")
              + rto_svg(drills, chart_id="rto-long"))
    document = f"<!DOCTYPE html><html><head><style>{CSS}</style></head><body>{charts}</body></html>"
    layout = _layout(chromium, tmp_path, document, (1400,))[1400]
    assert layout["svgTexts"] > 30
    assert layout["outside"] == []
    assert layout["overlaps"] == []
