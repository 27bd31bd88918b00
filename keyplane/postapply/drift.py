"""`keyplane drift`: the deployed state against the synthesized stack (or the inventory).

Key state (Disabled, PendingDeletion with the days left to cancel, custom key store
disconnected, Cloud KMS versions DESTROY_SCHEDULED with the days left to restore),
spec/usage/origin, the key policy (semantically), grants nobody declared, aliases,
replicas missing or with a policy weaker than the primary's, tags, the audit trail,
log retention, Vault Lock, CloudHSM backup retention, and keys nobody declared.
keyplane reports; it never cancels a deletion or restores a version itself.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from keyplane.model.tags import AWS_TAG_ENV, AWS_TAG_TIER, GCP_LABEL_TIER
from keyplane.model.tiers import Tier
from keyplane.policy.policydoc import compare
from keyplane.postapply.collect import Facet, Observed, ObservedAwsKey
from keyplane.postapply.expected import ExpectedAwsKey, ExpectedState
from keyplane.postapply.legacy import Finding, Severity, Unknown
from keyplane.postapply.match import Matched

NEEDS = {Facet.TAGS, Facet.POLICY, Facet.GRANTS, Facet.ALIASES, Facet.KEY_STORES, Facet.TRAILS,
         Facet.LOG_GROUPS, Facet.VAULTS, Facet.CLUSTERS, Facet.GCP_VERSIONS}


def _high(tier: Tier) -> Severity:
    return Severity.CRITICAL if tier in (Tier.CA, Tier.PRODUCTION) else Severity.HIGH


def _tier_lowered(declared: Tier, observed: str | None) -> str | None:
    """The observed tier tag/label when it is missing, unknown or below the declared tier."""
    try:
        seen = Tier(observed) if observed is not None else None
    except ValueError:
        seen = None
    if seen is not None and seen.rank >= declared.rank:
        return None
    return observed if observed is not None else "(none)"


def _version_number(name: str) -> int:
    tail = name.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _generation_versions(exp: Any, versions: list[Any], where: dict[str, object],
                         now: dt.datetime) -> list[Finding]:
    """Keys without a primary (signing, MAC, imported): every live generation is a version.

    The newest version is the current generation and must be enabled; verify-only
    generations inside their overlap window must be too (their signatures are still being
    checked by relying parties).
    """
    key = exp.key
    today = now.date()
    live = [g for g in key.generations if g.enabled and (
        g.generation == key.generation or (g.verify_until is not None
                                           and g.verify_until >= today))]
    ordered = sorted((v for v in versions if v.state != "DESTROYED"),
                     key=lambda v: _version_number(v.name))
    out: list[Finding] = []
    if ordered and ordered[-1].state == "DISABLED":
        newest = ordered[-1]
        out.append(Finding(check="drift.key_disabled", severity=_high(key.tier),
                           **{**where, "resource": newest.name}, expected="ENABLED",
                           actual="DISABLED",
                           message=f"version {_version_number(newest.name)}, the current "
                                   f"generation (g{key.generation}), is disabled"))
    enabled = sum(1 for v in ordered if v.state == "ENABLED")
    if live and enabled < len(live) and not (out and enabled == len(live) - 1):
        out.append(Finding(check="drift.generation_disabled", severity=_high(key.tier),
                           **where, expected=f"{len(live)} enabled", actual=f"{enabled} enabled",
                           message=f"{len(live)} live generation(s) declared "
                                   f"({', '.join(f'g{g.generation}' for g in live)}), "
                                   f"{enabled} version(s) enabled"))
    return out


def _days_left(until: dt.datetime | None, now: dt.datetime) -> int | None:
    if until is None:
        return None
    return max(0, math.ceil((until - now).total_seconds() / 86400))


def _key_state(exp: ExpectedAwsKey, obs: ObservedAwsKey, now: dt.datetime,
               where: dict[str, object]) -> list[Finding]:
    k = obs.key
    tier = exp.key.tier
    if k.key_state in ("PendingDeletion", "PendingReplicaDeletion"):
        left = _days_left(k.deletion_date, now)
        when = k.deletion_date.date().isoformat() if k.deletion_date else "its deletion date"
        return [Finding(check="drift.key_pending_deletion", severity=_high(tier), **where,
                        expected="Enabled" if exp.enabled else "Disabled", actual=k.key_state,
                        days_left=left,
                        message=f"scheduled for deletion on {when} ({left} day(s) left to "
                                "cancel with CancelKeyDeletion; keyplane does not cancel it)")]
    if k.key_state == "Disabled" and exp.enabled:
        return [Finding(check="drift.key_disabled", severity=_high(tier), **where,
                        expected="Enabled", actual="Disabled",
                        message="the key is disabled; it is declared enabled")]
    if k.key_state == "Enabled" and not exp.enabled:
        return [Finding(check="drift.key_enabled", severity=Severity.MEDIUM, **where,
                        expected="Disabled", actual="Enabled",
                        message=f"generation {exp.generation} is enabled; the inventory "
                                "declares it disabled")]
    if k.key_state not in ("Enabled", "Disabled"):
        return [Finding(check="drift.key_state", severity=_high(tier), **where,
                        expected="Enabled", actual=k.key_state,
                        message=f"the key is {k.key_state}")]
    return []


def check(state: ExpectedState, observed: Observed, matched: Matched, *, now: dt.datetime
          ) -> tuple[list[Finding], list[Unknown]]:
    """Drift findings, and what could not be judged."""
    f: list[Finding] = []
    u: list[Unknown] = []
    stores = {s.id: s for s in observed.key_stores or []}
    aliases = {(a.region, a.name): a for region in observed.aliases.values() for a in region}
    for exp, obs in matched.aws:
        k = obs.key
        where: dict[str, object] = {"resource": k.arn, "key": exp.id, "region": k.region,
                                    "address": exp.address, "construct_path": exp.construct_path}
        f += _key_state(exp, obs, now, where)
        if k.custom_key_store_id:
            store = stores.get(k.custom_key_store_id)
            if store is None and observed.key_stores is not None:
                f.append(Finding(check="drift.key_store_missing", severity=_high(exp.key.tier),
                                 **where, message=f"custom key store {k.custom_key_store_id} "
                                                  "is not in the account"))
            elif store is not None and store.connection_state != "CONNECTED":
                f.append(Finding(
                    check="drift.key_store_disconnected", severity=_high(exp.key.tier), **where,
                    expected="CONNECTED", actual=store.connection_state,
                    message=f"custom key store {store.name} is {store.connection_state}: the "
                            "key cannot be used until it is reconnected"))
        for attr, label in (("key_spec", "key spec"), ("key_usage", "key usage"),
                            ("origin", "origin")):
            want, got = getattr(exp, attr), getattr(k, attr)
            if want != got:
                f.append(Finding(check=f"drift.{attr}", severity=_high(exp.key.tier), **where,
                                 expected=want, actual=got,
                                 message=f"{label} is {got}, declared {want}"))
        if exp.multi_region != k.multi_region:
            f.append(Finding(check="drift.multi_region", severity=Severity.HIGH, **where,
                             expected=exp.multi_region, actual=k.multi_region,
                             message=f"multi-region is {k.multi_region}, declared "
                                     f"{exp.multi_region}"))
        if exp.policy is not None and obs.policy is not None:
            diff = compare(exp.policy, obs.policy)
            if diff:
                f.append(Finding(check="drift.key_policy", severity=_high(exp.key.tier), **where,
                                 message=f"key policy differs from the synthesized one: "
                                         f"{diff.describe()}"))
        for g in obs.grants or []:
            f.append(Finding(
                check="drift.grant_not_declared", severity=_high(exp.key.tier), **where,
                actual={"grant_id": g.grant_id, "grantee": g.grantee_principal,
                        "operations": list(g.operations)},
                message=f"grant {g.grant_id[:12]} to {g.grantee_principal} "
                        f"({', '.join(g.operations)}) is not declared"))
        missing_tags = {t: v for t, v in exp.tags.items() if (obs.tags or {}).get(t) != v}
        lowered = _tier_lowered(exp.key.tier, (obs.tags or {}).get(AWS_TAG_TIER))
        if obs.tags is not None and lowered:
            f.append(Finding(check="drift.tier_lowered", severity=Severity.HIGH, **where,
                             expected=exp.key.tier.value, actual=lowered,
                             message=f"tag {AWS_TAG_TIER} is {lowered!r}, declared "
                                     f"{exp.key.tier.value}: the gate and every check read the "
                                     "tier from this tag, so a lowered tier weakens them all"))
            missing_tags.pop(AWS_TAG_TIER, None)
        if obs.tags is not None and missing_tags:
            f.append(Finding(check="drift.tags", severity=Severity.LOW, **where,
                             expected=missing_tags,
                             actual={t: (obs.tags or {}).get(t) for t in missing_tags},
                             message=f"tags differ: {', '.join(sorted(missing_tags))}"))
        if k.region in observed.aliases:
            for name in exp.aliases:
                a = aliases.get((k.region, name))
                if a is None:
                    f.append(Finding(check="drift.alias_missing", severity=_high(exp.key.tier),
                                     **where, expected=name, message=f"{name} does not exist"))
                elif a.target_key_id != k.key_id:
                    f.append(Finding(check="drift.alias_target", severity=_high(exp.key.tier),
                                     **where, expected=k.key_id, actual=a.target_key_id,
                                     message=f"{name} points to {a.target_key_id}, not to "
                                             "this key"))
        replicas = matched.replicas.get(exp.id, {})
        for region in exp.replica_regions:
            rep = replicas.get(region)
            if rep is None:
                if region in observed.unknown_regions or observed.stopped:
                    u.append(Unknown(resource=k.arn, key=exp.id, region=region,
                                     reason=f"replica in {region} could not be read"))
                else:
                    f.append(Finding(check="drift.replica_missing", severity=_high(exp.key.tier),
                                     **{**where, "region": region},
                                     message=f"no replica in {region}; declared replica "
                                             f"regions: {', '.join(exp.replica_regions)}"))
                continue
            rwhere = {**where, "resource": rep.key.arn, "region": region}
            f += _key_state(exp, rep, now, rwhere)
            if rep.policy is not None and obs.policy is not None:
                diff = compare(obs.policy, rep.policy)
                if diff:
                    f.append(Finding(
                        check="drift.replica_policy", severity=_high(exp.key.tier), **rwhere,
                        message=f"replica policy differs from the primary's: {diff.describe()}"))
            for g in rep.grants or []:
                f.append(Finding(check="drift.grant_not_declared", severity=_high(exp.key.tier),
                                 **rwhere, actual={"grantee": g.grantee_principal},
                                 message=f"grant to {g.grantee_principal} on the replica is not "
                                         "declared"))
    for exp in matched.aws_missing:
        f.append(Finding(check="drift.key_missing", severity=_high(exp.key.tier),
                         resource=exp.alias or exp.id, key=exp.id, region=exp.region,
                         address=exp.address, construct_path=exp.construct_path,
                         message="declared but not deployed (no key carries its keyplane tags)"))
    for exp in matched.aws_unsure:
        u.append(Unknown(resource=exp.alias or exp.id, key=exp.id, region=exp.region,
                         reason="not found, but part of the account could not be read"))
    for obs in matched.aws_undeclared:
        deleting = obs.key.key_state == "PendingDeletion"
        f.append(Finding(check="drift.key_undeclared",
                         severity=Severity.LOW if deleting else Severity.MEDIUM,
                         resource=obs.key.arn, region=obs.key.region,
                         actual={"spec": obs.key.key_spec, "state": obs.key.key_state},
                         message="a key with no keyplane tags is in the account; run "
                                 "`keyplane discover` to draft its inventory entry"))
    for obs in matched.aws_not_in_inventory:
        f.append(Finding(check="drift.key_not_in_inventory", severity=Severity.MEDIUM,
                         resource=obs.key.arn, region=obs.key.region,
                         actual=(obs.tags or {}).get("keyplane:key"),
                         message=f"tagged for {(obs.tags or {}).get(AWS_TAG_ENV)} but no "
                                 "declared key or generation matches it"))
    f += _shared(state, observed)
    gf, gu = _gcp(state, matched, now)
    return f + gf, u + gu


def _shared(state: ExpectedState, observed: Observed) -> list[Finding]:
    f: list[Finding] = []
    top = max((k.key.tier for k in state.aws_keys), key=lambda t: t.rank, default=None)
    sev = _high(top) if top else Severity.HIGH
    if observed.trails is not None:
        trails = {t.name: t for t in observed.trails}
        for exp in state.trails:
            t = trails.get(exp.name)
            where = {"resource": t.arn if t else exp.name, "address": exp.address}
            if t is None:
                f.append(Finding(check="drift.trail_missing", severity=sev, **where,
                                 message=f"audit trail {exp.name} does not exist"))
                continue
            if t.is_logging is False:
                f.append(Finding(check="drift.trail_logging_stopped", severity=sev, **where,
                                 expected=True, actual=False,
                                 message=f"trail {exp.name} is not logging"))
            if exp.multi_region and not t.multi_region:
                f.append(Finding(check="drift.trail_multi_region", severity=sev, **where,
                                 message=f"trail {exp.name} is no longer multi-region"))
            if exp.log_file_validation and not t.log_file_validation:
                f.append(Finding(check="drift.trail_log_file_validation", severity=sev, **where,
                                 message=f"log-file validation is off on {exp.name}"))
            if exp.kms_data_events and "AWS::KMS::Key" not in t.data_resource_types:
                f.append(Finding(check="drift.trail_event_selectors", severity=sev, **where,
                                 expected="AWS::KMS::Key data events",
                                 actual=list(t.data_resource_types),
                                 message=f"event selectors of {exp.name} no longer log kms data "
                                         "events (Sign, Decrypt)"))
    if observed.log_groups is not None:
        groups = {g.name: g for g in observed.log_groups}
        for exp_g in state.log_groups:
            g = groups.get(exp_g.name)
            if g is None:
                f.append(Finding(check="drift.log_group_missing", severity=sev,
                                 resource=exp_g.name, address=exp_g.address,
                                 message=f"log group {exp_g.name} does not exist"))
            elif g.retention_in_days is not None and g.retention_in_days < exp_g.retention_in_days:
                f.append(Finding(check="drift.log_retention_lowered", severity=sev,
                                 resource=exp_g.name, address=exp_g.address,
                                 expected=exp_g.retention_in_days, actual=g.retention_in_days,
                                 message=f"retention is {g.retention_in_days} d, below the "
                                         f"{exp_g.retention_in_days} d declared"))
    if observed.vaults is not None:
        vaults = {v.name: v for v in observed.vaults}
        for exp_v in state.vaults:
            v = vaults.get(exp_v.name)
            where = {"resource": v.arn if v else exp_v.name, "address": exp_v.address}
            if v is None:
                f.append(Finding(check="drift.vault_missing", severity=sev, **where,
                                 message=f"backup vault {exp_v.name} does not exist"))
            elif v.min_retention_days is None:
                f.append(Finding(check="drift.vault_lock_removed", severity=sev, **where,
                                 expected=f"{exp_v.lock_mode}, >= {exp_v.min_retention_days} d",
                                 actual="no lock",
                                 message=f"vault lock of {exp_v.name} was removed"))
            elif v.min_retention_days < exp_v.min_retention_days:
                f.append(Finding(check="drift.vault_lock_changed", severity=sev, **where,
                                 expected=exp_v.min_retention_days, actual=v.min_retention_days,
                                 message=f"vault lock minimum retention is "
                                         f"{v.min_retention_days} d, declared "
                                         f"{exp_v.min_retention_days} d"))
            elif exp_v.lock_mode == "COMPLIANCE" and v.lock_date is None:
                f.append(Finding(check="drift.vault_lock_changed", severity=sev, **where,
                                 expected="COMPLIANCE", actual="GOVERNANCE",
                                 message=f"vault lock of {exp_v.name} is in governance mode; "
                                         "compliance mode is declared"))
    if observed.clusters is not None and state.cloudhsm_backup_retention_in_days:
        mine = [c for c in observed.clusters if c.tags.get(AWS_TAG_ENV) == state.env.name]
        if not mine:
            f.append(Finding(check="drift.cloudhsm_cluster_missing", severity=sev,
                             resource=f"cloudhsm:{state.env.name}",
                             message="no cloudhsm cluster carries this environment's tags"))
        for c in mine:
            want = state.cloudhsm_backup_retention_in_days
            if c.backup_retention_in_days is None or c.backup_retention_in_days < want:
                f.append(Finding(check="drift.cloudhsm_backup_retention", severity=sev,
                                 resource=c.cluster_id, expected=want,
                                 actual=c.backup_retention_in_days,
                                 message=f"cloudhsm backup retention is "
                                         f"{c.backup_retention_in_days} d, declared {want} d"))
    return f


def _gcp(state: ExpectedState, matched: Matched, now: dt.datetime
         ) -> tuple[list[Finding], list[Unknown]]:
    f: list[Finding] = []
    u: list[Unknown] = []
    for exp, obs in matched.gcp:
        ck = obs.key
        where: dict[str, object] = {"resource": ck.name, "key": exp.key.name,
                                    "address": exp.address, "construct_path": exp.construct_path}
        for attr, label in (("purpose", "purpose"), ("algorithm", "algorithm"),
                            ("protection_level", "protection level")):
            want, got = getattr(exp, attr), getattr(ck, attr)
            if want != got:
                f.append(Finding(check=f"drift.gcp_{attr}", severity=_high(exp.key.tier),
                                 **where, expected=want, actual=got,
                                 message=f"{label} is {got}, declared {want}"))
        wrong = {k: v for k, v in exp.labels.items() if ck.labels.get(k) != v}
        lowered = _tier_lowered(exp.key.tier, ck.labels.get(GCP_LABEL_TIER))
        if lowered:
            f.append(Finding(check="drift.tier_lowered", severity=Severity.HIGH, **where,
                             expected=exp.key.tier.value, actual=lowered,
                             message=f"label {GCP_LABEL_TIER} is {lowered!r}, declared "
                                     f"{exp.key.tier.value}: the gate and every check read the "
                                     "tier from this label, so a lowered tier weakens them all"))
            wrong.pop(GCP_LABEL_TIER, None)
        if wrong:
            f.append(Finding(check="drift.labels", severity=Severity.LOW, **where,
                             expected=wrong, actual={k: ck.labels.get(k) for k in wrong},
                             message=f"labels differ: {', '.join(sorted(wrong))}"))
        for v in obs.versions or []:
            if v.state == "DESTROY_SCHEDULED":
                left = _days_left(v.destroy_time, now)
                when = v.destroy_time.date().isoformat() if v.destroy_time else "soon"
                f.append(Finding(
                    check="drift.version_destroy_scheduled", severity=_high(exp.key.tier),
                    **{**where, "resource": v.name}, actual=v.state, days_left=left,
                    message=f"version {v.name.rsplit('/', 1)[-1]} is scheduled for destruction "
                            f"on {when} ({left} day(s) left to restore with "
                            "RestoreCryptoKeyVersion; keyplane does not restore it)"))
            elif v.state == "DESTROYED" and ck.primary and ck.primary.name == v.name:
                f.append(Finding(check="drift.version_destroyed", severity=_high(exp.key.tier),
                                 **{**where, "resource": v.name}, actual=v.state,
                                 message="the primary version is destroyed"))
        if ck.primary and ck.primary.state == "DISABLED":
            f.append(Finding(check="drift.key_disabled", severity=_high(exp.key.tier), **where,
                             expected="ENABLED", actual="DISABLED",
                             message="the primary version is disabled"))
        if ck.primary is None and obs.versions:
            f += _generation_versions(exp, obs.versions, where, now)
    for exp in matched.gcp_missing:
        f.append(Finding(check="drift.key_missing", severity=_high(exp.key.tier),
                         resource=exp.name, key=exp.key.name, address=exp.address,
                         message="declared but not deployed"))
    for exp in matched.gcp_unsure:
        u.append(Unknown(resource=exp.name, key=exp.key.name,
                         reason="not found, but its location could not be read"))
    for obs in matched.gcp_undeclared:
        f.append(Finding(check="drift.key_undeclared", severity=Severity.MEDIUM,
                         resource=obs.key.name,
                         actual={"purpose": obs.key.purpose, "algorithm": obs.key.algorithm},
                         message="a crypto key with no keyplane labels is in the project; run "
                                 "`keyplane discover` to draft its inventory entry"))
    return f, u
