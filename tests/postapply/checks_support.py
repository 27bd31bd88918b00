"""Post-apply check fixtures: a recorded read of Terraform-built state, and changes to it.

`fixtures/observed/<env>.json` is what post-apply read from an environment that real
Terraform built in the sandbox (scripts/record_observed.py); it judges CLEAN.
`fixtures/checks/<check_id>.json` holds that check's cases, named `pass_*`, `fail_*` and
`unknown_*`; each is a list of changes to the recorded read and the exact subjects the
check must report (FAIL for `fail_*`, UNKNOWN for `unknown_*`, none for `pass_*`).

A change selects one record and changes it:

    {"aws_key": "code-signing@g4", "set": {"key.key_state": "Disabled"}}
    {"aws_replica": "release-artifacts@eu-west-1", "remove": true}
    {"aws_key": "release-artifacts", "unreadable": "policy"}
    {"aws_key": "release-artifacts", "append": {"grants": {...}}}
    {"trail": "keyplane-prod-kms-audit", "set": {"is_logging": false}}
    {"observed": "trails", "unreadable": true}
    {"aliases": "us-east-1", "unreadable": true}
    {"add": "aws_keys", "record": {...}}

Selectors: aws_key (`name` or `name@gN`, the primary), aws_replica (`name[@gN]@region`),
gcp_key (crypto key id), trail, log_group, vault, role, key_store, alarm, metric_filter,
gcp_metric (a log-based metric; by name), gcp_alert_policy (by display name), cluster (id, or
`*` for every one), alias (`region/alias/name`). A value `"now+7d"` / `"now-400d"` is a
time relative to the recording. A case is judged at the recording time, or at `"at":
"now+30d"` (for checks whose condition is the calendar against the declaration). A subject
is reported as its declared key (`key`), or its resource, with ` in <region>` when that is
not the environment's home Region.

A case may also change what the stack declares, for a check no stack keyplane synthesizes
today can fail (a trail that selects KMS data events), with `declared`:

    {"declared": [{"trail": "keyplane-prod", "set": {"kms_data_events": true}}], ...}

Selectors: trail, log_group, vault, role, alarm (by name), gcp_alert (by display name).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from keyplane.findings import Finding
from keyplane.model.environment import Environment
from keyplane.model.tags import AWS_TAG_GENERATION, AWS_TAG_KEY
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.observed_json import load

FIXTURES = Path(__file__).parent / "fixtures"
OBSERVED = FIXTURES / "observed"
CHECKS = FIXTURES / "checks"
_RELATIVE = re.compile(r"^now([+-]\d+)d$")

# what a facet's failed read looks like in the recorded state
UNREADABLE_REASON = {
    "tags": "ListResourceTags denied (AccessDeniedException)",
    "rotation": "GetKeyRotationStatus throttled (ThrottlingException)",
    "rotations": "ListKeyRotations throttled (ThrottlingException)",
    "policy": "GetKeyPolicy denied (AccessDeniedException)",
    "grants": "ListGrants throttled (ThrottlingException)",
    "gcp-versions": "ListCryptoKeyVersions failed (UNAVAILABLE)",
    "gcp-iam": "GetIamPolicy denied (PERMISSION_DENIED)",
}
_FACET_ATTR = {"gcp-versions": "versions", "gcp-iam": "iam"}


def recorded(env: str) -> tuple[dict[str, Any], dt.datetime]:
    """The recorded read of `env` (as JSON data) and when it was recorded."""
    doc = json.loads((OBSERVED / f"{env}.json").read_text(encoding="utf-8"))
    return doc["observed"], dt.datetime.fromisoformat(doc["recorded_at"])


def _value(value: Any, now: dt.datetime) -> Any:
    if isinstance(value, str):
        m = _RELATIVE.match(value)
        if m:
            return (now + dt.timedelta(days=int(m.group(1)))).isoformat()
    return value


def _generation(tags: dict[str, str]) -> str:
    gen = tags.get(AWS_TAG_GENERATION)
    return f"{tags.get(AWS_TAG_KEY)}@g{gen}" if gen else str(tags.get(AWS_TAG_KEY))


def _select(data: dict[str, Any], change: dict[str, Any]) -> list[tuple[list[Any], int]]:
    """(the list holding it, index) of every record the change selects."""
    def where(items: list[Any] | None, pred: Any) -> list[tuple[list[Any], int]]:
        return [(items, i) for i, r in enumerate(items or []) if pred(r)]

    if "aws_key" in change:
        want = change["aws_key"]
        return where(data["aws_keys"], lambda r: r["key"]["multi_region_role"] != "REPLICA"
                     and want in (_generation(r["tags"] or {}),
                                  (r["tags"] or {}).get(AWS_TAG_KEY)))
    if "aws_replica" in change:
        name, region = change["aws_replica"].rsplit("@", 1)
        return where(data["aws_keys"], lambda r: r["key"]["multi_region_role"] == "REPLICA"
                     and r["key"]["region"] == region
                     and name in (_generation(r["tags"] or {}),
                                  (r["tags"] or {}).get(AWS_TAG_KEY)))
    if "gcp_key" in change:
        return where(data["gcp_keys"],
                     lambda r: r["key"]["name"].rsplit("/", 1)[-1] == change["gcp_key"])
    if "alias" in change:
        region, name = change["alias"].split("/", 1)
        return where(data["aliases"].get(region), lambda r: r["name"] == name)
    if "cluster" in change:
        return where(data["clusters"], lambda r: change["cluster"] in ("*", r["cluster_id"]))
    if "gcp_alert_policy" in change:
        return where(data["gcp_alert_policies"],
                     lambda r: r["display_name"] == change["gcp_alert_policy"])
    for sel, attr in (("trail", "trails"), ("log_group", "log_groups"), ("vault", "vaults"),
                      ("role", "roles"), ("key_store", "key_stores"), ("alarm", "alarms"),
                      ("metric_filter", "metric_filters"), ("gcp_metric", "gcp_log_metrics")):
        if sel in change:
            return where(data[attr], lambda r, s=sel: r["name"] == change[s])
    raise ValueError(f"change selects nothing it knows: {change}")


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = record
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[parts[-1]] = value


def changed(base: dict[str, Any], changes: list[dict[str, Any]], now: dt.datetime
            ) -> dict[str, Any]:
    """`base` with `changes` applied (a copy)."""
    data = copy.deepcopy(base)
    for change in changes:
        if "aliases" in change and change.get("unreadable"):  # one Region's ListAliases failed
            region = change["aliases"]
            data["aliases"].pop(region, None)
            data["unknowns"].append({"resource": f"aws:{region}:aliases", "region": region,
                                     "reason": "ListAliases denied (AccessDeniedException)"})
            continue
        if "observed" in change:  # a whole shared read failed
            data[change["observed"]] = None
            continue
        if "add" in change:
            data[change["add"]].append(_value_tree(change["record"], now))
            continue
        hits = _select(data, change)
        if not hits:
            raise ValueError(f"change matches no record: {change}")
        for items, i in sorted(hits, key=lambda h: -h[1]):
            if change.get("remove"):
                del items[i]
                continue
            record = items[i]
            for path, value in (change.get("set") or {}).items():
                _set(record, path, _value_tree(value, now))
            for attr, value in (change.get("append") or {}).items():
                record.setdefault(attr, [])
                if record[attr] is None:
                    record[attr] = []
                record[attr].append(_value_tree(value, now))
            facet = change.get("unreadable")
            if facet:
                record[_FACET_ATTR.get(facet, facet)] = None
                record.setdefault("unknown", {})[facet] = UNREADABLE_REASON[facet]
    return data


def _value_tree(value: Any, now: dt.datetime) -> Any:
    if isinstance(value, dict):
        return {k: _value_tree(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_value_tree(v, now) for v in value]
    return _value(value, now)


def observed_for(env: str, changes: list[dict[str, Any]]) -> tuple[Any, dt.datetime]:
    """The recorded read of `env` with `changes`, as an Observed, and the recording time."""
    base, now = recorded(env)
    return load(changed(base, changes, now)), now


def judged_at(case: dict[str, Any], recorded_at: dt.datetime) -> dt.datetime:
    """When a case is judged: the recording time, or its `at` offset from it."""
    at = case.get("at")
    if at is None:
        return recorded_at
    m = _RELATIVE.match(at)
    if not m:
        raise ValueError(f"`at` must look like now+30d or now-2d, got {at!r}")
    return recorded_at + dt.timedelta(days=int(m.group(1)))


def subject_of(f: Finding, env: Environment) -> str:
    """How a case names a reported subject."""
    home = env.aws.region if env.aws else None
    name = f.key or f.resource
    if f.region and f.region != home and f.cloud is not None and f.cloud.value == "aws":
        name += f" in {f.region}"
    return name


_DECLARED = (("trail", "trails"), ("log_group", "log_groups"), ("vault", "vaults"),
             ("role", "roles"), ("alarm", "alarms"), ("gcp_alert", "gcp_alerts"))


def declared(state: ExpectedState, changes: list[dict[str, Any]]) -> ExpectedState:
    """`state` with `changes` to what the stack declares (a copy)."""
    for change in changes:
        sel, attr = next(((s, a) for s, a in _DECLARED if s in change), (None, None))
        if sel is None or attr is None:
            raise ValueError(f"declared change selects nothing it knows: {change}")
        items = getattr(state, attr)
        if not any(r.name == change[sel] for r in items):
            raise ValueError(f"declared change matches no record: {change}")
        state = dataclasses.replace(state, **{attr: tuple(
            dataclasses.replace(r, **change["set"]) if r.name == change[sel] else r
            for r in items)})
    return state
