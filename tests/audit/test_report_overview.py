"""The report's estate overview: the tier x control counts and the worst environments, worst
first, folded from the same verdicts the environment sections show; unknown never counts as met."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from keyplane.audit.evidence import DrillResult, LocalEvidenceStore
from keyplane.audit.report import ReportOptions, build_report, render
from keyplane.audit.report.controls import Mark
from keyplane.audit.report.data import ReportData
from keyplane.audit.report.overview import estate_overview, paginate
from keyplane.findings import Cloud, Control, Finding, Severity, Status
from keyplane.model.tiers import Tier
from tests.audit.test_report import AS_OF, estate, full_options


@pytest.fixture(scope="module")
def report() -> ReportData:
    return build_report(estate(), full_options())


def marks_by_tier_and_control(data: ReportData) -> dict[tuple[Tier, Control], Counter[Mark]]:
    """The verdict of every key on every control, counted straight from the environments."""
    out: dict[tuple[Tier, Control], Counter[Mark]] = {}
    for v in data.environments:
        for k in v.keys:
            for c, r in k.controls.items():
                out.setdefault((k.key.tier, c), Counter())[r.mark] += 1
    return out


def test_the_counts_are_the_keys_verdicts_per_tier_and_control(report: ReportData) -> None:
    overview = estate_overview(report)
    expected = marks_by_tier_and_control(report)
    got = {(t.tier, t.control): Counter({Mark.MET: t.met, Mark.NOT_MET: t.not_met,
                                         Mark.UNKNOWN: t.unknown,
                                         Mark.NOT_APPLICABLE: t.not_applicable})
           for t in overview.tallies}
    assert {k: +v for k, v in got.items()} == expected
    # every key counts once per control: 2 ca, 6 production, 5 non-production, 3 ephemeral keys
    per_tier = Counter(k.key.tier for v in report.environments for k in v.keys)
    for t in overview.tallies:
        assert t.keys == per_tier[t.tier], (t.tier, t.control)
    # known verdicts of the fixtures: the prod trail's drift fails audit for both ca keys, and
    # mesh-mtls-issuer's access could not be read
    ca_audit = next(t for t in overview.tallies if (t.tier, t.control) == (Tier.CA, Control.AUDIT))
    assert (ca_audit.not_met, ca_audit.unknown, ca_audit.met, ca_audit.not_met_in) == \
        (2, 0, 0, ("prod",))
    prod_access = next(t for t in overview.tallies
                       if (t.tier, t.control) == (Tier.PRODUCTION, Control.ACCESS))
    assert (prod_access.not_met, prod_access.unknown, prod_access.met) == (2, 1, 3)


def test_a_not_met_control_on_a_ca_key_comes_first(report: ReportData) -> None:
    tallies = estate_overview(report).tallies
    first = tallies[0]
    assert (first.tier, first.control, first.mark) == (Tier.CA, Control.AUDIT, Mark.NOT_MET)
    # ... although production keys have more controls not met: the tier outranks the count
    assert max(t.not_met for t in tallies if t.tier is Tier.PRODUCTION) > first.not_met
    standing = [t.mark for t in tallies]
    assert standing == sorted(standing, key=[Mark.NOT_MET, Mark.UNKNOWN, Mark.MET,
                                             Mark.NOT_APPLICABLE].index)
    not_met = [t for t in tallies if t.mark is Mark.NOT_MET]
    assert [t.tier.rank for t in not_met] == sorted((t.tier.rank for t in not_met), reverse=True)
    # the HTML's table and the Markdown's list the rows in the same order
    page = render(report, "html")
    table = page.split('id="estate-controls"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-tier="([^"]+)" data-control="([^"]+)"', table) == \
        [(t.tier.value, t.control.value) for t in tallies]
    md = render(report, "markdown")
    assert "| ca | audit | \u2717 not met | 2 | 0 | 0 | 0 | 2 | prod |" in md
    assert md.index("| ca | audit |") < md.index("| production | audit |")


def test_unknown_is_never_counted_as_met(tmp_path: Path) -> None:
    # No evidence at all: every applicable control is unknown, and nothing is met anywhere.
    data = build_report(estate(), ReportOptions(as_of=AS_OF, evidence_dirs=[tmp_path]))
    overview = estate_overview(data)
    assert overview.tallies and all(t.met == 0 for t in overview.tallies)
    assert sum(t.unknown for t in overview.tallies) == sum(
        1 for v in data.environments for k in v.keys for r in k.controls.values()
        if r.mark is Mark.UNKNOWN) > 0
    assert all(s.met == 0 and s.mark is Mark.UNKNOWN for s in overview.standings)
    page = render(data, "html")
    table = page.split('id="estate-controls"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<td data-count="met">(.*?)</td>', table) == \
        ['<span class="count">0</span>'] * len(overview.tallies)
    assert "\u2713 met" not in table  # no row is shown met
    index = page.split('id="estate-index"', 1)[1].split("</table>", 1)[0]
    assert index.count('<td data-count="met"><span class="mark met">\u2713 met</span> 0</td>') == 3


def post_apply(tmp_path: Path, env: str, findings: list[Finding]) -> Path:
    """A post-apply report of `env` as `keyplane post-apply --format json` writes it."""
    from keyplane.postapply.report import Report
    from keyplane.postapply.report import render as render_report

    path = tmp_path / f"post-apply-{env}.json"
    report = Report(command="post-apply", environment=env,
                    started_at=dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC),
                    sections=["rotation", "drift", "access-review"], findings=findings)
    path.write_text(render_report(report, "json"), encoding="utf-8")
    return path


def failure(env: str, rule_id: str, severity: Severity, key: str | None, *,
            control: Control = Control.PROTECTION, acknowledged: bool = False) -> Finding:
    return Finding(rule_id=rule_id, status=Status.FAIL, severity=severity,
                   resource=f"arn:aws:kms:us-east-1:111122223333:key/{key or 'trail'}",
                   reason=f"{rule_id} failed", control=control, cloud=Cloud.AWS,
                   environment=env, key=key, area="drift",
                   acknowledged={"reason": "known", "owner": "oncall", "expires": "2027-01-01"}
                   if acknowledged else None)


def test_the_worst_environments_are_ranked_by_open_critical_then_high(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    # staging: two critical failures; dev: one critical, and one acknowledged (not open);
    # prod, which holds the ca keys: one high failure and one failed restore drill (critical
    # by the pack, carried on its record)
    files = [
        post_apply(tmp_path, "staging", [
            failure("staging", "drift.key_disabled", Severity.CRITICAL, "staging-code-signing"),
            failure("staging", "drift.key_policy", Severity.CRITICAL, "staging-escrow-wrap",
                    control=Control.ACCESS)]),
        post_apply(tmp_path, "dev", [
            failure("dev", "drift.key_disabled", Severity.CRITICAL, "ci-job-data"),
            failure("dev", "drift.key_state", Severity.CRITICAL, "webhook-hmac",
                    acknowledged=True)]),
        post_apply(tmp_path, "prod", [
            failure("prod", "rotation.disabled", Severity.HIGH, "release-artifacts",
                    control=Control.ROTATION)]),
    ]
    LocalEvidenceStore(evidence / "prod").put(DrillResult(
        run_id="r1", environment="prod", kind="cloudhsm", key="cluster", generation=None,
        tier="ca", started_at="2026-11-27T01:00:00Z", ended_at="2026-11-27T05:00:00Z",
        outcome="TIMED_OUT", reason="restore did not finish", identity="ci",
        rule_id="drill.cloudhsm", control="backup", cloud="aws", severity="critical"))
    data = build_report(estate(), ReportOptions(as_of=AS_OF, post_apply_files=files,
                                                evidence_dirs=[evidence]))
    overview = estate_overview(data)
    assert [(s.name, s.critical, s.high) for s in overview.standings] == [
        ("staging", 2, 0), ("prod", 1, 1), ("dev", 1, 0)]
    assert [s.name for s in overview.worst()] == ["staging", "prod", "dev"]
    assert overview.standing("prod").worst_tier is Tier.CA  # the failed CloudHSM restore
    page = render(data, "html")
    worst = page.split('id="estate-worst"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-env="([^"]+)"><td>(\d+)</td><td><a href="#env-\1">', worst) == [
        ("staging", "1"), ("prod", "2"), ("dev", "3")]
    # the sections follow the same order, after the overview
    sections = re.findall(r'<section class="env" id="env-([^"]+)"', page)
    assert sections == ["staging", "prod", "dev"]
    assert page.index('id="overview"') < page.index('<section class="env"')
    md = render(data, "markdown")
    assert re.findall(r"\n## (\w+) \(", md) == ["staging", "prod", "dev"]
    assert "| 1 | **staging** | non-production | 2 | 0 |" in md


def test_the_overview_counts_the_same_in_html_and_markdown(report: ReportData) -> None:
    overview = estate_overview(report)
    page = render(report, "html")
    table = page.split('id="estate-controls"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-tier="([^"]+)" data-control="([^"]+)" data-mark="([^"]+)">'
                      r'.*?data-count="not met"><span class="count[^"]*">(\d+)</span>.*?'
                      r'data-count="unknown"><span class="count[^"]*">(\d+)</span>.*?'
                      r'data-count="met"><span class="count[^"]*">(\d+)</span>', table)
    assert rows == [(t.tier.value, t.control.value, t.mark.value, str(t.not_met),
                     str(t.unknown), str(t.met)) for t in overview.tallies]
    md = render(report, "markdown")
    for t in overview.tallies:
        assert f"| {t.tier.value} | {t.control.value} | {t.mark.symbol} {t.mark.value} | " \
               f"{t.not_met} | {t.unknown} | {t.met} | {t.not_applicable} | {t.keys} |" in md


def test_every_item_lands_on_exactly_one_page_in_order() -> None:
    sizes = [5, 5, 5, 30, 5, 5, 5, 5]
    pages = paginate(sizes, page_size=3, budget=[12, 20])
    assert [list(r) for r in pages] == [[0, 1], [2], [3], [4, 5, 6], [7]]
    # without a byte budget only the count closes a page; page_size 0 puts all on one
    assert [list(r) for r in paginate(sizes, page_size=3, budget=None)] == [
        [0, 1, 2], [3, 4, 5], [6, 7]]
    assert [list(r) for r in paginate(sizes, page_size=0, budget=None)] == [list(range(8))]
    assert paginate([], page_size=3, budget=[10]) == []


def test_rendering_leaves_the_built_report_as_it_was(report: ReportData) -> None:
    # The overview only reads the built report: the environments keep the order they were
    # built in (other readers of ReportData rely on it), and two renderings are the same.
    assert [v.name for v in report.environments] == ["dev", "prod", "staging"]
    assert render(report, "html") == render(report, "html")
    assert [v.name for v in report.environments] == ["dev", "prod", "staging"]
