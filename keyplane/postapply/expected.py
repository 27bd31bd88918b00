"""The expected state of an environment: what should be deployed, resource by resource.

Read from the synthesized stacks (`keyplane synth`), through the gate's reader of
`cdk.tf.json` (`keyplane.postapply.stack`): key specs, policies, rotation settings,
aliases, replicas, IAM members, log groups, trails, vaults, roles (their trust and
policies), alarms (with their metric filters) and GCP alert policies (with their log-based
metrics) are what the stack says. The environment
adds only what a stack cannot say: which declared key (tier, rotation mode) a resource is,
and its generations (current, verify-until, enabled). A value the stack leaves unknown
until apply stays unknown, and comparisons skip it.

The sandbox creates exactly this state, so a fresh sandbox has no drift.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from keyplane.model.environment import Environment, Generation, KeyDecl
from keyplane.model.specs import Cloud, KeyUsage
from keyplane.model.tags import (
    AWS_TAG_BACKUP_RETENTION,
    AWS_TAG_ENV,
    AWS_TAG_GENERATION,
    AWS_TAG_KEY,
    GCP_LABEL_ENV,
    ROLE_AUDITOR,
    ROLE_BACKUP_OPERATOR,
    ROLE_BREAK_GLASS,
    ROLE_CEREMONY,
    ROLE_KEY_ADMIN,
    ROLE_KEY_USER,
    SERVICE_KEY_PREFIX,
)
from keyplane.model.tiers import RotationMode
from keyplane.policy.model import Resource
from keyplane.policy.policydoc import UNRESOLVED
from keyplane.postapply.stack import Stacks, reference_target

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
    policy: dict[str, Any] | None  # None: not known (the stack states no readable policy)
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
    """A keyplane IAM role (`keyplane-<env>-<role>`), with its policies as the stack declares them.

    `trust_policy` and the inline documents are None where the stack does not state them
    readably (then they are not compared); a value only apply knows is `UNRESOLVED` inside.
    """

    name: str
    role: str  # the duty (key-admin, key-user...), or `service` for a role AWS services assume
    workload: str | None = None
    human: bool = False
    trust_policy: dict[str, Any] | None = None  # aws_iam_role.assume_role_policy
    # aws_iam_role_policy (and aws_iam_role.inline_policy): policy name -> document
    inline_policies: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    # aws_iam_role_policy_attachment (and aws_iam_role.managed_policy_arns)
    managed_policy_arns: tuple[str, ...] = ()
    address: str | None = None
    construct_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExpectedMetricFilter:
    """A CloudWatch Logs metric filter on the audit log group, feeding an alarm's metric."""

    name: str
    log_group_name: str
    pattern: str  # may hold `UNRESOLVED` where it names a key ARN only apply knows
    metric_name: str | None
    metric_namespace: str | None
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExpectedAlarm:
    """A CloudWatch metric alarm on destructive or evasive events, and the filters feeding it."""

    name: str
    metrics: tuple[str, ...]  # `namespace/metric` it reads (one, or a metric-math alarm's)
    actions: tuple[str, ...]  # alarm_actions, resolved (the alarm topic's ARN)
    actions_enabled: bool = True
    filters: tuple[ExpectedMetricFilter, ...] = ()
    address: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExpectedLogMetric:
    """A Cloud Logging log-based metric counting the audit entries of one event."""

    name: str  # the metric's id in the project
    project: str
    filter: str  # may hold `UNRESOLVED` where it names something only apply knows
    description: str = ""
    address: str | None = None

    @property
    def resource_name(self) -> str:
        """`projects/<project>/metrics/<name>`."""
        return f"projects/{self.project}/metrics/{self.name}"

    @property
    def references(self) -> frozenset[str]:
        """How an alert condition names this metric: its metric type (filters, MQL) and the
        PromQL name Cloud Monitoring gives it (`logging_googleapis_com:user_<name>`, every
        character but letters, digits and `_` as `_`)."""
        return frozenset({f"{LOG_METRIC_TYPE}{self.name}",
                          f"{LOG_METRIC_PROMQL}{re.sub(r'[^A-Za-z0-9_]', '_', self.name)}"})


@dataclass(frozen=True, kw_only=True)
class ExpectedGcpCondition:
    """One condition of an alert policy: its kind (the API's `condition_*` field) and the
    block the stack states for it (literal values, durations as `60s`)."""

    display_name: str
    kind: str  # condition_threshold | condition_absent | condition_prometheus_query_language ...
    spec: dict[str, Any]

    @property
    def text(self) -> str:
        """The filter or query the condition evaluates."""
        value = self.spec.get("filter", self.spec.get("query", ""))
        return value if isinstance(value, str) else ""


@dataclass(frozen=True, kw_only=True)
class ExpectedGcpAlert:
    """A Cloud Monitoring alert policy on destructive or evasive events, and the log-based
    metrics its conditions read (the pair is one alert)."""

    display_name: str
    project: str
    combiner: str
    conditions: tuple[ExpectedGcpCondition, ...]
    metrics: tuple[ExpectedLogMetric, ...] = ()
    notification_channels: tuple[str, ...] = ()  # resolved; `UNRESOLVED` inside matches any
    enabled: bool = True
    user_labels: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    construct_path: str | None = None

    @property
    def name(self) -> str:
        """The policy's identity the stack states: its display name (Cloud Monitoring assigns
        the resource name on create)."""
        return self.display_name

    @property
    def resource(self) -> str:
        """What findings name: the log-based metric behind the alert (a name keyplane gives,
        stable when the policy is re-created), else the display name."""
        return self.metrics[0].resource_name if self.metrics else self.display_name

    @property
    def reads(self) -> tuple[str, ...]:
        """The metric references in the declared conditions, in order."""
        return tuple(dict.fromkeys(r for c in self.conditions for r in metric_references(c.text)))


@dataclass(frozen=True, kw_only=True)
class ExpectedState:
    """Everything that should be deployed for one environment."""

    env: Environment
    source: str  # "synth <path>[, <path>]": the stacks it was read from
    aws_keys: tuple[ExpectedAwsKey, ...] = ()
    gcp_keys: tuple[ExpectedGcpKey, ...] = ()
    log_groups: tuple[ExpectedLogGroup, ...] = ()
    trails: tuple[ExpectedTrail, ...] = ()
    vaults: tuple[ExpectedVault, ...] = ()
    cloudhsm_backup_retention_in_days: int | None = None
    roles: tuple[ExpectedRole, ...] = ()
    # the stack's other roles: those AWS services assume for keyplane (trail delivery, backup)
    service_roles: tuple[ExpectedRole, ...] = ()
    alarms: tuple[ExpectedAlarm, ...] = ()
    gcp_alerts: tuple[ExpectedGcpAlert, ...] = ()
    # role -> members the stack grants on the GCP project itself (keyplane's stacks grant on
    # key rings and keys only, so this is empty unless a stack adds project-level grants)
    gcp_project_grants: dict[str, frozenset[str]] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def all_roles(self) -> tuple[ExpectedRole, ...]:
        """Every IAM role the stack declares: the duties' and workloads', then services'."""
        return (*self.roles, *self.service_roles)

    @property
    def alarm_log_groups(self) -> tuple[str, ...]:
        """The log groups the declared alarms' metric filters read (post-apply reads their
        filters)."""
        out: list[str] = []
        for a in self.alarms:
            out += [f.log_group_name for f in a.filters if f.log_group_name not in out]
        return tuple(out)

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


# --- from the synthesized stacks -------------------------------------------------------------

# How Cloud Monitoring names a user-defined log-based metric: its metric type, and the
# PromQL metric that type maps to.
LOG_METRIC_TYPE = "logging.googleapis.com/user/"
LOG_METRIC_PROMQL = "logging_googleapis_com:user_"
_METRIC_REFERENCE = re.compile(re.escape(LOG_METRIC_TYPE) + r"[A-Za-z0-9_.\-/]+|"
                               + re.escape(LOG_METRIC_PROMQL) + r"\w+")
# The condition kinds of an alert policy (the oneof of google.monitoring.v3 Condition).
GCP_CONDITION_KINDS = ("condition_threshold", "condition_absent", "condition_matched_log",
                       "condition_monitoring_query_language",
                       "condition_prometheus_query_language", "condition_sql")


def metric_references(text: str) -> list[str]:
    """The log-based metrics a condition's filter or query names, as written there."""
    return _METRIC_REFERENCE.findall(text)

# AWS resource types of a declared key (an imported key is an aws_kms_external_key).
_AWS_KEY_TYPES = ("aws_kms_key", "aws_kms_external_key")
# The CloudHSM cluster carries its backup retention as this tag (set by the cloudhsm construct).
# The order roles are listed in: the separation-of-duties roles, then workloads' key-user roles.
_ROLE_ORDER = (ROLE_KEY_ADMIN, ROLE_BACKUP_OPERATOR, ROLE_AUDITOR, ROLE_BREAK_GLASS, ROLE_CEREMONY,
               ROLE_KEY_USER)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _literal(value: Any) -> str | None:
    """A string the stack states outright (no `${...}` reference), else None."""
    return value if isinstance(value, str) and "${" not in value else None


def _duration_seconds(value: Any) -> int | None:
    """`7776000s` -> 7776000."""
    if isinstance(value, str) and value.endswith("s") and value[:-1].isdigit():
        return int(value[:-1])
    return None


def _generations(key: KeyDecl) -> list[Generation | None]:
    """The declared generations of `key`, newest first; [None] for a key without them."""
    if key.rotation_mode is RotationMode.AUTOMATIC or not key.generations:
        return [None]
    newest_first = sorted(key.generations, key=lambda g: -g.generation)
    return [*newest_first]


def _origin(res: Resource) -> str:
    if res.type == "aws_kms_external_key":
        return "EXTERNAL"
    return "AWS_CLOUDHSM" if res.raw("custom_key_store_id") is not None else "AWS_KMS"


def _aliases(stacks: Stacks) -> dict[str, list[str]]:
    """Key address -> the names of the home-Region aliases that point at it."""
    out: dict[str, list[str]] = {}
    for res in stacks.resources("aws_kms_alias"):
        target = reference_target(res.raw("target_key_id"))
        name = _literal(res.raw("name"))
        if target and target[0] in _AWS_KEY_TYPES and name is not None:
            out.setdefault(f"{target[0]}.{target[1]}", []).append(name)
    return out


def _replica_regions(stacks: Stacks) -> dict[str, list[str]]:
    """Primary key address -> the Regions of its replicas."""
    out: dict[str, list[str]] = {}
    for res in stacks.resources("aws_kms_replica_key"):
        target = reference_target(res.raw("primary_key_arn"))
        region = stacks.region_of(res)
        if target and target[0] in _AWS_KEY_TYPES and region is not None:
            out.setdefault(f"{target[0]}.{target[1]}", []).append(region)
    return out


def _aws_keys(env: Environment, stacks: Stacks) -> tuple[list[ExpectedAwsKey], list[str]]:
    assert env.aws is not None
    declared = list(env.keys_on(Cloud.AWS))
    by_name = {k.name: k for k in declared}
    aliases = _aliases(stacks)
    replicas = _replica_regions(stacks)
    out: list[ExpectedAwsKey] = []
    notes: list[str] = []
    for res in (r for r in stacks.items if r.type in _AWS_KEY_TYPES):
        tags = stacks.tags(res)
        name = tags.get(AWS_TAG_KEY)
        if tags.get(AWS_TAG_ENV) not in (None, env.name) or name is None \
                or name.startswith(SERVICE_KEY_PREFIX):
            continue  # keyplane's own service keys are checked with the audit trail and vault
        key = by_name.get(name)
        if key is None:
            notes.append(f"{res.address} is in the synthesized stack but not in the inventory")
            continue
        gens = _generations(key)
        gen: Generation | None = None
        if gens != [None]:
            number = _int(tags.get(AWS_TAG_GENERATION))
            gen = next((g for g in gens if g is not None and g.generation == number), None)
            if gen is None:
                notes.append(f"{res.address} is generation {number} of {name}, which the "
                             "inventory does not declare")
                continue
        current = gen is None or gen.generation == key.generation
        names = sorted(set(aliases.get(res.address, [])), key=len)
        regions = replicas.get(res.address, [])
        order = list(key.replica_regions or ())
        spec_attr = "key_spec" if res.type == "aws_kms_external_key" else "customer_master_key_spec"
        policy = stacks.policy(res.raw("policy")) if "policy" in res.values else None
        out.append(ExpectedAwsKey(
            key=key, generation=gen.generation if gen else None, current=current,
            enabled=current or (gen is not None and gen.enabled),
            created_on=gen.created_on if gen else None,
            region=stacks.region_of(res) or env.aws.region,
            key_spec=_literal(res.raw(spec_attr)) or "SYMMETRIC_DEFAULT",
            key_usage=_literal(res.raw("key_usage")) or "ENCRYPT_DECRYPT",
            origin=_origin(res), multi_region=res.raw("multi_region") is True,
            replica_regions=tuple(sorted(set(regions), key=lambda r: (
                order.index(r) if r in order else len(order), r))),
            rotation_enabled=res.raw("enable_key_rotation") is True,
            rotation_period_in_days=_int(res.raw("rotation_period_in_days")),
            deletion_window_in_days=_int(res.raw("deletion_window_in_days")) or 30,
            alias=key.alias if key.alias in names else (names[0] if names else None),
            aliases=tuple(names),
            tags={k: v for k, v in tags.items() if UNRESOLVED not in v and "${" not in v},
            policy=policy, address=res.address, construct_path=res.construct_path))
    seen = {k.id for k in out}
    for key in declared:
        for gen in _generations(key):
            kid = key.name if gen is None else f"{key.name}@g{gen.generation}"
            if kid not in seen:
                notes.append(f"{kid} is declared but not in the synthesized stack; run "
                             f"`keyplane synth {env.name}`")
    rank = {k.name: i for i, k in enumerate(declared)}
    out.sort(key=lambda k: (rank[k.key.name], -(k.generation or 0)))
    return out, notes


def _gcp_members(stacks: Stacks) -> dict[str, dict[str, set[str]]]:
    """Crypto key address -> role -> the members the stack binds (literal ones)."""
    out: dict[str, dict[str, set[str]]] = {}
    for rtype in ("google_kms_crypto_key_iam_member", "google_kms_crypto_key_iam_binding"):
        for res in stacks.resources(rtype):
            target = reference_target(res.raw("crypto_key_id"))
            role = _literal(res.raw("role"))
            if not target or role is None:
                continue
            got = res.raw("members") or [res.raw("member")]
            bucket = out.setdefault(f"{target[0]}.{target[1]}", {}).setdefault(role, set())
            bucket.update(m for m in got if _literal(m) is not None)
    return out


def _gcp_project_grants(stacks: Stacks) -> dict[str, frozenset[str]]:
    """Role -> the literal members the stack grants on the project."""
    out: dict[str, set[str]] = {}
    for rtype in ("google_project_iam_member", "google_project_iam_binding"):
        for res in stacks.resources(rtype):
            role = _literal(res.raw("role"))
            if role is None:
                continue
            got = res.raw("members") or [res.raw("member")]
            out.setdefault(role, set()).update(m for m in got if _literal(m) is not None)
    return {role: frozenset(members) for role, members in out.items()}


def _gcp_keys(env: Environment, stacks: Stacks) -> tuple[list[ExpectedGcpKey], list[str]]:
    assert env.gcp is not None
    declared = list(env.keys_on(Cloud.GCP))
    by_name = {k.name: k for k in declared}
    members = _gcp_members(stacks)
    out: list[ExpectedGcpKey] = []
    for res in stacks.resources("google_kms_crypto_key"):
        labels = stacks.tags(res)
        key = by_name.get(_literal(res.raw("name")) or "")
        if labels.get(GCP_LABEL_ENV) not in (None, env.name) or key is None:
            continue  # keyplane's own keys (the audit bucket's) are not declared keys
        ring_ref = reference_target(res.raw("key_ring"))
        ring = stacks.get(*ring_ref) if ring_ref and ring_ref[0] == "google_kms_key_ring" \
            else None
        tmpl_algorithm = _literal(res.get("version_template", "algorithm"))
        tmpl_level = _literal(res.get("version_template", "protection_level"))
        out.append(ExpectedGcpKey(
            key=key,
            project=(_literal(ring.raw("project")) if ring else None) or env.gcp.project_id,
            location=(_literal(ring.raw("location")) if ring else None)
            or key.location or env.gcp.location,
            key_ring=(_literal(ring.raw("name")) if ring else None)
            or key.key_ring or env.gcp.key_ring or f"keyplane-{env.name}",
            purpose=_literal(res.raw("purpose")) or "ENCRYPT_DECRYPT",
            algorithm=tmpl_algorithm or "GOOGLE_SYMMETRIC_ENCRYPTION",
            protection_level=tmpl_level or "SOFTWARE",
            rotation_period_seconds=_duration_seconds(res.raw("rotation_period")),
            labels=labels,
            members={r: frozenset(m) for r, m in members.get(res.address, {}).items()},
            address=res.address, construct_path=res.construct_path))
    seen = {k.key.name for k in out}
    notes = [f"{k.name} is declared but not in the synthesized stack; run `keyplane synth "
             f"{env.name}`" for k in declared if k.name not in seen]
    rank = {k.name: i for i, k in enumerate(declared)}
    out.sort(key=lambda k: rank[k.key.name])
    return out, notes


def _role_target(stacks: Stacks, value: Any) -> str | None:
    """The address of the aws_iam_role a `role` attribute names (by reference or by name)."""
    target = reference_target(value)
    if target is not None:
        return f"{target[0]}.{target[1]}" if target[0] == "aws_iam_role" else None
    name = _literal(value)
    hit = next((r for r in stacks.resources("aws_iam_role") if r.raw("name") == name), None)
    return hit.address if name is not None and hit is not None else None


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _role_policies(stacks: Stacks) -> tuple[dict[str, dict[str, dict[str, Any] | None]],
                                            dict[str, list[str]]]:
    """Role address -> inline policy name -> document, and role address -> managed policy
    ARNs, from aws_iam_role_policy, aws_iam_role_policy_attachment and the role's own
    inline_policy blocks and managed_policy_arns."""
    inline: dict[str, dict[str, dict[str, Any] | None]] = {}
    managed: dict[str, list[str]] = {}
    for role in stacks.resources("aws_iam_role"):
        for block in _blocks(role.raw("inline_policy")):
            name = _literal(block.get("name"))
            if name:
                inline.setdefault(role.address, {})[name] = stacks.policy(block.get("policy"))
        for arn in role.raw("managed_policy_arns") or []:
            managed.setdefault(role.address, []).append(str(stacks.resolve(arn)))
    for res in stacks.resources("aws_iam_role_policy"):
        address = _role_target(stacks, res.raw("role"))
        name = _literal(res.raw("name"))
        if address is not None and name is not None:
            inline.setdefault(address, {})[name] = stacks.policy(res.raw("policy"))
    for res in stacks.resources("aws_iam_role_policy_attachment"):
        address = _role_target(stacks, res.raw("role"))
        arn = res.raw("policy_arn")
        if address is not None and isinstance(arn, str):
            managed.setdefault(address, []).append(str(stacks.resolve(arn)))
    return inline, managed


def _roles(env: Environment, stacks: Stacks) -> tuple[list[ExpectedRole], list[ExpectedRole]]:
    """The separation-of-duties and key-user roles, and the roles AWS services assume."""
    workloads = {w.name: w for w in env.workloads}
    user_prefix = f"keyplane-{env.name}-user-"  # role_name(env, ROLE_KEY_USER, <workload>)
    inline, managed = _role_policies(stacks)
    out: list[ExpectedRole] = []
    services: list[ExpectedRole] = []
    for res in stacks.resources("aws_iam_role"):
        name = _literal(res.raw("name"))
        role = res.context.role
        if name is None or res.context.env not in (None, env.name):
            continue
        trust = res.raw("assume_role_policy")
        detail: dict[str, Any] = {
            "trust_policy": stacks.policy(trust) if trust is not None else None,
            "inline_policies": inline.get(res.address, {}),
            "managed_policy_arns": tuple(sorted(set(managed.get(res.address, [])))),
            "address": res.address, "construct_path": res.construct_path}
        if role not in _ROLE_ORDER:  # roles AWS services assume are not separation-of-duties
            services.append(ExpectedRole(name=name, role=role or "service", **detail))
            continue
        workload = name[len(user_prefix):] if role == ROLE_KEY_USER and \
            name.startswith(user_prefix) else None
        wl = workloads.get(workload or "")
        out.append(ExpectedRole(name=name, role=role, workload=workload,
                                human=bool(wl and wl.human), **detail))
    out.sort(key=lambda r: (_ROLE_ORDER.index(r.role), r.workload or "", r.name))
    services.sort(key=lambda r: r.name)
    return out, services


def _alarms(stacks: Stacks) -> tuple[ExpectedAlarm, ...]:
    """The metric alarms the stack declares, each with the metric filters that feed it."""
    filters: list[ExpectedMetricFilter] = []
    for r in stacks.resources("aws_cloudwatch_log_metric_filter"):
        name = _literal(r.raw("name"))
        group = stacks.resolve(r.raw("log_group_name"))
        pattern = stacks.resolve(r.raw("pattern"))
        if name is None or not isinstance(group, str) or UNRESOLVED in group:
            continue
        tr = next(iter(_blocks(r.raw("metric_transformation"))), {})
        filters.append(ExpectedMetricFilter(
            name=name, log_group_name=group, pattern=pattern if isinstance(pattern, str) else "",
            metric_name=_literal(tr.get("name")), metric_namespace=_literal(tr.get("namespace")),
            address=r.address))
    out = []
    for r in stacks.resources("aws_cloudwatch_metric_alarm"):
        name = _literal(r.raw("alarm_name"))
        if name is None:
            continue
        metrics = []
        if _literal(r.raw("metric_name")) and _literal(r.raw("namespace")):
            metrics.append(f"{r.raw('namespace')}/{r.raw('metric_name')}")
        for q in _blocks(r.raw("metric_query")):
            m = next(iter(_blocks(q.get("metric"))), {})
            if _literal(m.get("metric_name")) and _literal(m.get("namespace")):
                metrics.append(f"{m['namespace']}/{m['metric_name']}")
        enabled = r.raw("actions_enabled")
        out.append(ExpectedAlarm(
            name=name, metrics=tuple(metrics), address=r.address,
            actions=tuple(str(stacks.resolve(a)) for a in r.raw("alarm_actions") or []),
            actions_enabled=enabled is not False and enabled != "false",
            filters=tuple(f for f in filters
                          if f"{f.metric_namespace}/{f.metric_name}" in metrics)))
    return tuple(out)


def _literal_tree(value: Any) -> Any:
    """`value` with every string that holds a `${...}` reference made `UNRESOLVED`."""
    if isinstance(value, str):
        return value if "${" not in value else UNRESOLVED
    if isinstance(value, dict):
        return {k: _literal_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal_tree(v) for v in value]
    return value


def _gcp_alerts(env: Environment, stacks: Stacks) -> tuple[ExpectedGcpAlert, ...]:
    """The alert policies the GCP stack declares, each with the log-based metrics it reads."""
    assert env.gcp is not None
    metrics: list[ExpectedLogMetric] = []
    for r in stacks.resources("google_logging_metric"):
        name, text = _literal(r.raw("name")), stacks.resolve(r.raw("filter"))
        if name is None or not isinstance(text, str):
            continue
        metrics.append(ExpectedLogMetric(
            name=name, project=_literal(r.raw("project")) or env.gcp.project_id, filter=text,
            description=_literal(r.raw("description")) or "", address=r.address))
    out = []
    for r in stacks.resources("google_monitoring_alert_policy"):
        display = _literal(r.raw("display_name"))
        if display is None:
            continue
        conditions = []
        for block in _blocks(r.raw("conditions")):
            kind = next((k for k in GCP_CONDITION_KINDS if isinstance(block.get(k), (dict, list))),
                        None)
            spec = next(iter(_blocks(block.get(kind))), None) if kind else None
            if kind is None or spec is None:
                continue
            conditions.append(ExpectedGcpCondition(
                display_name=_literal(block.get("display_name")) or display, kind=kind,
                spec=_literal_tree(spec)))
        reads = {ref for c in conditions for ref in metric_references(c.text)}
        project = _literal(r.raw("project")) or env.gcp.project_id
        enabled = r.raw("enabled")
        labels = r.raw("user_labels")
        out.append(ExpectedGcpAlert(
            display_name=display, project=project,
            combiner=_literal(r.raw("combiner")) or "OR", conditions=tuple(conditions),
            metrics=tuple(m for m in metrics if m.project == project and m.references & reads),
            notification_channels=tuple(str(stacks.resolve(c))
                                        for c in r.raw("notification_channels") or []),
            enabled=enabled is not False and enabled != "false",
            user_labels={str(k): v for k, v in labels.items() if isinstance(v, str)
                         and "${" not in v} if isinstance(labels, dict) else {},
            address=r.address, construct_path=r.construct_path))
    return tuple(out)


def _shared(stacks: Stacks) -> dict[str, Any]:
    """Log groups, trails, vaults and the CloudHSM backup retention the stack declares."""
    groups = tuple(
        ExpectedLogGroup(name=name, address=r.address,
                         retention_in_days=_int(r.raw("retention_in_days")) or 0)
        for r in stacks.resources("aws_cloudwatch_log_group")
        if (name := _literal(r.raw("name"))) is not None)
    trails = []
    for r in stacks.resources("aws_cloudtrail"):
        name = _literal(r.raw("name"))
        if name is None:
            continue
        text = str(r.raw("event_selector") or "") + str(r.raw("advanced_event_selector") or "")
        trails.append(ExpectedTrail(
            name=name, address=r.address, multi_region=r.raw("is_multi_region_trail") is True,
            log_file_validation=r.raw("enable_log_file_validation") is True,
            kms_data_events="AWS::KMS::Key" in text))
    vaults = []
    for r in stacks.resources("aws_backup_vault_lock_configuration"):
        raw = r.raw("backup_vault_name")
        target = reference_target(raw)
        if target and target[0] == "aws_backup_vault":
            vault = stacks.get(*target)
            raw = vault.raw("name") if vault else None
        name = _literal(raw)
        if name is None:
            continue
        mode = "COMPLIANCE" if r.raw("changeable_for_days") is not None else "GOVERNANCE"
        vaults.append(ExpectedVault(name=name, lock_mode=mode, address=r.address,
                                    min_retention_days=_int(r.raw("min_retention_days")) or 1))
    retention = next((_int(stacks.tags(r).get(AWS_TAG_BACKUP_RETENTION))
                      for r in stacks.resources("aws_cloudhsm_v2_cluster")), None)
    return {"log_groups": groups, "trails": tuple(trails), "vaults": tuple(vaults),
            "cloudhsm_backup_retention_in_days": retention}


def expected_state(env: Environment, stacks: Stacks) -> ExpectedState:
    """The expected state of `env`: its synthesized stacks, with the declarations they cannot say.

    `stacks` is `load_environment_stacks(env, out_dir)` (KP609 when a cloud's stack is missing).
    """
    aws_keys, notes = _aws_keys(env, stacks) if env.aws else ([], [])
    gcp_keys, gcp_notes = _gcp_keys(env, stacks) if env.gcp else ([], [])
    roles, services = _roles(env, stacks) if env.aws else ([], [])
    return ExpectedState(
        env=env, source=f"synth {stacks.source}", aws_keys=tuple(aws_keys),
        gcp_keys=tuple(gcp_keys), roles=tuple(roles), service_roles=tuple(services),
        alarms=_alarms(stacks) if env.aws else (),
        gcp_alerts=_gcp_alerts(env, stacks) if env.gcp else (),
        gcp_project_grants=_gcp_project_grants(stacks) if env.gcp else {},
        notes=(*notes, *gcp_notes),
        **_shared(stacks))
