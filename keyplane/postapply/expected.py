"""The expected state of an environment: what should be deployed, resource by resource.

Built from the inventory (every default filled in by the loader, every number from
the tier table) and, when `keyplane synth` has written the stack, overlaid with
what the stack says: key policies, rotation settings, aliases, log groups, trails,
vaults. The synthesized stack wins where it names a value; where a value is known
only after apply it stays unknown, and comparisons skip it.

The sandbox creates exactly this state, so a fresh sandbox has no drift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from keyplane.model.environment import Environment, Generation, KeyDecl
from keyplane.model.limits import cloudwatch_retention_at_least
from keyplane.model.specs import AWS_KEY_USAGE, Cloud, KeyFamily, KeyUsage, Origin, gcp_purpose, spec_info
from keyplane.model.tags import (
    AWS_TAG_CREATED_ON,
    AWS_TAG_ENV,
    AWS_TAG_GENERATION,
    AWS_TAG_KEY,
    AWS_TAG_ROLE,
    GCP_LABEL_ENV,
    ROLE_AUDITOR,
    ROLE_BACKUP_OPERATOR,
    ROLE_BREAK_GLASS,
    ROLE_CEREMONY,
    ROLE_KEY_ADMIN,
    ROLE_KEY_USER,
    SERVICE_KEY_PREFIX,
    aws_tags,
    gcp_labels,
    role_name,
)
from keyplane.model.tiers import TIERS, RotationMode, Tier, highest
from keyplane.policy.policydoc import UNRESOLVED
from keyplane.postapply.synth import SynthStack

_ORIGIN = {Origin.KMS: "AWS_KMS", Origin.CLOUDHSM: "AWS_CLOUDHSM", Origin.EXTERNAL: "EXTERNAL"}

# Cloud KMS predefined roles, by what they let a member do with a key.
GCP_USE_ROLE = {KeyUsage.SIGN: "roles/cloudkms.signerVerifier",
                KeyUsage.ENCRYPT: "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                KeyUsage.MAC: "roles/cloudkms.signerVerifier"}
GCP_ADMIN_ROLE = "roles/cloudkms.admin"


@dataclass(frozen=True, kw_only=True)
class ExpectedAwsKey:
    """One KMS key that should exist: a declared key, or one generation of it."""

    key: KeyDecl
    generation: int | None
    current: bool  # the alias points here
    enabled: bool  # False for a generation past its verification window
    created_on: dt.date | None
    region: str
    key_spec: str
    key_usage: str
    origin: str
    multi_region: bool
    replica_regions: tuple[str, ...]
    rotation_enabled: bool
    rotation_period_in_days: int | None
    deletion_window_in_days: int
    alias: str | None
    tags: dict[str, str]
    policy: dict[str, Any] | None  # None: not known (no stack and no policy builder)
    aliases: tuple[str, ...] = ()  # every alias pointing here (the stack adds per-generation ones)
    address: str | None = None
    construct_path: str | None = None

    @property
    def id(self) -> str:
        """`code-signing` or `code-signing@g4`."""
        return self.key.name if self.generation is None else f"{self.key.name}@g{self.generation}"


@dataclass(frozen=True, kw_only=True)
class ExpectedGcpKey:
    """One Cloud KMS crypto key that should exist."""

    key: KeyDecl
    project: str
    location: str
    key_ring: str
    purpose: str
    algorithm: str
    protection_level: str
    rotation_period_seconds: int | None
    labels: dict[str, str]
    members: dict[str, frozenset[str]]  # role -> members, on the crypto key
    address: str | None = None
    construct_path: str | None = None

    @property
    def key_ring_name(self) -> str:
        """The key ring's full resource name."""
        return f"projects/{self.project}/locations/{self.location}/keyRings/{self.key_ring}"

    @property
    def name(self) -> str:
        """The crypto key's full resource name."""
        return f"{self.key_ring_name}/cryptoKeys/{self.key.name}"


@dataclass(frozen=True, kw_only=True)
class ExpectedLogGroup:
    """The audit log group and the retention the highest tier demands."""

    name: str
    retention_in_days: int
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExpectedTrail:
    """The audit trail: logging on, multi-Region, log-file validation, KMS data events."""

    name: str
    multi_region: bool
    log_file_validation: bool
    kms_data_events: bool
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExpectedVault:
    """The backup vault and its Vault Lock."""

    name: str
    lock_mode: str  # COMPLIANCE | GOVERNANCE
    min_retention_days: int
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExpectedRole:
    """A keyplane IAM role (`keyplane-<env>-<role>`)."""

    name: str
    role: str
    workload: str | None = None
    human: bool = False


@dataclass(frozen=True, kw_only=True)
class ExpectedState:
    """Everything that should be deployed for one environment."""

    env: Environment
    source: str  # "synth <path>" or "inventory"
    aws_keys: tuple[ExpectedAwsKey, ...] = ()
    gcp_keys: tuple[ExpectedGcpKey, ...] = ()
    log_groups: tuple[ExpectedLogGroup, ...] = ()
    trails: tuple[ExpectedTrail, ...] = ()
    vaults: tuple[ExpectedVault, ...] = ()
    cloudhsm_backup_retention_in_days: int | None = None
    roles: tuple[ExpectedRole, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def aws_regions(self) -> tuple[str, ...]:
        """The Regions keyplane reads: the home Region first, then replica Regions."""
        if self.env.aws is None:
            return ()
        regions = [self.env.aws.region]
        for k in self.aws_keys:
            regions += [r for r in k.replica_regions if r not in regions]
        regions += [r for r in self.env.aws.replica_regions if r not in regions]
        return tuple(regions)

    @property
    def gcp_locations(self) -> tuple[str, ...]:
        """The Cloud KMS locations keyplane reads."""
        if self.env.gcp is None:
            return ()
        locs = [self.env.gcp.location]
        locs += [k.location for k in self.gcp_keys if k.location not in locs]
        return tuple(locs)

    def aws_key(self, name: str, generation: int | None) -> ExpectedAwsKey | None:
        """The expected key for a `keyplane:key` tag and `keyplane:generation` tag."""
        for k in self.aws_keys:
            if k.key.name == name and (k.generation is None or k.generation == generation):
                return k
        return None


# --- from the inventory ----------------------------------------------------------------------


def _family(key: KeyDecl) -> KeyFamily:
    assert key.spec is not None
    return spec_info(key.cloud, key.spec).family


def _aws_policy(env: Environment, key: KeyDecl, *, verify_only: bool) -> dict[str, Any] | None:
    """The key policy the constructs would synthesize, when the policy builder is available."""
    try:
        from keyplane.constructs.aws.policy import AccountPrincipals, KeyPolicyInput, key_policy
    except ImportError:
        return None
    try:
        humans = frozenset(w.name for w in env.workloads if w.human)
        return key_policy(KeyPolicyInput(
            principals=AccountPrincipals.of(env), key=key,
            min_deletion_window_in_days=TIERS[key.tier].min_deletion_window_in_days,
            verify_only=verify_only, human_workloads=humans))
    except Exception:  # the builder is another part's code: a failure there means "unknown"
        return None


def _generations(key: KeyDecl) -> list[Generation | None]:
    if key.rotation_mode is RotationMode.AUTOMATIC or not key.generations:
        return [None]
    return sorted(key.generations, key=lambda g: -g.generation)


def _aws_keys(env: Environment) -> list[ExpectedAwsKey]:
    assert env.aws is not None
    out: list[ExpectedAwsKey] = []
    for key in env.keys_on(Cloud.AWS):
        assert key.spec is not None and key.origin is not None
        for gen in _generations(key):
            current = gen is None or gen.generation == key.generation
            tags = aws_tags(env.name, key.tier, key.name)
            if gen is not None:
                tags[AWS_TAG_GENERATION] = str(gen.generation)
                tags[AWS_TAG_CREATED_ON] = gen.created_on.isoformat()
            auto = key.rotation_mode is RotationMode.AUTOMATIC
            out.append(ExpectedAwsKey(
                key=key, generation=gen.generation if gen else None, current=current,
                enabled=current or (gen is not None and gen.enabled),
                created_on=gen.created_on if gen else None,
                region=env.aws.region, key_spec=key.spec, key_usage=AWS_KEY_USAGE[key.usage],
                origin=_ORIGIN[key.origin], multi_region=bool(key.replica_regions),
                replica_regions=tuple(key.replica_regions or ()),
                rotation_enabled=auto, rotation_period_in_days=key.rotation_period_in_days,
                deletion_window_in_days=key.deletion_window_in_days or 30,
                alias=key.alias if current else None, tags=tags,
                aliases=(key.alias,) if current and key.alias else (),
                policy=_aws_policy(env, key, verify_only=not current)))
    return out


def _gcp_members(env: Environment, key: KeyDecl) -> dict[str, frozenset[str]]:
    users = set()
    for name in key.users:
        try:
            wl = env.workload(name)
        except KeyError:
            continue
        if wl.gcp:
            users.add(wl.gcp.member)
    return {GCP_USE_ROLE[key.usage]: frozenset(users)} if users else {}


def _gcp_keys(env: Environment) -> list[ExpectedGcpKey]:
    assert env.gcp is not None
    out = []
    for key in env.keys_on(Cloud.GCP):
        assert key.spec is not None
        period = key.rotation_period_in_days
        out.append(ExpectedGcpKey(
            key=key, project=env.gcp.project_id, location=key.location or env.gcp.location,
            key_ring=key.key_ring or env.gcp.key_ring or f"keyplane-{env.name}",
            purpose=gcp_purpose(key.usage, _family(key)), algorithm=key.spec,
            protection_level=key.protection_level or TIERS[key.tier].gcp_default_protection_level,
            rotation_period_seconds=period * 86400 if period else None,
            labels=gcp_labels(env.name, key.tier, key.name),
            members=_gcp_members(env, key)))
    return out


def _roles(env: Environment) -> list[ExpectedRole]:
    pr = env.principals
    out = [ExpectedRole(name=role_name(env.name, ROLE_KEY_ADMIN), role=ROLE_KEY_ADMIN)]
    if pr.backup_operators.aws:
        out.append(ExpectedRole(name=role_name(env.name, ROLE_BACKUP_OPERATOR),
                                role=ROLE_BACKUP_OPERATOR))
    if pr.auditors.aws:
        out.append(ExpectedRole(name=role_name(env.name, ROLE_AUDITOR), role=ROLE_AUDITOR))
    out.append(ExpectedRole(name=role_name(env.name, ROLE_BREAK_GLASS), role=ROLE_BREAK_GLASS))
    if pr.ceremony is not None and pr.ceremony.aws:
        out.append(ExpectedRole(name=role_name(env.name, ROLE_CEREMONY), role=ROLE_CEREMONY))
    users = sorted({u for k in env.keys_on(Cloud.AWS) for u in k.users})
    for u in users:
        try:
            wl = env.workload(u)
        except KeyError:
            continue
        if wl.aws:
            out.append(ExpectedRole(name=role_name(env.name, ROLE_KEY_USER, u), role=ROLE_KEY_USER,
                                    workload=u, human=wl.human))
    return out


def from_inventory(env: Environment) -> ExpectedState:
    """The expected state from the inventory alone."""
    aws_keys = _aws_keys(env) if env.aws else []
    gcp_keys = _gcp_keys(env) if env.gcp else []
    aws_tiers = sorted({k.key.tier for k in aws_keys}, key=lambda t: t.rank)
    top = highest(aws_tiers)
    log_groups, trails, vaults = [], [], []
    hsm_retention = None
    if env.aws and top is not None:
        pol = TIERS[top]
        log_groups.append(ExpectedLogGroup(
            name=f"/keyplane/{env.name}/kms-audit",
            retention_in_days=cloudwatch_retention_at_least(pol.log_retention_in_days)))
        trails.append(ExpectedTrail(name=f"keyplane-{env.name}-kms-audit", multi_region=True,
                                    log_file_validation=True,
                                    kms_data_events=Tier.CA in aws_tiers))
        if pol.vault_lock_mode and pol.vault_min_retention_in_days:
            vaults.append(ExpectedVault(name=f"keyplane-{env.name}", lock_mode=pol.vault_lock_mode,
                                        min_retention_days=pol.vault_min_retention_in_days))
        if env.aws.cloudhsm is not None:
            floor = TIERS[Tier.CA].cloudhsm_backup_retention_in_days or 0
            hsm_retention = max(env.aws.cloudhsm.backup_retention_in_days or floor, floor)
    return ExpectedState(
        env=env, source="inventory", aws_keys=tuple(aws_keys), gcp_keys=tuple(gcp_keys),
        log_groups=tuple(log_groups), trails=tuple(trails), vaults=tuple(vaults),
        cloudhsm_backup_retention_in_days=hsm_retention,
        roles=tuple(_roles(env)) if env.aws else ())


# --- overlaid with the synthesized stack -----------------------------------------------------


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _duration_seconds(value: Any) -> int | None:
    """`7776000s` -> 7776000."""
    if isinstance(value, str) and value.endswith("s") and value[:-1].isdigit():
        return int(value[:-1])
    return None


def _overlay_aws(state: ExpectedState, stack: SynthStack) -> tuple[list[ExpectedAwsKey], list[str]]:
    keys = list(state.aws_keys)
    notes: list[str] = []
    by_resource: dict[str, int] = {}
    for res in stack.resources("aws_kms_key"):
        tags = stack.tags(res)
        if tags.get(AWS_TAG_ENV) not in (None, state.env.name) or AWS_TAG_KEY not in tags \
                or tags[AWS_TAG_KEY].startswith(SERVICE_KEY_PREFIX):
            continue  # keyplane's own service keys are checked with the audit trail and vault
        gen = _int(tags.get(AWS_TAG_GENERATION))
        idx = next((i for i, k in enumerate(keys) if k.key.name == tags[AWS_TAG_KEY]
                    and (k.generation is None or k.generation == gen)), None)
        if idx is None:
            notes.append(f"{res.address} is in the synthesized stack but not in the inventory")
            continue
        a = res.attrs
        cur = keys[idx]
        rotation = a.get("enable_key_rotation")
        keys[idx] = replace(
            cur,
            key_spec=a.get("customer_master_key_spec") or cur.key_spec,
            key_usage=a.get("key_usage") or cur.key_usage,
            multi_region=bool(a.get("multi_region", cur.multi_region)),
            rotation_enabled=rotation if isinstance(rotation, bool) else cur.rotation_enabled,
            rotation_period_in_days=_int(a.get("rotation_period_in_days"))
            or cur.rotation_period_in_days,
            deletion_window_in_days=_int(a.get("deletion_window_in_days"))
            or cur.deletion_window_in_days,
            tags={**cur.tags, **{k: v for k, v in tags.items() if UNRESOLVED not in v
                                 and "${" not in v}},
            policy=stack.policy(a.get("policy")) if "policy" in a else cur.policy,
            address=res.address, construct_path=res.construct_path)
        by_resource[res.name] = idx
    aliases = list(stack.resources("aws_kms_alias"))
    if aliases:
        names: dict[int, list[str]] = {}
        for res in aliases:
            target = stack.reference_target(res.attrs.get("target_key_id"))
            name = res.attrs.get("name")
            if target and target[0] == "aws_kms_key" and target[1] in by_resource \
                    and isinstance(name, str) and "${" not in name:
                names.setdefault(by_resource[target[1]], []).append(name)
        for i, k in enumerate(keys):
            if k.address is None:
                continue
            got = sorted(set(names.get(i, [])), key=len)
            main = k.key.alias if k.key.alias in got else (got[0] if got else None)
            keys[i] = replace(k, alias=main, aliases=tuple(got))
    return keys, notes


def _overlay_gcp(state: ExpectedState, stack: SynthStack) -> list[ExpectedGcpKey]:
    keys = list(state.gcp_keys)
    rings = {r.name: r.attrs for r in stack.resources("google_kms_key_ring")}
    by_resource: dict[str, int] = {}
    for res in stack.resources("google_kms_crypto_key"):
        labels = res.attrs.get("labels")
        labels = dict(labels) if isinstance(labels, Mapping) else {}
        if labels.get(GCP_LABEL_ENV) not in (None, state.env.name):
            continue
        name = res.attrs.get("name")
        idx = next((i for i, k in enumerate(keys) if k.key.name == name), None)
        if idx is None:
            continue
        cur = keys[idx]
        tmpl = res.attrs.get("version_template")
        tmpl = tmpl[0] if isinstance(tmpl, list) and tmpl else tmpl
        tmpl = tmpl if isinstance(tmpl, Mapping) else {}
        ring_ref = stack.reference_target(res.attrs.get("key_ring"))
        ring = rings.get(ring_ref[1]) if ring_ref else None
        keys[idx] = replace(
            cur,
            purpose=res.attrs.get("purpose") or cur.purpose,
            algorithm=tmpl.get("algorithm") or cur.algorithm,
            protection_level=tmpl.get("protection_level") or cur.protection_level,
            rotation_period_seconds=_duration_seconds(res.attrs.get("rotation_period"))
            or cur.rotation_period_seconds,
            labels={**cur.labels, **{str(k): str(v) for k, v in labels.items()}},
            key_ring=ring.get("name") if ring and isinstance(ring.get("name"), str)
            else cur.key_ring,
            location=ring.get("location") if ring and isinstance(ring.get("location"), str)
            else cur.location,
            address=res.address, construct_path=res.construct_path)
        by_resource[res.name] = idx
    members: dict[int, dict[str, set[str]]] = {}
    for rtype in ("google_kms_crypto_key_iam_member", "google_kms_crypto_key_iam_binding"):
        for res in stack.resources(rtype):
            target = stack.reference_target(res.attrs.get("crypto_key_id"))
            role = res.attrs.get("role")
            if not target or target[1] not in by_resource or not isinstance(role, str):
                continue
            got = res.attrs.get("members") or [res.attrs.get("member")]
            bucket = members.setdefault(by_resource[target[1]], {}).setdefault(role, set())
            bucket.update(m for m in got if isinstance(m, str) and "${" not in m)
    for idx, roles in members.items():
        keys[idx] = replace(keys[idx], members={r: frozenset(m) for r, m in roles.items()})
    return keys


def _overlay_shared(state: ExpectedState, stack: SynthStack) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups = [ExpectedLogGroup(name=r.attrs["name"], address=r.address,
                               retention_in_days=_int(r.attrs.get("retention_in_days")) or 0)
              for r in stack.resources("aws_cloudwatch_log_group")
              if isinstance(r.attrs.get("name"), str) and "${" not in r.attrs["name"]]
    if groups:
        out["log_groups"] = tuple(groups)
    trails = []
    for r in stack.resources("aws_cloudtrail"):
        name = r.attrs.get("name")
        if not isinstance(name, str) or "${" in name:
            continue
        text = str(r.attrs.get("event_selector", "")) + str(r.attrs.get("advanced_event_selector",
                                                                           ""))
        trails.append(ExpectedTrail(
            name=name, address=r.address,
            multi_region=bool(r.attrs.get("is_multi_region_trail", False)),
            log_file_validation=bool(r.attrs.get("enable_log_file_validation", False)),
            kms_data_events="AWS::KMS::Key" in text))
    if trails:
        out["trails"] = tuple(trails)
    vault_names = {r.name: r.attrs.get("name") for r in stack.resources("aws_backup_vault")}
    vaults = []
    for r in stack.resources("aws_backup_vault_lock_configuration"):
        name = r.attrs.get("backup_vault_name")
        target = stack.reference_target(name)
        if target and target[0] == "aws_backup_vault":
            name = vault_names.get(target[1])
        if not isinstance(name, str) or "${" in name:
            continue
        mode = "COMPLIANCE" if r.attrs.get("changeable_for_days") is not None else "GOVERNANCE"
        vaults.append(ExpectedVault(name=name, lock_mode=mode, address=r.address,
                                    min_retention_days=_int(r.attrs.get("min_retention_days"))
                                    or 1))
    if vaults:
        out["vaults"] = tuple(vaults)
    return out


def expected_state(env: Environment, stack: SynthStack | None = None) -> ExpectedState:
    """The expected state of `env`: the inventory, overlaid with the synthesized stack if given."""
    state = from_inventory(env)
    if stack is None:
        return replace(state, notes=("expected state from the inventory; run `keyplane synth` "
                                     "to compare against the synthesized stack",))
    aws_keys, notes = _overlay_aws(state, stack)
    gcp_keys = _overlay_gcp(state, stack)
    return replace(state, source=f"synth {stack.source}", aws_keys=tuple(aws_keys),
                   gcp_keys=tuple(gcp_keys), notes=tuple(notes), **_overlay_shared(state, stack))


def role_of(tags: Mapping[str, str]) -> str | None:
    """The keyplane separation-of-duties role a tagged IAM role plays."""
    return tags.get(AWS_TAG_ROLE)
