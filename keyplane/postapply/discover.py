"""`keyplane discover`'s drafts: an inventory entry for each key keyplane does not manage.

Inventory and classify first: the draft says what the key is (usage, spec,
origin) and suggests a tier from what can be seen (custom key store -> ca; the
environment's kind; names that read like CI or per-deploy keys -> ephemeral).
A person confirms the tier in review; keyplane never guesses the weakest tier
silently, it says why it suggests one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from keyplane.model.specs import AWS_KEY_USAGE, KeyUsage
from keyplane.model.tiers import EnvironmentKind
from keyplane.postapply.collect import Facet, ObservedAwsKey, ObservedGcpKey
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.match import Matched

NEEDS = {Facet.TAGS, Facet.ALIASES}
_USAGE = {v: k for k, v in AWS_KEY_USAGE.items()}
_GCP_USAGE = {"ENCRYPT_DECRYPT": KeyUsage.ENCRYPT, "ASYMMETRIC_DECRYPT": KeyUsage.ENCRYPT,
              "ASYMMETRIC_SIGN": KeyUsage.SIGN, "MAC": KeyUsage.MAC}
_EPHEMERAL_HINT = re.compile(r"(^|[-_/])(ci|tmp|temp|ephemeral|job|deploy|scratch)([-_/]|$)")


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (s or "discovered-key")[:63].strip("-")


def suggest_tier(state: ExpectedState, *, custom_store: bool, name: str) -> tuple[str, str]:
    """A suggested tier and why."""
    if custom_store:
        return "ca", "in a cloudhsm custom key store"
    if _EPHEMERAL_HINT.search(name):
        return "ephemeral", f"its name ({name}) reads like a ci or per-deploy key"
    if state.env.kind is EnvironmentKind.PRODUCTION:
        return "production", "in a production environment"
    return "non-production", "in a non-production environment"


def aws_draft(state: ExpectedState, obs: ObservedAwsKey, alias: str | None) -> dict[str, object]:
    """The draft inventory entry of an unmanaged AWS key (resource, name, tier, reason, yaml)."""
    k = obs.key
    name = _slug(alias.removeprefix("alias/") if alias else f"discovered-{k.key_id[:8]}")
    tier, why = suggest_tier(state, custom_store=bool(k.custom_key_store_id), name=name)
    usage = _USAGE.get(k.key_usage, KeyUsage.ENCRYPT)
    origin = {"AWS_KMS": "kms", "AWS_CLOUDHSM": "cloudhsm", "EXTERNAL": "external"}.get(
        k.origin, "kms")
    lines = [f"# discovered: {k.arn} ({k.key_state}); suggested tier: {tier} ({why})",
             f"- name: {name}", f"  tier: {tier}", "  cloud: aws", f"  usage: {usage.value}",
             f"  spec: {k.key_spec}"]
    if origin != "kms" or tier == "ca":
        lines.append(f"  origin: {origin}")
    if alias:
        lines.append(f"  alias: {alias}")
    if k.description:
        lines.append(f"  description: {k.description!r}")
    if origin == "external":
        lines.append("  # imported material needs an escrow copy: add `escrow:` before merging")
    return {"resource": k.arn, "name": name, "tier": tier, "reason": why,
            "yaml": "\n".join(lines) + "\n"}


def gcp_draft(state: ExpectedState, obs: ObservedGcpKey) -> dict[str, object]:
    """The draft inventory entry of an unmanaged Cloud KMS key."""
    ck = obs.key
    name = _slug(ck.key_id)
    tier, why = suggest_tier(state, custom_store=False, name=name)
    usage = _GCP_USAGE.get(ck.purpose, KeyUsage.ENCRYPT)
    ring = ck.key_ring.rsplit("/", 1)[-1]
    location = ck.name.split("/")[3] if ck.name.count("/") >= 3 else ""
    lines = [f"# discovered: {ck.name}; suggested tier: {tier} ({why})", f"- name: {name}",
             f"  tier: {tier}", "  cloud: gcp", f"  usage: {usage.value}",
             f"  spec: {ck.algorithm}", f"  key_ring: {ring}", f"  location: {location}",
             f"  protection_level: {ck.protection_level}"]
    if ck.rotation_period_seconds:
        lines.append(f"  rotation_period_in_days: {max(1, ck.rotation_period_seconds // 86400)}")
    return {"resource": ck.name, "name": name, "tier": tier, "reason": why,
            "yaml": "\n".join(lines) + "\n"}


def aliases_by_key(observed_aliases: Mapping[str, Iterable[object]] | None) -> dict[str, str]:
    """The first customer alias of each key id, over every Region read."""
    alias_of: dict[str, str] = {}
    for region_aliases in (observed_aliases or {}).values():
        for a in region_aliases:
            target = getattr(a, "target_key_id", None)
            name = getattr(a, "name", "")
            if target and not name.startswith("alias/aws/"):
                alias_of.setdefault(target, name)
    return alias_of


def drafts(state: ExpectedState, observed_aliases: Mapping[str, Iterable[object]] | None,
           matched: Matched) -> list[dict[str, object]]:
    """A draft inventory entry per unmanaged key (none for a key already pending deletion);
    the finding about each key is the `discover.unmanaged_key` check's."""
    out: list[dict[str, object]] = []
    alias_of = aliases_by_key(observed_aliases)
    for obs in matched.aws_undeclared:
        if obs.key.key_state != "PendingDeletion":
            out.append(aws_draft(state, obs, alias_of.get(obs.key.key_id)))
    out += [gcp_draft(state, gobs) for gobs in matched.gcp_undeclared]
    return out
