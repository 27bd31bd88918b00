"""Discovered keys -> inventory entries whose first plan imports them and replaces nothing.

Each unmanaged key the post-apply collector read becomes a `KeyAdoption`: the entry to add
(with its `adopt` block: what the stack imports), the tier and why, whether a person must
review it, what the first plan imports, creates and changes in place because the tier
demands it, and what it leaves alone. Everything Terraform cannot change in place (AWS
key spec, usage, origin, multi-Region, custom key store; Cloud KMS purpose, algorithm,
protection level, destroy-scheduled duration, import-only) is taken from the key as read,
never from a default. When the tier forbids such a value, or the key is in a state keyplane
would change against its owner's intent (disabled, pending import), the adoption is
`blocked`: it says why and is never written, instead of an entry whose plan replaces a key.

Pure: records in (`keyplane.postapply.collect`), records out; the command writes YAML.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from keyplane.adopt.rules import TierRules
from keyplane.desired import names
from keyplane.desired.aws import IamPlan
from keyplane.model.checks import confusable_form
from keyplane.model.environment import NAME_PATTERN, Environment, Escrow
from keyplane.model.limits import AWS_KMS_ROTATION_PERIOD, GCP_DESTROY_SCHEDULED_DURATION
from keyplane.model.specs import (
    AWS_KEY_SPECS,
    AWS_KEY_USAGE,
    GCP_ALGORITHMS,
    Cloud,
    KeyFamily,
    KeyUsage,
    Origin,
    gcp_purpose,
)
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.model.tiers import AwsProtection, Tier, TierPolicy, policy_for
from keyplane.postapply.collect import Observed, ObservedAwsKey, ObservedGcpKey, rotation_applicable
from keyplane.postapply.discover import suggest_tier
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.match import Matched
from keyplane.postapply.ports import Alias, IamRole

_NAME = re.compile(NAME_PATTERN)
_AWS_USAGE = {v: k for k, v in AWS_KEY_USAGE.items()}
_GCP_USAGE = {"ENCRYPT_DECRYPT": KeyUsage.ENCRYPT, "ASYMMETRIC_DECRYPT": KeyUsage.ENCRYPT,
              "ASYMMETRIC_SIGN": KeyUsage.SIGN, "MAC": KeyUsage.MAC}
_AWS_ORIGIN = {"AWS_KMS": Origin.KMS, "EXTERNAL": Origin.EXTERNAL,
               "AWS_CLOUDHSM": Origin.CLOUDHSM}
# Tags and labels that are not the key owner's to keep: keyplane's own and AWS's.
_RESERVED_TAG = ("keyplane:", "aws:")
_RESERVED_LABEL = ("keyplane-",)
SECONDS_PER_DAY = 86_400
# The tags (AWS) and labels (GCP) an owner is read from when `--owner` is not given.
OWNER_TAGS = ("owner", "Owner")


@dataclass
class KeyAdoption:
    """One unmanaged key and what adopting it means.

    `entry` is the inventory entry (a plain mapping, in the order it is written); `blocked`
    says why it must not be written as is (then nothing about it is imported). `review`
    marks an entry whose tier no rule decided, or that a person must look at for another
    reason (`reasons`). `imports`, `creates`, `changes` and `left` describe the first plan:
    what it imports, what it creates beside the key, the in-place updates the tier demands,
    and what stays outside keyplane.
    """

    cloud: Cloud
    resource: str  # the key's ARN or crypto key name
    key_id: str  # the AWS key id or the crypto key name
    name: str
    tier: Tier | None
    why: str
    review: bool = False
    reasons: list[str] = field(default_factory=list)
    entry: dict[str, Any] | None = None
    blocked: str | None = None
    imports: list[str] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @property
    def writable(self) -> bool:
        """Whether the entry may go into the inventory."""
        return self.entry is not None and self.blocked is None

    def block(self, reason: str) -> None:
        """Refuse the entry (the first reason is kept as the headline; the rest as reasons)."""
        if self.blocked is None:
            self.blocked = reason
        else:
            self.reasons.append(reason)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of `keyplane adopt --format json`."""
        return {"cloud": self.cloud.value, "resource": self.resource, "name": self.name,
                "tier": self.tier.value if self.tier else None, "why": self.why,
                "review": self.review, "reasons": list(self.reasons),
                "blocked": self.blocked, "written": False, "entry": self.entry,
                "imports": list(self.imports), "creates": list(self.creates),
                "changes": list(self.changes), "left": list(self.left)}


@dataclass
class AdoptionPlan:
    """Everything `keyplane adopt` found: one adoption per unmanaged key, the keyplane roles
    that exist already (imported too), and notes (keys skipped and why)."""

    env: str
    keys: list[KeyAdoption] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # existing keyplane roles, imported
    role_policies: list[str] = field(default_factory=list)  # ... whose inline policy exists
    role_notes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def writable(self) -> list[KeyAdoption]:
        """The adoptions whose entries may be written."""
        return [k for k in self.keys if k.writable]


# ---- names ---------------------------------------------------------------------------------


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    s = re.sub(r"-{2,}", "-", s)
    return s[:63].strip("-")


class _Names:
    """Entry names and aliases already used (inventory, account, earlier adoptions), in the
    form the inventory compares them (case, width, `_` vs `-`)."""

    def __init__(self, env: Environment, account_aliases: Iterable[str]) -> None:
        self.names = {confusable_form(k.name) for k in env.keys}
        self.aliases = {confusable_form(k.alias) for k in env.keys if k.alias}
        self.aliases |= {confusable_form(f"alias/{k.name}") for k in env.keys
                         if k.cloud is Cloud.AWS}
        self.account = {confusable_form(a) for a in account_aliases}

    def free(self, name: str, *, implied_alias: bool) -> bool:
        form = confusable_form(name)
        if form in self.names:
            return False
        alias = confusable_form(f"alias/{name}")
        return not implied_alias or (alias not in self.aliases and alias not in self.account)

    def unique(self, base: str, *, implied_alias: bool) -> str:
        """`base`, or `base-2`, `base-3`... whichever is free."""
        base = base or "adopted-key"
        candidate, n = base, 1
        while not self.free(candidate, implied_alias=implied_alias):
            n += 1
            suffix = f"-{n}"
            candidate = f"{base[:63 - len(suffix)].rstrip('-')}{suffix}"
        return candidate

    def take(self, name: str, alias: str | None) -> None:
        self.names.add(confusable_form(name))
        self.aliases.add(confusable_form(alias or f"alias/{name}"))


# ---- AWS -----------------------------------------------------------------------------------


def _suggested(state: ExpectedState, *, custom_store: bool, name: str) -> tuple[Tier, str]:
    """`keyplane discover`'s suggestion (one place decides it), as a tier."""
    tier, why = suggest_tier(state, custom_store=custom_store, name=name)
    return Tier(tier), why


def _own(tags: Mapping[str, str], reserved: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in sorted(tags.items()) if not k.lower().startswith(reserved)}


def _created_on(when: dt.datetime | None, adoption: KeyAdoption) -> dt.date:
    if when is None:
        adoption.reasons.append("its creation date could not be read: created_on is today; "
                                "correct it (the tier's maximum age counts from it)")
        adoption.review = True
        return dt.datetime.now(dt.UTC).date()
    return when.date()


def _age_note(adoption: KeyAdoption, created: dt.date, pol: TierPolicy, today: dt.date) -> None:
    due = created + dt.timedelta(days=pol.max_key_age_in_days)
    if due <= today:
        adoption.reasons.append(f"generation 1 (created {created}) is past the "
                                f"{pol.tier.value} tier's maximum age of "
                                f"{pol.max_key_age_in_days} days (due {due}): rotate it "
                                "(`keyplane rotate`) once adopted")


def _aws_blockers(key: Any, tier: Tier, env: Environment, *, origin: Origin,
                  replica_regions: list[str]) -> list[str]:
    """Why `tier` cannot hold this key without replacing it (what Terraform cannot change)."""
    pol = policy_for(tier)
    out = []
    info = AWS_KEY_SPECS[key.key_spec]
    if pol.aws_protection is AwsProtection.CLOUDHSM and origin is not Origin.CLOUDHSM:
        out.append(f"{tier.value} keys live in a cloudhsm custom key store; this key's origin is "
                   f"{key.origin} (custom_key_store_id forces a new key)")
    if origin is Origin.EXTERNAL and not pol.external_origin_allowed:
        out.append(f"{tier.value} keys are never imported material; this key's origin is "
                   "EXTERNAL (origin forces a new key)")
    if replica_regions and not pol.replicas_allowed:
        out.append(f"{tier.value} keys have no multi-region replicas; this key is multi-region "
                   f"with replicas in {', '.join(replica_regions)} (multi_region forces a "
                   "new key)")
    if len(replica_regions) < pol.min_replica_regions:
        out.append(f"{tier.value} keys need at least {pol.min_replica_regions} replica region(s); "
                   "this key is single-region and cannot become multi-region (multi_region "
                   "forces a new key): adopt it under another tier, or declare a new key and "
                   "retire this one")
    if origin is Origin.EXTERNAL and replica_regions:
        out.append("imported keys are single-region in keyplane; this one is multi-region")
    if info.rsa_bits is not None and info.rsa_bits < pol.min_rsa_bits:
        out.append(f"{key.key_spec} has {info.rsa_bits}-bit rsa; the {tier.value} tier needs at "
                   f"least {pol.min_rsa_bits} bits (key_spec forces a new key)")
    if origin is Origin.CLOUDHSM and env.aws is not None and env.aws.cloudhsm is None:
        out.append("the key is in a cloudhsm custom key store, and the environment declares no "
                   "aws.cloudhsm section (the cluster behind its keys): declare it first")
    return out


def _owner(given: str | None, tags: Mapping[str, str]) -> str | None:
    """Who answers for an adopted key: `--owner`, else the key's own `owner` tag or label."""
    return given or next((tags[k] for k in OWNER_TAGS if tags.get(k)), None)


def _aws_key(state: ExpectedState, observed: Observed, obs: ObservedAwsKey,
             replicas: Mapping[str, ObservedAwsKey], aliases: Mapping[str, list[Alias]],
             rules: TierRules, escrow: Mapping[str, Escrow], taken: _Names,
             today: dt.date, owner: str | None) -> KeyAdoption:
    env = state.env
    assert env.aws is not None
    k = obs.key
    home = env.aws.region
    tags = obs.tags or {}
    home_aliases = sorted(a.name for a in aliases.get(home, [])
                          if a.target_key_id == k.key_id and not a.name.startswith("alias/aws/"))
    suggested = _suggested(state, custom_store=bool(k.custom_key_store_id),
                           name=_slug(home_aliases[0].removeprefix("alias/")) if home_aliases
                           else k.key_id)
    choice = rules.choose(tags=tags, aliases=home_aliases, suggested=suggested, kind=env.kind)
    alias = choice.alias or (home_aliases[0] if home_aliases else None)
    base = _slug(alias.removeprefix("alias/")) if alias else f"adopted-{k.key_id[:8]}"
    name = taken.unique(base, implied_alias=alias is None)
    out = KeyAdoption(cloud=Cloud.AWS, resource=k.arn, key_id=k.key_id, name=name,
                      tier=choice.tier, why=choice.why, review=not choice.sure)

    # what keyplane cannot declare at all
    if k.region != home:
        out.block(f"the key is in {k.region}; keyplane declares keys in the environment's home "
                  f"region {home} (multi-region keys: their primary)")
    if k.key_spec not in AWS_KEY_SPECS:
        out.block(f"key spec {k.key_spec} is not one keyplane manages; allowed: "
                  f"{', '.join(AWS_KEY_SPECS)}")
        return out
    usage = _AWS_USAGE.get(k.key_usage)
    usages = AWS_KEY_SPECS[k.key_spec].usages
    if not k.key_usage and len(usages) == 1:
        usage = next(iter(usages))  # the one usage the spec has (a reply that omits it)
    if usage is None or usage not in usages:
        out.block(f"key usage {k.key_usage} of a {k.key_spec} key is not one keyplane manages")
        return out
    origin = _AWS_ORIGIN.get(k.origin)
    if origin is None:
        out.block(f"origin {k.origin} (an external key store) is not one keyplane manages")
        return out
    if k.key_state == "Disabled":
        out.block("the key is disabled; keyplane declares the key in use enabled, so the plan "
                  "would enable it: enable it first if it is in use, or leave it out")
    elif k.key_state == "PendingImport":
        out.block("the key has no key material yet (PendingImport): import its material "
                  "first, keeping the escrow copy")
    elif k.key_state not in ("Enabled",):
        out.block(f"the key is {k.key_state}; only enabled keys are adopted")
    replica_regions = sorted(k.replica_regions)
    if k.multi_region and not replica_regions:
        out.block("the key is multi-region without replicas; keyplane declares a multi-region "
                  "key by its replica_regions (add a replica first), and a single-region "
                  "declaration would replace it")
    pol = policy_for(choice.tier)
    for reason in _aws_blockers(k, choice.tier, env, origin=origin,
                                replica_regions=replica_regions):
        out.block(reason)

    info = AWS_KEY_SPECS[k.key_spec]
    rotates = info.family is KeyFamily.SYMMETRIC and rotation_applicable(k)
    entry: dict[str, Any] = {"name": name, "tier": choice.tier.value, "cloud": "aws",
                             "usage": usage.value, "spec": k.key_spec}
    if (who := _owner(owner, tags)) is not None:
        entry["owner"] = who
    if origin is not Origin.KMS:
        entry["origin"] = origin.value
    if alias:
        entry["alias"] = alias
    declared_alias = alias or f"alias/{name}"
    if k.description:
        entry["description"] = k.description
    if replica_regions:
        entry["replica_regions"] = replica_regions
    adopt: dict[str, Any] = {"aws_key_id": k.key_id}

    # rotation: the tier's, keeping a tighter period the key already has
    rot = obs.rotation
    if rotates:
        if rot is None:
            out.block("its rotation status could not be read")
        elif not rot.enabled:
            out.changes.append(f"automatic rotation: off -> on, every "
                               f"{pol.max_rotation_period_in_days} days (the {pol.tier.value} "
                               "tier's)")
        elif rot.period_in_days is not None and rot.period_in_days > pol.max_rotation_period_in_days:
            out.changes.append(f"rotation period: {rot.period_in_days} -> "
                               f"{pol.max_rotation_period_in_days} days (the tier's maximum)")
        elif rot.period_in_days is not None \
                and AWS_KMS_ROTATION_PERIOD.contains(rot.period_in_days):
            entry["rotation_period_in_days"] = rot.period_in_days
    else:
        created = _created_on(k.creation_date, out)
        entry["generation"] = 1
        entry["generations"] = [{"generation": 1, "created_on": created}]
        adopt["generation"] = 1
        _age_note(out, created, pol, today)

    # imported material needs its escrow copy named
    if origin is Origin.EXTERNAL:
        copy = escrow.get(name) or escrow.get(k.key_id) or escrow.get(k.arn)
        if copy is None:
            out.block(f"imported key material needs its encrypted escrow copy: pass --escrow "
                      f"{name}=<s3:// or gs:// location>:<wrapping key of this environment>")
        else:
            entry["escrow"] = {"location": copy.location, "wrapping_key": copy.wrapping_key}
        out.reasons.append("if its material expires (ValidTo), the plan also shows valid_to "
                           "leaving the configuration (no api call)")
        out.review = True

    # the custom key store: keyplane's own, or recorded by name
    if origin is Origin.CLOUDHSM:
        stores = {s.id: s.name for s in observed.key_stores or []}
        store = stores.get(k.custom_key_store_id or "")
        if observed.key_stores is None:
            out.block("the custom key stores could not be read, so the store of this key is "
                      "unknown")
        elif store is None:
            out.block(f"custom key store {k.custom_key_store_id} of the key was not found")
        elif store != names.custom_key_store_name(env.name):
            adopt["custom_key_store"] = store
            out.left.append(f"custom key store {store}: the stack finds it by name and never "
                            f"changes it (keyplane's own is "
                            f"{names.custom_key_store_name(env.name)})")

    # aliases: the declared one imported where it exists, created where it does not
    if alias:
        adopt["aliases"] = [alias]
        out.imports.append(f"alias {alias} ({home})")
    else:
        out.creates.append(f"alias {declared_alias} ({home})")
    out.left += [f"alias {a} ({home}): not managed by keyplane, left as it is"
                 for a in home_aliases if a != alias]
    if "generation" in entry:
        gen_alias = names.generation_alias(declared_alias, 1)
        holder = next((a for a in aliases.get(home, []) if a.name == gen_alias), None)
        if holder is not None:
            out.block(f"alias {gen_alias} exists ({home}, key {holder.target_key_id}); keyplane "
                      "names generation 1 of this key so: rename that alias first")
        else:
            out.creates.append(f"alias {gen_alias} ({home}): the generation alias")
    replica_ids: dict[str, str] = {}
    replica_aliases: dict[str, list[str]] = {}
    for region in replica_regions:
        replica_ids[region] = k.key_id  # a multi-Region replica shares its primary's key id
        out.imports.append(f"replica {k.key_id} ({region})")
        if region not in aliases:
            out.reasons.append(f"the aliases of {region} were not read (pass --region {region}): "
                               f"if {declared_alias} exists there, the apply fails on it")
            out.review = True
            continue
        there = {a.name: a.target_key_id for a in aliases[region]}
        if declared_alias in there:
            if there[declared_alias] == k.key_id:
                replica_aliases[region] = [declared_alias]
                out.imports.append(f"alias {declared_alias} ({region})")
            else:
                out.block(f"alias {declared_alias} in {region} points to another key "
                          f"({there[declared_alias]}); keyplane points it at this key's replica")
        else:
            out.creates.append(f"alias {declared_alias} ({region})")
        out.left += [f"alias {a} ({region}): not managed by keyplane, left as it is"
                     for a, target in sorted(there.items())
                     if target == k.key_id and a != declared_alias]
        if "generation" in entry:
            out.creates.append(f"alias {names.generation_alias(declared_alias, 1)} ({region})")
    if replica_ids:
        adopt["replicas"] = replica_ids
    if replica_aliases:
        adopt["replica_aliases"] = replica_aliases
    unread = [r for r in replica_regions if r not in replicas]
    if unread:
        out.reasons.append(f"the replica(s) in {', '.join(unread)} were not read; their key id is "
                           "the primary's (multi-region keys share it)")

    own = _own(tags, _RESERVED_TAG)
    if own:
        adopt["tags"] = own
    entry_tags = "keyplane:env, keyplane:tier, keyplane:key" + (
        ", keyplane:generation, keyplane:created-on" if "generation" in entry else "")
    out.changes.append(f"tags: {entry_tags} added" + (" (its own tags kept)" if own else ""))
    out.changes.append(f"key policy: replaced by keyplane's {choice.tier.value} key policy "
                       "(key admins, users, deletion guard, auditors)")
    out.changes.append(f"deletion_window_in_days: {pol.default_deletion_window_in_days}, "
                       "bypass_policy_lockout_safety_check: false (terraform state only: aws "
                       "reads the window when deletion is scheduled; no api call)")
    if replica_regions:
        out.changes.append("replicas: the same tags, key policy and deletion window")
    for region, robs in sorted(replicas.items()):
        if robs.key.description != k.description:
            out.changes.append(f"replica description ({region}): {robs.key.description!r} -> "
                               f"{k.description!r} (the primary's)")
    out.imports.insert(0, f"key {k.key_id} ({home})")
    if out.review:
        entry["review"] = True
    entry["adopt"] = adopt
    out.entry = entry
    if out.writable:
        taken.take(name, alias)
    return out


# ---- GCP -----------------------------------------------------------------------------------


def _gcp_key(state: ExpectedState, gobs: ObservedGcpKey, rules: TierRules,
             escrow: Mapping[str, Escrow], taken: _Names, managed_rings: set[tuple[str, str]],
             today: dt.date, owner: str | None) -> KeyAdoption:
    env = state.env
    assert env.gcp is not None
    ck = gobs.key
    parts = ck.name.split("/")
    project, location = (parts[1], parts[3]) if len(parts) >= 8 else ("", "")
    ring = ck.key_ring.rsplit("/", 1)[-1]
    name = ck.key_id
    labels = ck.labels
    suggested = _suggested(state, custom_store=False, name=_slug(name))
    choice = rules.choose(tags=labels, aliases=(), suggested=suggested, kind=env.kind)
    out = KeyAdoption(cloud=Cloud.GCP, resource=ck.name, key_id=ck.name, name=name,
                      tier=choice.tier, why=choice.why, review=not choice.sure)
    pol = policy_for(choice.tier)
    if project != env.gcp.project_id:
        out.block(f"the key is in project {project or '?'}, not {env.gcp.project_id}")
    if not _NAME.match(name):
        out.block(f"crypto key id '{name}' is not a keyplane key name ({NAME_PATTERN}); keyplane "
                  "names gcp keys by their crypto key id, which cannot change")
    elif not taken.free(name, implied_alias=False):
        out.block(f"the inventory already has a key named like '{name}'")
    info = GCP_ALGORITHMS.get(ck.algorithm)
    usage = _GCP_USAGE.get(ck.purpose)
    if info is None or usage is None:
        out.block(f"purpose {ck.purpose} with algorithm {ck.algorithm} is not one keyplane "
                  "manages")
        return out
    if usage not in info.usages or gcp_purpose(usage, info.family) != ck.purpose:
        out.block(f"algorithm {ck.algorithm} does not match purpose {ck.purpose}")
        return out
    if ck.protection_level not in pol.gcp_protection_levels:
        out.block(f"protection level {ck.protection_level} is not allowed for the "
                  f"{choice.tier.value} tier ({', '.join(sorted(pol.gcp_protection_levels))}); "
                  "it is fixed when the key is created")
    if info.rsa_bits is not None and info.rsa_bits < pol.min_rsa_bits:
        out.block(f"{ck.algorithm} has {info.rsa_bits}-bit rsa; the {choice.tier.value} tier "
                  f"needs at least {pol.min_rsa_bits} bits")
    imported = bool(ck.import_only)
    if ck.import_only is None:
        out.block("whether the key is import-only could not be read (it is fixed at creation)")
    if imported and not pol.external_origin_allowed:
        out.block(f"{choice.tier.value} keys are never imported material; this key is "
                  "import-only")
    seconds = ck.destroy_scheduled_duration_seconds
    window: int | None = None
    if seconds is None or seconds % SECONDS_PER_DAY:
        out.block(f"destroy-scheduled duration {seconds}s is not a whole number of days; it is "
                  "fixed when the key is created")
    else:
        window = seconds // SECONDS_PER_DAY
        if not GCP_DESTROY_SCHEDULED_DURATION.contains(window) \
                or window < pol.min_deletion_window_in_days:
            out.block(f"destroy-scheduled duration {window} days is below the "
                      f"{choice.tier.value} tier's {pol.min_deletion_window_in_days} days; it is "
                      "fixed when the key is created")

    entry: dict[str, Any] = {"name": name, "tier": choice.tier.value, "cloud": "gcp",
                             "usage": usage.value, "spec": ck.algorithm, "key_ring": ring,
                             "location": location, "protection_level": ck.protection_level}
    if (who := _owner(owner, labels)) is not None:
        entry["owner"] = who
    if imported:
        entry["origin"] = Origin.EXTERNAL.value
    if window is not None:
        entry["deletion_window_in_days"] = window
    adopt: dict[str, Any] = {"gcp_crypto_key": ck.name}
    if (ring, location) not in managed_rings:
        adopt["key_ring"] = ck.key_ring
        out.imports.append(f"key ring {ck.key_ring}")
    rotates = info.family is KeyFamily.SYMMETRIC and not imported
    if rotates:
        period = ck.rotation_period_seconds
        top = pol.max_rotation_period_in_days
        if not period:
            out.changes.append(f"rotation_period: none -> {top} days (the {choice.tier.value} "
                               "tier's)")
        elif period % SECONDS_PER_DAY or period // SECONDS_PER_DAY > top:
            out.changes.append(f"rotation_period: {period}s -> {top} days (the tier's maximum)")
        else:
            entry["rotation_period_in_days"] = period // SECONDS_PER_DAY
    else:
        versions = gobs.versions
        if versions is None:
            out.block("its key versions could not be read")
            versions = []
        enabled = sorted((v for v in versions if v.state == "ENABLED"),
                         key=lambda v: (v.create_time or dt.datetime.min.replace(tzinfo=dt.UTC),
                                        v.name))
        current = enabled[-1] if enabled else None
        created = _created_on(current.create_time if current else ck.create_time, out)
        entry["generation"] = 1
        entry["generations"] = [{"generation": 1, "created_on": created}]
        adopt["generation"] = 1
        _age_note(out, created, pol, today)
        if imported:
            out.creates.append("an import job for the next imported version")
        elif current is not None:
            adopt["crypto_key_version"] = current.name
            out.imports.append(f"version {current.name} as generation 1")
        else:
            out.creates.append("a new key version as generation 1 (the key has no enabled "
                               "version)")
            out.reasons.append("the key has no enabled version: the plan creates one")
            out.review = True
        others = [v.name for v in enabled if v is not current]
        if others and not imported:
            out.left += [f"version {v}: enabled, not managed by keyplane (left as it is)"
                         for v in others]
            out.reasons.append(f"{len(others)} more enabled version(s) stay outside keyplane")
            out.review = True
    if imported:
        copy = escrow.get(name) or escrow.get(ck.name)
        if copy is None:
            out.block(f"imported key material needs its encrypted escrow copy: pass --escrow "
                      f"{name}=gs://<bucket>/<path>:<wrapping key of this environment>")
        else:
            entry["escrow"] = {"location": copy.location, "wrapping_key": copy.wrapping_key}
    own = _own(labels, _RESERVED_LABEL)
    if own:
        adopt["labels"] = own
    out.imports.insert(0, f"crypto key {ck.name}")
    out.changes.append("labels: keyplane-env, keyplane-tier, keyplane-key" +
                       (", keyplane-generation, keyplane-created-on" if "generation" in entry
                        else "") + " added" + (" (its own labels kept)" if own else ""))
    out.creates.append("iam members keyplane grants on the key (additive; existing bindings "
                       "stay)")
    if out.review:
        entry["review"] = True
    entry["adopt"] = adopt
    out.entry = entry
    if out.writable:
        taken.take(name, None)
    return out


# ---- roles ---------------------------------------------------------------------------------


def existing_roles(roles: Iterable[IamRole] | None, planned: IamPlan, env: str
                   ) -> tuple[list[str], list[str], list[str]]:
    """(roles to import, roles whose inline policy is imported too, notes): the keyplane
    roles `planned` names that exist already, at the path keyplane gives them ("/"), and
    that keyplane did not make (a role tagged `keyplane:env` for this environment is in a
    keyplane stack already)."""
    by_name = {r.name: r for r in planned.roles}
    out: list[str] = []
    policies: list[str] = []
    notes: list[str] = []
    for role in sorted(roles or (), key=lambda r: r.name):
        plan = by_name.get(role.name)
        if plan is None or role.tags.get(AWS_TAG_ENV) == env:
            continue
        if not role.arn.endswith(f":role/{role.name}"):
            notes.append(f"role {role.name} exists at another path ({role.arn}); keyplane's is "
                         "at / and the name is taken: rename or remove it before the apply")
            continue
        out.append(role.name)
        ours = {p.name for p in plan.inline_policies}
        if ours & set(role.inline_policies):
            policies.append(role.name)
        notes.append(f"role {role.name} exists: imported; its trust policy, description, tags"
                     + (" and inline policy" if plan.inline_policies else "")
                     + " become keyplane's")
    return out, policies, notes


# ---- the plan ------------------------------------------------------------------------------


def plan_adoption(*, state: ExpectedState, observed: Observed, matched: Matched,
                  rules: TierRules, escrow: Mapping[str, Escrow] | None = None,
                  owner: str | None = None, today: dt.date | None = None) -> AdoptionPlan:
    """An adoption for every key of `observed` that keyplane does not manage (`matched`'s
    undeclared keys), skipping keys the inventory adopts already and keys pending deletion.
    `owner` (default: each key's own `owner` tag or label) is written on every entry."""
    env = state.env
    escrow = escrow or {}
    today = today or dt.datetime.now(dt.UTC).date()
    plan = AdoptionPlan(env=env.name)
    adopted = {k.adopt.aws_key_id for k in env.keys if k.adopt and k.adopt.aws_key_id}
    adopted |= {k.adopt.gcp_crypto_key for k in env.keys if k.adopt and k.adopt.gcp_crypto_key}
    home = env.aws.region if env.aws is not None else None
    account_aliases = [a.name for a in observed.aliases.get(home or "", [])]
    taken = _Names(env, account_aliases)

    primaries: list[ObservedAwsKey] = []
    replicas: dict[str, dict[str, ObservedAwsKey]] = {}
    for obs in sorted(matched.aws_undeclared, key=lambda o: o.key.arn):
        k = obs.key
        if k.key_id in adopted:
            plan.notes.append(f"{k.arn}: already adopted in the inventory (not yet applied)")
        elif k.key_state in ("PendingDeletion", "PendingReplicaDeletion"):
            plan.notes.append(f"{k.arn}: pending deletion, not adopted")
        elif k.multi_region_role == "REPLICA":
            replicas.setdefault(k.key_id, {})[k.region] = obs
        else:
            primaries.append(obs)
    by_id = {o.key.key_id for o in primaries}
    for key_id, where in sorted(replicas.items()):
        if key_id not in by_id and key_id not in adopted:
            for region, obs in sorted(where.items()):
                plan.notes.append(f"{obs.key.arn}: a replica whose primary "
                                  f"({obs.key.primary_region}) is not an unmanaged key of "
                                  f"{home}: adopt its primary, or add {region} to the "
                                  "primary's replica_regions")
    # keys with an alias are named first, so a bare key never takes an aliased key's name
    primaries.sort(key=lambda o: (not any(a.target_key_id == o.key.key_id
                                          for a in observed.aliases.get(home or "", [])),
                                  o.key.arn))
    for obs in primaries:
        plan.keys.append(_aws_key(state, observed, obs, replicas.get(obs.key.key_id, {}),
                                  observed.aliases, rules, escrow, taken, today, owner))

    managed_rings = {(k.key_ring or "", k.location or "") for k in env.keys_on(Cloud.GCP)}
    if env.gcp is not None and env.keys_on(Cloud.GCP):
        managed_rings.add((env.gcp.key_ring or names.gcp_default_key_ring_name(env.name),
                           env.gcp.location))
    for gobs in sorted(matched.gcp_undeclared, key=lambda o: o.key.name):
        if gobs.key.name in adopted:
            plan.notes.append(f"{gobs.key.name}: already adopted in the inventory (not yet "
                              "applied)")
            continue
        plan.keys.append(_gcp_key(state, gobs, rules, escrow, taken, managed_rings, today,
                                  owner))
    return plan

