"""The evidence report in a real browser: headless Chromium lays it out and the charts draw.

Chromium is Debian's `chromium` package. The session fixture uses /usr/bin/chromium,
installs it with apt-get where it is missing and the tests run as root, and skips
(saying why) only when no Chromium can be had.
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

from keyplane.cli import main
from tests.audit.test_report import EXAMPLE_KEYS, cli_inputs

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
        main(["report", *cli_inputs(), "--out", str(out)])
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
        (env, env, True) for env in ("dev", "prod", "staging")]
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
