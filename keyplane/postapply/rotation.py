"""`keyplane rotation`: deployed rotation settings against the declaration and the tier.

Symmetric keys: automatic rotation on, its period as declared and within the
tier's maximum, the next rotation date not passed; on-demand rotations are
reported. Keys that cannot rotate in place (asymmetric, HMAC, imported, custom
key store): the current generation younger than the tier's maximum age, and
verify-only generations retired once their window has passed. Cloud KMS:
`rotation_period`, `next_rotation_time` and the primary version's age.
"""

from __future__ import annotations

import datetime as dt

from keyplane.model.tags import AWS_TAG_CREATED_ON
from keyplane.model.tiers import TIERS, RotationMode, Tier
from keyplane.postapply.collect import Facet, Observed
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.legacy import Finding, Severity, Unknown
from keyplane.postapply.match import Matched

NEEDS = {Facet.TAGS, Facet.ROTATION, Facet.ROTATIONS, Facet.GCP_VERSIONS}
SLACK = dt.timedelta(days=1)  # a rotation date a day late is the cloud's queue, not drift


def _sev(tier: Tier) -> Severity:
    return Severity.HIGH if tier in (Tier.CA, Tier.PRODUCTION) else Severity.MEDIUM


def _created(obs_tags: dict[str, str] | None, fallback: dt.datetime | None) -> dt.date | None:
    raw = (obs_tags or {}).get(AWS_TAG_CREATED_ON)
    if raw:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    return fallback.date() if fallback else None


def check(state: ExpectedState, observed: Observed, matched: Matched, *, now: dt.datetime
          ) -> tuple[list[Finding], list[Unknown]]:
    """Rotation findings, and what could not be judged."""
    findings: list[Finding] = []
    unknowns: list[Unknown] = []
    today = now.date()
    for exp, obs in matched.aws:
        key, pol = exp.key, TIERS[exp.key.tier]
        where = {"resource": obs.key.arn, "key": exp.id, "region": obs.key.region,
                 "address": exp.address, "construct_path": exp.construct_path}
        if obs.key.key_state == "PendingDeletion":
            continue  # drift reports it; a key on its way out has no rotation to judge
        if key.rotation_mode is RotationMode.AUTOMATIC:
            rot = obs.rotation
            if rot is None:
                if Facet.ROTATION.value not in obs.unknown:
                    findings.append(Finding(
                        check="rotation.not_supported", severity=_sev(key.tier), **where,
                        message="declared with automatic rotation but the deployed key cannot "
                                f"rotate ({obs.key.key_spec}, {obs.key.origin})"))
                continue
            if not rot.enabled:
                findings.append(Finding(
                    check="rotation.disabled", severity=_sev(key.tier), **where,
                    expected=f"every {exp.rotation_period_in_days} d", actual="disabled",
                    message=f"automatic rotation is off; declared every "
                            f"{exp.rotation_period_in_days} days"))
                continue
            if rot.period_in_days is None:
                unknowns.append(Unknown(resource=obs.key.arn, key=exp.id, region=obs.key.region,
                                        reason="rotation period not reported by the endpoint"))
            else:
                if rot.period_in_days > pol.max_rotation_period_in_days:
                    findings.append(Finding(
                        check="rotation.period_above_tier", severity=_sev(key.tier), **where,
                        expected=pol.max_rotation_period_in_days, actual=rot.period_in_days,
                        message=f"rotation period {rot.period_in_days} d is above the "
                                f"{key.tier.value} tier's maximum of "
                                f"{pol.max_rotation_period_in_days} d"))
                elif rot.period_in_days != exp.rotation_period_in_days:
                    findings.append(Finding(
                        check="rotation.period_differs", severity=Severity.MEDIUM, **where,
                        expected=exp.rotation_period_in_days, actual=rot.period_in_days,
                        message=f"rotation period is {rot.period_in_days} d, declared "
                                f"{exp.rotation_period_in_days} d"))
            if rot.next_rotation_date is not None and rot.next_rotation_date + SLACK < now:
                findings.append(Finding(
                    check="rotation.next_date_passed", severity=_sev(key.tier), **where,
                    actual=rot.next_rotation_date.date().isoformat(),
                    message=f"next rotation date {rot.next_rotation_date.date()} has passed "
                            "without a rotation"))
            on_demand = [r for r in obs.rotations or [] if r.rotation_type == "ON_DEMAND"]
            if on_demand:
                findings.append(Finding(
                    check="rotation.on_demand_used", severity=Severity.INFO, **where,
                    actual=len(on_demand),
                    message=f"{len(on_demand)} on-demand rotation(s) used (the per-key quota "
                            "is read from AWS at run time)"))
            continue
        # generations / ceremony: the key cannot rotate in place
        created = _created(obs.tags, obs.key.creation_date) or exp.created_on
        max_age = key.max_key_age_in_days or pol.max_key_age_in_days
        if exp.current and created is not None:
            age = (today - created).days
            if age > max_age:
                findings.append(Finding(
                    check="rotation.generation_too_old", severity=_sev(key.tier), **where,
                    expected=f"<= {max_age} d", actual=f"{age} d",
                    message=f"generation {exp.generation} is {age} days old, above the "
                            f"{key.tier.value} maximum of {max_age} d; run "
                            f"`keyplane rotate {state.env.name} {key.name} --reason policy-change`"))
        if not exp.current and exp.generation is not None:
            gen = next((g for g in key.generations if g.generation == exp.generation), None)
            if gen and gen.enabled and gen.verify_until and gen.verify_until < today:
                findings.append(Finding(
                    check="rotation.verify_only_expired", severity=Severity.MEDIUM, **where,
                    expected=f"retired after {gen.verify_until}",
                    actual=obs.key.key_state,
                    message=f"verify-only generation {gen.generation} passed its window on "
                            f"{gen.verify_until}; open the pr that disables it (set "
                            "`enabled: false` in the inventory)"))
    for exp_g, gobs in matched.gcp:
        key, pol = exp_g.key, TIERS[exp_g.key.tier]
        where = {"resource": gobs.key.name, "key": key.name, "address": exp_g.address,
                 "construct_path": exp_g.construct_path}
        ck = gobs.key
        if exp_g.rotation_period_seconds:
            if not ck.rotation_period_seconds:
                findings.append(Finding(
                    check="rotation.disabled", severity=_sev(key.tier), **where,
                    expected=f"every {key.rotation_period_in_days} d", actual="disabled",
                    message=f"rotation_period is not set; declared every "
                            f"{key.rotation_period_in_days} days"))
                continue
            days = ck.rotation_period_seconds / 86400
            if days > pol.max_rotation_period_in_days:
                findings.append(Finding(
                    check="rotation.period_above_tier", severity=_sev(key.tier), **where,
                    expected=pol.max_rotation_period_in_days, actual=round(days, 2),
                    message=f"rotation_period {days:g} d is above the {key.tier.value} tier's "
                            f"maximum of {pol.max_rotation_period_in_days} d"))
            elif ck.rotation_period_seconds != exp_g.rotation_period_seconds:
                findings.append(Finding(
                    check="rotation.period_differs", severity=Severity.MEDIUM, **where,
                    expected=key.rotation_period_in_days, actual=round(days, 2),
                    message=f"rotation_period is {days:g} d, declared "
                            f"{key.rotation_period_in_days} d"))
            if ck.next_rotation_time is not None and ck.next_rotation_time + SLACK < now:
                findings.append(Finding(
                    check="rotation.next_date_passed", severity=_sev(key.tier), **where,
                    actual=ck.next_rotation_time.date().isoformat(),
                    message=f"next_rotation_time {ck.next_rotation_time.date()} has passed"))
            primary = ck.primary
            if primary and primary.create_time and (
                    now - primary.create_time).total_seconds() > ck.rotation_period_seconds \
                    + SLACK.total_seconds():
                age = (now - primary.create_time).days
                findings.append(Finding(
                    check="rotation.primary_version_stale", severity=_sev(key.tier), **where,
                    actual=f"{age} d",
                    message=f"primary version is {age} days old, older than the rotation "
                            "period"))
            continue
        max_age = key.max_key_age_in_days or pol.max_key_age_in_days
        enabled = [v for v in gobs.versions or [] if v.state == "ENABLED" and v.create_time]
        cur = key.current_generation()
        newest = max((v.create_time for v in enabled if v.create_time), default=None)
        created = newest.date() if newest else (cur.created_on if cur else None)
        if cur is not None and created is not None and cur.created_on > created:
            created = cur.created_on
        if created is not None and (today - created).days > max_age:
            age = (today - created).days
            findings.append(Finding(
                check="rotation.generation_too_old", severity=_sev(key.tier), **where,
                expected=f"<= {max_age} d", actual=f"{age} d",
                message=f"the newest enabled version is {age} days old, above the "
                        f"{key.tier.value} maximum of {max_age} d; run "
                        f"`keyplane rotate {state.env.name} {key.name} --reason policy-change`"))
    return findings, unknowns
