"""The estate overview: which controls are met across every environment, and which are worst.

At a few hundred environments nobody reads the report from the top: the overview says
what is broken where before any environment's detail. It is folded from the verdicts
`build_report` made per key and control (the marks the environment sections show), and
from the severities the findings and drill records carry; it reads no input of its own.

Counting: each key counts once per control (protection, access, audit, backup, rotation),
as met, not met, unknown or n/a. `unknown` is a column of its own and never added to
`met`: a control nobody could judge is not a control that holds.

Worst first, everywhere: a tier x control row with a key not met comes before one with
only unknowns, which comes before one that is met; among equals the more sensitive tier
comes first (one ca key not met outweighs any number of ephemeral ones), then the larger
count. Environments are ranked by their open critical, then high failures, then the
controls not met on their most sensitive tier downwards, then their unknowns likewise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from keyplane.audit.report.controls import Mark
from keyplane.audit.report.data import EnvView, ReportData, _latest_runs
from keyplane.findings import Control, Severity, Status
from keyplane.model.tiers import Tier

# Most sensitive first: the order rows, ranks and tie-breaks use.
TIERS_BY_RANK: tuple[Tier, ...] = tuple(sorted(Tier, key=lambda t: -t.rank))
CONTROLS: tuple[Control, ...] = tuple(Control)
WORST_SHOWN = 10  # environments in the overview's short list
_UNJUDGED = ("PASSED", "SKIPPED")  # drill outcomes that are no failure (SKIPPED is unknown)


@dataclass(frozen=True)
class ControlTally:
    """One cell of the tier x control matrix, estate-wide: how many keys of `tier` have
    `control` met, not met, unknown or n/a, and in which environments it is not met."""

    tier: Tier
    control: Control
    met: int
    not_met: int
    unknown: int
    not_applicable: int
    not_met_in: tuple[str, ...]  # environments, worst first
    unknown_in: tuple[str, ...]

    @property
    def keys(self) -> int:
        """Every key of the tier (each has one verdict on the control)."""
        return self.met + self.not_met + self.unknown + self.not_applicable

    @property
    def mark(self) -> Mark:
        """The worst verdict any key has: not met, else unknown, else met, else n/a."""
        if self.not_met:
            return Mark.NOT_MET
        if self.unknown:
            return Mark.UNKNOWN
        return Mark.MET if self.met else Mark.NOT_APPLICABLE


@dataclass(frozen=True)
class EnvStanding:
    """How one environment stands, for ranking it against the others."""

    name: str
    kind: str
    keys: int
    critical: int  # open failures at this severity: post-apply, gate, newest drill runs
    high: int
    met: int  # key controls, each key counted once per control
    not_met: int
    unknown: int
    not_applicable: int
    not_met_by_tier: Mapping[Tier, int] = field(default_factory=dict)
    unknown_by_tier: Mapping[Tier, int] = field(default_factory=dict)

    @property
    def worst_tier(self) -> Tier | None:
        """The most sensitive tier with a control not met (else one with a control unknown)."""
        for counts in (self.not_met_by_tier, self.unknown_by_tier):
            tier = next((t for t in TIERS_BY_RANK if counts.get(t)), None)
            if tier is not None:
                return tier
        return None

    @property
    def mark(self) -> Mark:
        """Not met when any control is not met or an open critical/high failure stands,
        unknown when any control is unknown, met when every applicable control is met."""
        if self.not_met or self.critical or self.high:
            return Mark.NOT_MET
        if self.unknown:
            return Mark.UNKNOWN
        return Mark.MET if self.met else Mark.NOT_APPLICABLE

    def rank_key(self) -> tuple[int | str, ...]:
        """Sorts worst first: critical, high, not met by tier (ca first), unknown by tier, name."""
        return (-self.critical, -self.high,
                *(-self.not_met_by_tier.get(t, 0) for t in TIERS_BY_RANK),
                *(-self.unknown_by_tier.get(t, 0) for t in TIERS_BY_RANK), self.name)


@dataclass(frozen=True)
class EstateOverview:
    """The tier x control matrix and the environments, both worst first."""

    tallies: tuple[ControlTally, ...]
    standings: tuple[EnvStanding, ...]  # every environment of the report

    @property
    def order(self) -> tuple[str, ...]:
        """Every environment's name, worst first: the order the report shows them in."""
        return tuple(s.name for s in self.standings)

    def worst(self, limit: int = WORST_SHOWN) -> list[EnvStanding]:
        """The worst environments that have anything not met, unknown or failing."""
        return [s for s in self.standings if s.mark in (Mark.NOT_MET, Mark.UNKNOWN)][:limit]

    def standing(self, name: str) -> EnvStanding:
        """The standing of environment `name` (KeyError when the report has none)."""
        for s in self.standings:
            if s.name == name:
                return s
        raise KeyError(name)


def open_failures(view: EnvView) -> Counter[Severity]:
    """The environment's open failures by severity: post-apply findings nobody acknowledged,
    gate results nobody waived, and drills of the newest run per target that did not pass.

    A drill record counts by the severity it carries (from the tier packs); a record
    written before records carried one counts in the controls, not here.
    """
    out: Counter[Severity] = Counter()
    for f in view.findings:
        if f.is_open:
            out[f.severity] += 1
    for f in view.check_findings:
        if f.status is Status.FAIL and f.is_open:
            out[f.severity] += 1
    for d in _latest_runs(view.drills):
        if d.outcome not in _UNJUDGED and d.severity in {s.value for s in Severity}:
            out[Severity(d.severity)] += 1
    return out


def _standing(view: EnvView) -> EnvStanding:
    marks: Counter[Mark] = Counter()
    not_met: Counter[Tier] = Counter()
    unknown: Counter[Tier] = Counter()
    for k in view.keys:
        for r in k.controls.values():
            marks[r.mark] += 1
            if r.mark is Mark.NOT_MET:
                not_met[k.key.tier] += 1
            elif r.mark is Mark.UNKNOWN:
                unknown[k.key.tier] += 1
    sev = open_failures(view)
    return EnvStanding(
        name=view.name, kind=view.env.kind.value, keys=len(view.keys),
        critical=sev[Severity.CRITICAL], high=sev[Severity.HIGH], met=marks[Mark.MET],
        not_met=marks[Mark.NOT_MET], unknown=marks[Mark.UNKNOWN],
        not_applicable=marks[Mark.NOT_APPLICABLE], not_met_by_tier=dict(not_met),
        unknown_by_tier=dict(unknown))


def _tally_key(t: ControlTally) -> tuple[int, ...]:
    standing = {Mark.NOT_MET: 0, Mark.UNKNOWN: 1, Mark.MET: 2, Mark.NOT_APPLICABLE: 3}[t.mark]
    count = t.not_met if t.mark is Mark.NOT_MET else t.unknown
    return (standing, -t.tier.rank, -count, CONTROLS.index(t.control))


def estate_overview(data: ReportData) -> EstateOverview:
    """Fold the report's per-key verdicts into the estate's matrix and ranking."""
    standings = sorted((_standing(v) for v in data.environments), key=EnvStanding.rank_key)
    rank = {s.name: i for i, s in enumerate(standings)}
    cells: dict[tuple[Tier, Control], Counter[Mark]] = {}
    where: dict[tuple[Tier, Control, Mark], set[str]] = {}
    for v in data.environments:
        for k in v.keys:
            for c in CONTROLS:
                mark = k.controls[c].mark
                cells.setdefault((k.key.tier, c), Counter())[mark] += 1
                where.setdefault((k.key.tier, c, mark), set()).add(v.name)
    tallies = []
    for (tier, control), n in cells.items():
        tallies.append(ControlTally(
            tier=tier, control=control, met=n[Mark.MET], not_met=n[Mark.NOT_MET],
            unknown=n[Mark.UNKNOWN], not_applicable=n[Mark.NOT_APPLICABLE],
            not_met_in=tuple(sorted(where.get((tier, control, Mark.NOT_MET), ()),
                                    key=rank.__getitem__)),
            unknown_in=tuple(sorted(where.get((tier, control, Mark.UNKNOWN), ()),
                                    key=rank.__getitem__))))
    return EstateOverview(tallies=tuple(sorted(tallies, key=_tally_key)),
                          standings=tuple(standings))


def worst_first(data: ReportData, overview: EstateOverview | None = None) -> list[EnvView]:
    """The report's environments in the overview's order (worst first)."""
    order = (overview or estate_overview(data)).order
    by_name = {v.name: v for v in data.environments}
    return [by_name[n] for n in order]


def paginate(sizes: Sequence[int], *, page_size: int, budget: Sequence[int] | None
             ) -> list[range]:
    """Split items of `sizes` (bytes, in order) into consecutive pages.

    A page holds at most `page_size` items (0: no limit) and, when `budget` is given, at
    most `budget[p]` bytes on page p (the last budget repeats), so every page stays under
    the bound; an item larger than a whole budget gets a page of its own. Every item lands
    on exactly one page, in order.
    """
    pages: list[range] = []
    start = 0
    while start < len(sizes):
        limit = None if budget is None else budget[min(len(pages), len(budget) - 1)]
        end, used = start, 0
        while end < len(sizes) and (page_size <= 0 or end - start < page_size):
            if limit is not None and end > start and used + sizes[end] > limit:
                break
            used += sizes[end]
            end += 1
        pages.append(range(start, end))
        start = end
    return pages
