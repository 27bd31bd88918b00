"""Cross-field checks of one environment, and the filling-in of implied values.

Each check appends located problems and carries on, so a file's every problem is
reported in one run. Numbers come from the tier table and the provider limits;
none is repeated here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from keyplane.errors import Problem
from keyplane.model import limits
from keyplane.model.certificates import check_owner_and_certificates
from keyplane.model.environment import AWS_REGION_PATTERN, NAME_PATTERN, Environment, KeyDecl
from keyplane.model.gcp_locations import hsm_available, hsm_source
from keyplane.model.source import Path_, SourceDoc
from keyplane.model.specs import (
    DEFAULT_SPEC,
    SPECS,
    Cloud,
    KeyFamily,
    Origin,
    rotation_eligibility,
)
from keyplane.model.tiers import AwsProtection, SeparationOfDuties, Tier, policy_for

_NAME = re.compile(NAME_PATTERN)
_ALIAS = re.compile(limits.AWS_ALIAS_PATTERN)
_GCP_ID = re.compile(limits.GCP_ID_PATTERN)
_REGION = re.compile(AWS_REGION_PATTERN)


def confusable_form(name: str) -> str:
    """The form under which two names count as the same (case, width, `_` vs `-`)."""
    return unicodedata.normalize("NFKC", name).casefold().replace("_", "-")


@dataclass
class Checker:
    """Collects the problems of one file."""

    doc: SourceDoc
    problems: list[Problem] = field(default_factory=list)

    def add(self, code: str, message: str, path: Path_) -> None:
        """Record one problem at `path`."""
        self.problems.append(self.doc.problem(code, message, path))


# ---- checks on raw data (they run even when the structure is invalid) ----

def check_duplicates(chk: Checker, data: dict[str, Any]) -> None:
    """Duplicate or confusable key names, aliases and workload names, naming both places."""
    def scan(items: Any, section: str, fld: str, what: str) -> None:
        if not isinstance(items, list):
            return
        seen: dict[str, tuple[int, str]] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get(fld), str):
                continue
            value = item[fld]
            form = confusable_form(value)
            if form in seen:
                j, first = seen[form]
                line, col = chk.doc.where((section, j, fld))
                same = "duplicate" if first == value else "confusable"
                chk.add("KP106", f"{same} {what} '{value}': also declared as '{first}' at "
                                 f"{chk.doc.file}:{line}:{col}", (section, i, fld))
            else:
                seen[form] = (i, value)

    scan(data.get("keys"), "keys", "name", "key name")
    scan(data.get("keys"), "keys", "alias", "alias")
    scan(data.get("workloads"), "workloads", "name", "workload name")
    # an explicit alias may collide with another key's implied alias/<name>
    keys = data.get("keys")
    if isinstance(keys, list):
        implied = {confusable_form(f"alias/{k['name']}"): i for i, k in enumerate(keys)
                   if isinstance(k, dict) and isinstance(k.get("name"), str)
                   and k.get("cloud") == "aws" and "alias" not in k}
        for i, k in enumerate(keys):
            alias = k.get("alias") if isinstance(k, dict) else None
            if isinstance(alias, str) and confusable_form(alias) in implied:
                j = implied[confusable_form(alias)]
                if j != i:
                    line, col = chk.doc.where(("keys", j, "name"))
                    chk.add("KP106", f"alias '{alias}' is also the implied alias of the key at "
                                     f"{chk.doc.file}:{line}:{col}", ("keys", i, "alias"))


# ---- checks on the validated model ----

def _check_names(chk: Checker, env: Environment) -> None:
    if not _NAME.match(env.name):
        chk.add("KP107", f"environment name '{env.name}' must match {NAME_PATTERN}", ("name",))
    for i, wl in enumerate(env.workloads):
        if not _NAME.match(wl.name):
            chk.add("KP107", f"workload name '{wl.name}' must match {NAME_PATTERN}",
                    ("workloads", i, "name"))
    for i, key in enumerate(env.keys):
        p: Path_ = ("keys", i)
        if not _NAME.match(key.name):
            chk.add("KP107", f"key name '{key.name}' must be 1-63 lowercase letters, digits and "
                             f"hyphens ({NAME_PATTERN})", (*p, "name"))
        if key.alias is not None:
            if key.cloud is not Cloud.AWS:
                chk.add("KP113", "alias applies to aws keys only; gcp keys are named by their "
                                 "crypto key id (the key name)", (*p, "alias"))
            elif key.alias.lower().startswith(limits.AWS_RESERVED_ALIAS_PREFIX):
                chk.add("KP107", f"alias '{key.alias}' is reserved for aws managed keys "
                                 "(alias/aws/...); choose another", (*p, "alias"))
            elif not _ALIAS.match(key.alias):
                chk.add("KP107", f"alias '{key.alias}' must start with 'alias/' and contain only "
                                 "letters, digits, '/', '_' and '-'", (*p, "alias"))
        for fld in ("key_ring",):
            value = getattr(key, fld)
            if value is not None and not _GCP_ID.match(value):
                chk.add("KP107", f"{fld} '{value}' must match {limits.GCP_ID_PATTERN}",
                        (*p, fld))
        if key.cloud is Cloud.GCP and not _GCP_ID.match(key.name):
            chk.add("KP107", f"gcp crypto key id '{key.name}' must match {limits.GCP_ID_PATTERN}",
                    (*p, "name"))
    if env.gcp and env.gcp.key_ring is not None and not _GCP_ID.match(env.gcp.key_ring):
        chk.add("KP107", f"key_ring '{env.gcp.key_ring}' must match {limits.GCP_ID_PATTERN}",
                ("gcp", "key_ring"))
    if env.aws:
        for j, region in enumerate(env.aws.replica_regions):
            if not _REGION.match(region):
                chk.add("KP104", f"replica region '{region}' is not an aws region name",
                        ("aws", "replica_regions", j))
            elif region == env.aws.region:
                chk.add("KP113", f"replica region '{region}' is the primary region",
                        ("aws", "replica_regions", j))


def _check_cloud_sections(chk: Checker, env: Environment) -> None:
    for i, key in enumerate(env.keys):
        if key.cloud is Cloud.AWS and env.aws is None:
            chk.add("KP105", f"key '{key.name}' is on aws but the environment has no 'aws' "
                             "section (account_id, region)", ("keys", i, "cloud"))
        if key.cloud is Cloud.GCP and env.gcp is None:
            chk.add("KP105", f"key '{key.name}' is on gcp but the environment has no 'gcp' "
                             "section (project_id, location)", ("keys", i, "cloud"))


def _check_spec(chk: Checker, key: KeyDecl, p: Path_) -> KeyFamily | None:
    spec = key.spec or DEFAULT_SPEC[(key.cloud, key.usage)]
    known = SPECS[key.cloud]
    if spec not in known:
        chk.add("KP104", f"spec '{spec}' is not a {key.cloud.value} key spec; allowed: "
                         f"{', '.join(known)}", (*p, "spec"))
        return None
    info = known[spec]
    if key.usage not in info.usages:
        allowed = ", ".join(sorted(u.value for u in info.usages))
        chk.add("KP113", f"spec '{spec}' cannot be used to {key.usage.value}; it supports: "
                         f"{allowed}", (*p, "usage"))
    pol = policy_for(key.tier)
    if info.rsa_bits is not None and info.rsa_bits < pol.min_rsa_bits:
        chk.add("KP110", f"spec '{spec}' has {info.rsa_bits}-bit rsa; the {key.tier.value} tier "
                         f"needs at least {pol.min_rsa_bits} bits", (*p, "spec"))
    return info.family


def _resolve_key(chk: Checker, env: Environment, key: KeyDecl, i: int) -> KeyDecl:
    """Check one key against its tier and the provider limits; return it with defaults filled."""
    p: Path_ = ("keys", i)
    pol = policy_for(key.tier)
    family = _check_spec(chk, key, p)
    update: dict[str, Any] = {"spec": key.spec or DEFAULT_SPEC[(key.cloud, key.usage)]}

    # environment kind and tier
    if env.kind not in pol.environment_kinds:
        allowed = ", ".join(sorted(k.value for k in pol.environment_kinds))
        chk.add("KP108", f"a {key.tier.value} key cannot live in a {env.kind.value} environment; "
                         f"allowed: {allowed}", (*p, "tier"))

    # origin and protection
    origin = key.origin
    if key.cloud is Cloud.AWS:
        if origin is None:
            origin = Origin.CLOUDHSM if pol.aws_protection is AwsProtection.CLOUDHSM else Origin.KMS
        if pol.aws_protection is AwsProtection.CLOUDHSM and origin is not Origin.CLOUDHSM:
            chk.add("KP110", f"{key.tier.value} keys on aws must be in the cloudhsm custom key "
                             f"store (origin: cloudhsm), got '{origin.value}'", (*p, "origin"))
        if origin is Origin.CLOUDHSM:
            if family is not None and update["spec"] != "SYMMETRIC_DEFAULT":
                chk.add("KP113", "aws custom key stores hold only SYMMETRIC_DEFAULT keys "
                                 f"(got '{update['spec']}'); declare the signing key on gcp "
                                 "with protection HSM, or use this key to wrap the ca key "
                                 "material held in the cloudhsm cluster", (*p, "spec"))
            if env.aws is not None and env.aws.cloudhsm is None:
                chk.add("KP105", "origin cloudhsm needs an 'aws.cloudhsm' section (hsms, "
                                 "key_store_password_ssm_parameter)", (*p, "origin"))
        if key.protection_level is not None:
            chk.add("KP113", "protection_level applies to gcp keys only; aws protection "
                             "follows origin", (*p, "protection_level"))
    else:
        if origin is None:
            origin = Origin.KMS
        if origin is Origin.CLOUDHSM:
            chk.add("KP113", "origin cloudhsm is an aws custom key store; gcp keys use "
                             "protection_level HSM", (*p, "origin"))
        level = key.protection_level or pol.gcp_default_protection_level
        if level not in pol.gcp_protection_levels:
            allowed = ", ".join(sorted(pol.gcp_protection_levels))
            chk.add("KP110", f"protection_level '{level}' is below the {key.tier.value} tier; "
                             f"allowed: {allowed}", (*p, "protection_level"))
        update["protection_level"] = level
        if env.gcp is not None:
            update["location"] = key.location or env.gcp.location
            if level == "HSM" and hsm_available(update["location"]) is False:
                chk.add("KP117", f"protection_level HSM is not offered in gcp location "
                                 f"'{update['location']}'; choose a regional or multi-regional "
                                 f"location ({hsm_source(update['location'])})",
                        (*p, "location") if key.location else (*p, "protection_level"))
            update["key_ring"] = key.key_ring or env.gcp.key_ring or f"keyplane-{env.name}"
    update["origin"] = origin

    if origin is Origin.EXTERNAL:
        if not pol.external_origin_allowed:
            chk.add("KP110", f"{key.tier.value} keys are never exportable; origin external is "
                             "allowed only for non-production keys", (*p, "origin"))
        elif key.escrow is None:
            chk.add("KP105", "origin external needs an 'escrow' (location, wrapping_key): the "
                             "encrypted escrow copy of the imported material", (*p, "origin"))
        elif key.escrow.wrapping_key not in {k.name for k in env.keys}:
            chk.add("KP114", f"escrow wrapping_key '{key.escrow.wrapping_key}' is not a key of "
                             "this environment", (*p, "escrow", "wrapping_key"))
    elif key.escrow is not None:
        chk.add("KP113", "escrow applies to keys with origin external only", (*p, "escrow"))

    if key.cloud is Cloud.AWS and key.alias is None:
        update["alias"] = f"alias/{key.name}"

    # replicas (aws multi-Region)
    replicas = key.replica_regions
    if key.cloud is Cloud.AWS:
        if replicas is None:
            replicas = env.aws.replica_regions if (
                env.aws is not None and pol.min_replica_regions > 0) else ()
        if replicas and not pol.replicas_allowed:
            why = (" (custom key stores are single-region; recovery is through cloudhsm backups)"
                   if key.tier is Tier.CA else "")
            chk.add("KP113", f"{key.tier.value} keys have no multi-region replicas{why}",
                    (*p, "replica_regions"))
        if len(replicas) < pol.min_replica_regions:
            chk.add("KP110", f"{key.tier.value} keys need at least {pol.min_replica_regions} "
                             f"replica region(s), got {len(replicas)}; set aws.replica_regions",
                    (*p, "replica_regions"))
        for region in replicas:
            if env.aws is not None and region == env.aws.region:
                chk.add("KP113", f"replica region '{region}' is the primary region",
                        (*p, "replica_regions"))
    elif replicas:
        chk.add("KP113", "replica_regions applies to aws keys only; choose a multi-region "
                         "location for gcp keys", (*p, "replica_regions"))
        replicas = ()
    update["replica_regions"] = tuple(replicas or ())

    # deletion window
    window = key.deletion_window_in_days
    if window is None:
        window = pol.default_deletion_window_in_days
    else:
        limit = (limits.AWS_KMS_DELETION_WINDOW if key.cloud is Cloud.AWS
                 else limits.GCP_DESTROY_SCHEDULED_DURATION)
        if not limit.contains(window):
            chk.add("KP109", f"deletion_window_in_days must be {limit.describe()}, got {window} "
                             f"({limit.source})", (*p, "deletion_window_in_days"))
        elif window < pol.min_deletion_window_in_days:
            chk.add("KP110", f"deletion_window_in_days must be at least "
                             f"{pol.min_deletion_window_in_days} for the {key.tier.value} tier, "
                             f"got {window}", (*p, "deletion_window_in_days"))
    update["deletion_window_in_days"] = window

    # rotation: automatic where eligible, generations elsewhere
    if family is not None:
        elig = rotation_eligibility(cloud=key.cloud, family=family, origin=origin,
                                    custom_key_store=origin is Origin.CLOUDHSM)
        if elig:
            _resolve_automatic(chk, key, p, update)
        else:
            if key.rotation_period_in_days is not None:
                chk.add("KP111", f"key '{key.name}' cannot rotate automatically: {elig.reason} "
                                 "(declare 'generation' and 'generations' instead of "
                                 "rotation_period_in_days)", (*p, "rotation_period_in_days"))
            _resolve_generations(chk, key, p, update)
    return key.model_copy(update=update)


def _resolve_automatic(chk: Checker, key: KeyDecl, p: Path_, update: dict[str, Any]) -> None:
    pol = policy_for(key.tier)
    period = key.rotation_period_in_days
    if period is None:
        period = pol.max_rotation_period_in_days
    elif key.cloud is Cloud.AWS and not limits.AWS_KMS_ROTATION_PERIOD.contains(period):
        lim = limits.AWS_KMS_ROTATION_PERIOD
        chk.add("KP109", f"rotation_period_in_days must be {lim.describe()}, got {period} "
                         f"({lim.source})", (*p, "rotation_period_in_days"))
    elif key.cloud is Cloud.GCP and not limits.GCP_ROTATION_PERIOD_HOURS.contains(period * 24):
        lim = limits.GCP_ROTATION_PERIOD_HOURS
        chk.add("KP109", f"rotation_period_in_days must be {lim.describe()} on gcp, got "
                         f"{period * 24} hours ({lim.source})", (*p, "rotation_period_in_days"))
    elif period > pol.max_rotation_period_in_days:
        chk.add("KP110", f"rotation_period_in_days must be at most "
                         f"{pol.max_rotation_period_in_days} for the {key.tier.value} tier, "
                         f"got {period}", (*p, "rotation_period_in_days"))
    update["rotation_period_in_days"] = period
    if key.generations or key.generation is not None:
        chk.add("KP113", f"key '{key.name}' rotates automatically; generations are for keys that "
                         "cannot (asymmetric, hmac, imported, custom key store)",
                (*p, "generations" if key.generations else "generation"))
    if key.max_key_age_in_days is not None:
        chk.add("KP113", "max_key_age_in_days applies to keys that cannot rotate automatically",
                (*p, "max_key_age_in_days"))


def _resolve_generations(chk: Checker, key: KeyDecl, p: Path_, update: dict[str, Any]) -> None:
    pol = policy_for(key.tier)
    age = key.max_key_age_in_days
    if age is None:
        age = pol.max_key_age_in_days
    elif age > pol.max_key_age_in_days:
        chk.add("KP110", f"max_key_age_in_days must be at most {pol.max_key_age_in_days} for the "
                         f"{key.tier.value} tier, got {age}", (*p, "max_key_age_in_days"))
    elif age < 1:
        chk.add("KP104", f"max_key_age_in_days must be at least 1, got {age}",
                (*p, "max_key_age_in_days"))
    update["max_key_age_in_days"] = age
    if key.generation is None or not key.generations:
        chk.add("KP105", f"key '{key.name}' cannot rotate automatically, so it needs "
                         "'generation: N' (the current one) and 'generations' (each with "
                         "created_on)", p)
        return
    numbers = [g.generation for g in key.generations]
    for j, g in enumerate(key.generations):
        gp: Path_ = (*p, "generations", j)
        if numbers.count(g.generation) > 1 and numbers.index(g.generation) != j:
            chk.add("KP106", f"generation {g.generation} is listed twice", (*gp, "generation"))
        if g.generation == key.generation:
            if g.verify_until is not None or not g.enabled:
                chk.add("KP115", f"generation {g.generation} is current; it has no verify_until "
                                 "and cannot be disabled", gp)
            continue
        if g.generation > key.generation:
            chk.add("KP115", f"generation {g.generation} is newer than the current generation "
                             f"{key.generation}; set 'generation: {g.generation}'",
                    (*gp, "generation"))
        if g.verify_until is None:
            chk.add("KP105", f"generation {g.generation} is not current, so it needs "
                             "verify_until (the end of its verification overlap)", gp)
        elif g.verify_until < g.created_on:
            chk.add("KP115", f"generation {g.generation}: verify_until {g.verify_until} is before "
                             f"created_on {g.created_on}", (*gp, "verify_until"))
    if key.generation not in numbers:
        chk.add("KP115", f"current generation {key.generation} is not in 'generations'; listed: "
                         f"{', '.join(map(str, sorted(numbers)))}", (*p, "generation"))


def _check_principals(chk: Checker, env: Environment) -> None:
    names = {w.name for w in env.workloads}
    tiers = set(env.tiers())
    for i, key in enumerate(env.keys):
        pol = policy_for(key.tier)
        for j, user in enumerate(key.users):
            if user not in names:
                chk.add("KP114", f"key '{key.name}' names user '{user}', which is not a workload "
                                 f"of this environment; declared: {', '.join(sorted(names)) or '-'}",
                        ("keys", i, "users", j))
                continue
            wl = env.workload(user)
            if wl.human and not pol.human_use_allowed:
                chk.add("KP116", f"human workload '{user}' cannot use a {key.tier.value} key; "
                                 "humans may use non-production keys only (with mfa)",
                        ("keys", i, "users", j))
            if key.cloud is Cloud.AWS and wl.aws is None:
                chk.add("KP105", f"workload '{user}' uses aws key '{key.name}' but has no 'aws' "
                                 "identity (oidc or role_arn)", ("keys", i, "users", j))
            if key.cloud is Cloud.GCP and wl.gcp is None:
                chk.add("KP105", f"workload '{user}' uses gcp key '{key.name}' but has no 'gcp' "
                                 "member", ("keys", i, "users", j))
        if key.tier is Tier.CA and key.users:
            chk.add("KP116", "ca keys are used only by the ceremony role (principals.ceremony); "
                             "remove 'users'", ("keys", i, "users"))
    for i, wl in enumerate(env.workloads):
        if wl.aws is not None:
            if (wl.aws.oidc is None) == (wl.aws.role_arn is None):
                chk.add("KP113", f"workload '{wl.name}' aws identity needs exactly one of oidc "
                                 "or role_arn", ("workloads", i, "aws"))
            if wl.aws.oidc is not None and any(c in wl.aws.oidc.subject for c in "*?"):
                chk.add("KP116", f"oidc subject of '{wl.name}' must be exact, got a wildcard; "
                                 "name the repository and ref or environment",
                        ("workloads", i, "aws", "oidc", "subject"))
    if Tier.CA in tiers and env.principals.ceremony is None:
        chk.add("KP105", "the environment holds ca keys, so principals.ceremony (the one named "
                         "ceremony role, mfa required) is needed", ("principals",))
    strictest = max(tiers, key=lambda t: t.rank) if tiers else None
    if strictest is None:
        return
    sod = policy_for(strictest).separation_of_duties
    pr = env.principals
    roles = {"key_admins": pr.key_admins, "backup_operators": pr.backup_operators,
             "auditors": pr.auditors, "break_glass": pr.break_glass}
    if pr.ceremony is not None:
        roles["ceremony"] = pr.ceremony
    users: set[str] = set()
    for w in env.workloads:
        if w.aws and w.aws.role_arn:
            users.add(w.aws.role_arn)
        if w.gcp:
            users.add(w.gcp.member)
    if sod is SeparationOfDuties.FULL:
        seen: dict[str, str] = {}
        for role, pset in roles.items():
            for member in (*pset.aws, *pset.gcp):
                if member in seen and seen[member] != role:
                    chk.add("KP116", f"'{member}' is in both {seen[member]} and {role}; the "
                                     f"{strictest.value} tier needs distinct principals",
                            ("principals", role))
                seen.setdefault(member, role)
    if sod in (SeparationOfDuties.FULL, SeparationOfDuties.ADMIN_NOT_USER):
        for member in (*pr.key_admins.aws, *pr.key_admins.gcp):
            if member in users:
                chk.add("KP116", f"key admin '{member}' is also a workload identity; admins "
                                 "cannot use keys", ("principals", "key_admins"))
    for role, pset in roles.items():
        if role in ("key_admins", "break_glass") and not (pset.aws or pset.gcp):
            chk.add("KP105", f"principals.{role} is empty; every environment needs at least one",
                    ("principals", role))


def _check_cloudhsm(chk: Checker, env: Environment) -> Environment:
    if env.aws is None or env.aws.cloudhsm is None:
        return env
    hsm = env.aws.cloudhsm
    base: Path_ = ("aws", "cloudhsm")
    zones = {h.availability_zone for h in hsm.hsms}
    if len(zones) < limits.CLOUDHSM_MIN_HSMS_FOR_KEY_STORE:
        chk.add("KP109", f"a custom key store needs at least "
                         f"{limits.CLOUDHSM_MIN_HSMS_FOR_KEY_STORE} hsms in distinct availability "
                         f"zones, got {len(hsm.hsms)} in {len(zones)}", (*base, "hsms"))
    ca = policy_for(Tier.CA)
    floor = ca.cloudhsm_backup_retention_in_days or limits.CLOUDHSM_BACKUP_RETENTION.minimum
    retention = hsm.backup_retention_in_days
    if retention is None:
        retention = floor
    elif not limits.CLOUDHSM_BACKUP_RETENTION.contains(retention):
        lim = limits.CLOUDHSM_BACKUP_RETENTION
        chk.add("KP109", f"backup_retention_in_days must be {lim.describe()}, got {retention} "
                         f"({lim.source})", (*base, "backup_retention_in_days"))
    elif Tier.CA in env.tiers() and retention < floor:
        chk.add("KP110", f"backup_retention_in_days must be at least {floor} for the ca tier, "
                         f"got {retention}", (*base, "backup_retention_in_days"))
    new_hsm = hsm.model_copy(update={"backup_retention_in_days": retention})
    return env.model_copy(update={"aws": env.aws.model_copy(update={"cloudhsm": new_hsm})})


# ---- adopted keys (`keyplane adopt`): what the first plan imports must be the declared key ----

_KEY_VERSION = re.compile(r"^(?P<key>.+)/cryptoKeyVersions/[0-9]+$")
_AWS_ADOPT_FIELDS = ("aws_key_id", "aliases", "replicas", "replica_aliases", "custom_key_store",
                     "tags")
_GCP_ADOPT_FIELDS = ("gcp_crypto_key", "key_ring", "crypto_key_version", "labels")


def _check_key_adopt(chk: Checker, env: Environment, key: KeyDecl, i: int) -> None:
    """An `adopt` block names the cloud key the entry's key is imported from. Anything that
    would make the import target differ from the declaration (a multi-Region key declared
    single-Region, another key ring, another generation) would replace a key on the first
    apply, so it is refused here, located, instead."""
    adopt = key.adopt
    if adopt is None:
        return
    p: Path_ = ("keys", i, "adopt")
    ours, theirs = ((_AWS_ADOPT_FIELDS, _GCP_ADOPT_FIELDS) if key.cloud is Cloud.AWS
                    else (_GCP_ADOPT_FIELDS, _AWS_ADOPT_FIELDS))
    for fld in theirs:
        if getattr(adopt, fld):
            chk.add("KP120", f"adopt.{fld} applies to {'gcp' if key.cloud is Cloud.AWS else 'aws'}"
                             f" keys only; a {key.cloud.value} key's adopt takes: "
                             f"{', '.join(ours)}, generation", (*p, fld))
    automatic = key.rotation_period_in_days is not None
    if automatic and adopt.generation is not None:
        chk.add("KP120", f"key '{key.name}' rotates automatically, so it has no generations; "
                         "remove adopt.generation", (*p, "generation"))
    elif not automatic:
        numbers = [g.generation for g in key.generations]
        if adopt.generation is None:
            chk.add("KP120", f"key '{key.name}' is managed as generations: adopt.generation "
                             "names the generation the existing key became", p)
        elif adopt.generation not in numbers:
            chk.add("KP120", f"adopt.generation {adopt.generation} is not a declared generation "
                             f"({', '.join(map(str, numbers)) or 'none'}); once the adopted "
                             "generation is retired, remove the adopt block",
                    (*p, "generation"))
    if key.cloud is Cloud.AWS:
        _check_aws_adopt(chk, key, p)
    elif env.gcp is not None:
        _check_gcp_adopt(chk, env.gcp.project_id, key, p)


def _check_aws_adopt(chk: Checker, key: KeyDecl, p: Path_) -> None:
    adopt = key.adopt
    assert adopt is not None
    if adopt.aws_key_id is None:
        chk.add("KP105", "adopt.aws_key_id is required: the key id the entry's key is imported "
                         "from", p)
        return
    multi_region = adopt.aws_key_id.startswith("mrk-")
    if key.replica_regions and not multi_region:
        chk.add("KP120", f"key '{key.name}' declares replica_regions but adopt.aws_key_id "
                         f"'{adopt.aws_key_id}' is a single-region key; a key cannot become "
                         "multi-region (the plan would replace it)", (*p, "aws_key_id"))
    if multi_region and not key.replica_regions:
        chk.add("KP120", f"adopt.aws_key_id '{adopt.aws_key_id}' is a multi-region key; declare "
                         "its replica_regions (without them the plan would replace it)",
                (*p, "aws_key_id"))
    for j, alias in enumerate(adopt.aliases):
        if alias != key.alias:
            chk.add("KP120", f"adopt.aliases: '{alias}' is not the key's alias '{key.alias}'; "
                             "keyplane manages the declared alias only (other aliases are "
                             "left as they are)", (*p, "aliases", j))
    for region, key_id in adopt.replicas.items():
        if region not in (key.replica_regions or ()):
            chk.add("KP120", f"adopt.replicas: region '{region}' is not in replica_regions "
                             f"({', '.join(key.replica_regions or ()) or 'none'})",
                    (*p, "replicas", region))
        elif key_id != adopt.aws_key_id:
            chk.add("KP120", f"adopt.replicas.{region}: '{key_id}' must be the primary's key id "
                             f"'{adopt.aws_key_id}' (a multi-region replica shares it)",
                    (*p, "replicas", region))
    for region, aliases in adopt.replica_aliases.items():
        if region not in adopt.replicas:
            chk.add("KP120", f"adopt.replica_aliases: region '{region}' has no adopted replica "
                             "(adopt.replicas)", (*p, "replica_aliases", region))
        for j, alias in enumerate(aliases):
            if alias != key.alias:
                chk.add("KP120", f"adopt.replica_aliases.{region}: '{alias}' is not the key's "
                                 f"alias '{key.alias}'", (*p, "replica_aliases", region, j))
    if adopt.custom_key_store is not None and key.origin is not Origin.CLOUDHSM:
        chk.add("KP120", "adopt.custom_key_store applies to keys with origin cloudhsm only",
                (*p, "custom_key_store"))
    for tag in adopt.tags:
        if tag.lower().startswith(("keyplane:", "aws:")):
            chk.add("KP120", f"adopt.tags: '{tag}' is reserved (keyplane: tags are keyplane's "
                             "own, aws: tags are aws's)", (*p, "tags", tag))


def _check_gcp_adopt(chk: Checker, project: str, key: KeyDecl, p: Path_) -> None:
    adopt = key.adopt
    assert adopt is not None
    ring = f"projects/{project}/locations/{key.location}/keyRings/{key.key_ring}"
    name = f"{ring}/cryptoKeys/{key.name}"
    if adopt.gcp_crypto_key is None:
        chk.add("KP105", "adopt.gcp_crypto_key is required: the crypto key the entry's key is "
                         "imported from", p)
    elif adopt.gcp_crypto_key != name:
        chk.add("KP120", f"adopt.gcp_crypto_key must be the declared key '{name}' (project, "
                         f"location, key_ring and name of the entry), got "
                         f"'{adopt.gcp_crypto_key}'", (*p, "gcp_crypto_key"))
    if adopt.key_ring is not None and adopt.key_ring != ring:
        chk.add("KP120", f"adopt.key_ring must be the declared key ring '{ring}', got "
                         f"'{adopt.key_ring}'", (*p, "key_ring"))
    version = adopt.crypto_key_version
    if version is not None:
        m = _KEY_VERSION.match(version)
        if m is None or m["key"] != name:
            chk.add("KP120", f"adopt.crypto_key_version must be a version of '{name}' "
                             f"({name}/cryptoKeyVersions/N), got '{version}'",
                    (*p, "crypto_key_version"))
        elif key.rotation_period_in_days is not None or key.origin is Origin.EXTERNAL:
            chk.add("KP120", "adopt.crypto_key_version applies to keys managed as generations "
                             "by terraform (not keys that rotate automatically or take imported "
                             "versions)", (*p, "crypto_key_version"))
    for label in adopt.labels:
        if label.startswith("keyplane-"):
            chk.add("KP120", f"adopt.labels: '{label}' is reserved for keyplane's own labels",
                    (*p, "labels", label))


def _check_environment_adopt(chk: Checker, env: Environment) -> None:
    adopt = env.adopt
    if adopt is None:
        return
    prefix = f"keyplane-{env.name}-"
    if (adopt.aws_roles or adopt.aws_role_policies) and env.aws is None:
        chk.add("KP120", "adopt.aws_roles needs an 'aws' section", ("adopt",))
    for j, role in enumerate(adopt.aws_roles):
        if not role.startswith(prefix):
            chk.add("KP120", f"adopt.aws_roles: '{role}' is not a keyplane role of this "
                             f"environment (they are named {prefix}...)", ("adopt", "aws_roles", j))
    for j, role in enumerate(adopt.aws_role_policies):
        if role not in adopt.aws_roles:
            chk.add("KP120", f"adopt.aws_role_policies: '{role}' is not in adopt.aws_roles; a "
                             "role's inline policy is imported with its role",
                    ("adopt", "aws_role_policies", j))


def check_environment(doc: SourceDoc, env: Environment) -> tuple[Environment, list[Problem]]:
    """Every cross-field problem of `env`, and `env` with its implied values filled in."""
    chk = Checker(doc)
    _check_names(chk, env)
    _check_cloud_sections(chk, env)
    keys = tuple(_resolve_key(chk, env, key, i) for i, key in enumerate(env.keys))
    env = env.model_copy(update={"keys": keys})
    for i, key in enumerate(env.keys):
        _check_key_adopt(chk, env, key, i)
    _check_environment_adopt(chk, env)
    _check_principals(chk, env)
    check_owner_and_certificates(chk, env)
    env = _check_cloudhsm(chk, env)
    return env, chk.problems
