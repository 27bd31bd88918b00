"""Run the rules of each resource's tier pack, isolated, and decide the gate."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from keyplane.errors import Problem
from keyplane.findings import cloud_of_type
from keyplane.model.tiers import TIERS, Tier
from keyplane.policy.errors import RULE_ERRORED
from keyplane.policy.index import Index, inherit_context
from keyplane.policy.model import Action, Finding, Resource, Severity, Status, Verdict, today
from keyplane.policy.packs import PACKS
from keyplane.policy.registry import ANY_TYPE, Rule, RuleContext, discover

# For these tiers an UNKNOWN on a guardrail fails the gate (fail closed).
FAIL_CLOSED_TIERS = frozenset({Tier.CA, Tier.PRODUCTION})
# A key without a (valid) tier is judged by the full rule set of this tier: the missing
# tag is one finding (inventory_tier_context_present), and waiving it never hides the
# rotation, deletion-window or key-policy failures of a key nobody classified. Production,
# not ca: ca demands a CloudHSM key store, which says nothing about an unclassified key.
UNTAGGED_TIER = Tier.PRODUCTION
KEY_TYPES = frozenset({"aws_kms_key", "aws_kms_external_key", "aws_kms_replica_key",
                       "aws_kms_replica_external_key", "google_kms_crypto_key"})


@dataclass
class Report:
    """The findings of one run, the rules that ran, and what was read."""

    findings: list[Finding]
    rules: dict[str, Rule]
    files: list[str]
    resources: int
    fail_level: Severity
    warnings: list[Problem] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether the gate fails (exit 1)."""
        return any(f.gate for f in self.findings)

    def counts(self) -> dict[str, int]:
        """How many findings per status."""
        out: dict[str, int] = defaultdict(int)
        for f in self.findings:
            out[f.status.value] += 1
        return {s.value: out.get(s.value, 0) for s in Status}

    def gating(self) -> list[Finding]:
        """The findings that fail the gate."""
        return [f for f in self.findings if f.gate]


def gate_fails(finding: Finding, rule: Rule | None, fail_level: Severity) -> bool:
    """Whether `finding` fails the gate: the one place the gate is decided.

    Any ERROR; a FAIL at or above `fail_level`; an UNKNOWN at or above it on a guardrail
    (an unknown rule counts as one) of a tier that fails closed. Never a waived finding.
    """
    if finding.waived_by is not None:
        return False
    status = finding.status
    if status is Status.ERROR:
        return True
    if finding.severity.rank < fail_level.rank:
        return False
    if status is Status.FAIL:
        return True
    return (status is Status.UNKNOWN and finding.tier in FAIL_CLOSED_TIERS
            and (rule is None or rule.guardrail))


def _covered(rules: Mapping[str, Rule]) -> frozenset[str]:
    return frozenset(t for r in rules.values() for t in r.resource_types if t != ANY_TYPE)


def run(resources: Iterable[Resource], *, rules: Mapping[str, Rule] | None = None,
        packs: Mapping[Tier, Mapping[str, Severity]] | None = None,
        on: dt.date | None = None, fail_level: Severity = Severity.HIGH,
        only: Iterable[str] | None = None) -> list[Finding]:
    """Every finding of every applicable rule on every resource; a raising rule is ERROR."""
    rules = dict(rules if rules is not None else discover())
    if only is not None:
        keep = set(only)
        rules = {k: v for k, v in rules.items() if k in keep}
    packs = packs if packs is not None else PACKS
    index = Index(resources)
    inherit_context(index)
    by_type: dict[str, list[Rule]] = defaultdict(list)
    any_type: list[Rule] = []
    for r in rules.values():
        if ANY_TYPE in r.resource_types:
            any_type.append(r)
        for t in r.resource_types - {ANY_TYPE}:
            by_type[t].append(r)
    covered = _covered(discover())
    day = on or today()
    contexts = {t: RuleContext(policy=TIERS[t], tier=t, index=index, today=day,
                               covered_types=covered) for t in Tier}
    no_tier = RuleContext(policy=None, tier=None, index=index, today=day, covered_types=covered)
    # Per tier and type, the rules to run with their severity: computed once, not per resource.
    plan: dict[Tier | None, dict[str, list[tuple[Rule, Severity]]]] = {}
    assumed_plan: dict[str, list[tuple[Rule, Severity]]] = {}  # untagged keys

    def rules_for(tier: Tier | None, rtype: str, assumed: bool = False
                  ) -> list[tuple[Rule, Severity]]:
        by_tier = assumed_plan if assumed else plan.setdefault(tier, {})
        found = by_tier.get(rtype)
        if found is None:
            found = []
            pack = packs.get(tier) if tier is not None else None
            for rule in (*by_type.get(rtype, ()), *any_type):
                if pack is not None and rule.rule_id in pack:
                    severity = pack[rule.rule_id]
                elif pack is not None and not assumed:
                    continue  # not in this tier's pack
                elif rule.needs_tier:
                    continue  # reported once by the tier-context rule instead
                else:
                    severity = rule.severity
                found.append((rule, severity))
            by_tier[rtype] = found
        return found

    findings: list[Finding] = []
    for res in index.resources:
        tier = res.context.tier
        assumed = tier is None and res.type in KEY_TYPES
        if assumed:
            tier = UNTAGGED_TIER
        ctx = contexts[tier] if tier is not None else no_tier
        deleting = res.action is Action.DELETE
        cloud = cloud_of_type(res.type)
        env = res.context.env
        for rule, severity in rules_for(tier, res.type, assumed):
            if res.input_kind not in rule.inputs:
                continue
            if deleting and not rule.include_deleted:
                continue  # a resource being deleted has no configuration left to check
            try:
                verdict = rule.func(res, ctx)
            except Exception as exc:  # isolation: a broken rule fails the gate, never passes
                verdict = Verdict(Status.ERROR, f"rule errored ({RULE_ERRORED}): "
                                                f"{type(exc).__name__}: {exc}")
            if verdict is None:
                continue
            reason = verdict.reason
            if assumed and rule.needs_tier:
                reason = f"{reason} (no keyplane tier: judged as {UNTAGGED_TIER.value})"
            finding = Finding(
                rule_id=rule.rule_id, status=verdict.status, severity=severity,
                resource=res.address, reason=reason, control=rule.control, cloud=cloud,
                environment=env, tier=tier, address=res.address, resource_type=res.type,
                attribute=verdict.attribute, construct_path=res.construct_path,
                source=res.source, area=rule.area)
            finding.gate = gate_fails(finding, rule, fail_level)  # its producer sets it, once
            findings.append(finding)
    return findings


def regate(findings: Iterable[Finding], rules: Mapping[str, Rule],
           fail_level: Severity) -> list[Finding]:
    """Recompute each finding's gate flag (after waivers were applied)."""
    return [replace(f, gate=gate_fails(f, rules.get(f.rule_id), fail_level)) for f in findings]
