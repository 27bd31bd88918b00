"""What the AWS half of an environment consists of, decided from the model alone.

`plan_environment(env)` validates the environment's AWS declarations eagerly and returns
frozen records of every resource keyplane creates in its account: providers, the
separation-of-duties roles, the CloudHSM cluster and key store, every KMS key (one per
generation where a key cannot rotate) with its replicas and aliases, the audit trail,
the alarms and the backup vault. `keyplane.constructs.aws` renders them one to one; no
cdktn here, so the plan is cheap to build and to test, and every refusal happens before
any resource exists.

Every record has a `path`: its construct path below the environment's `aws` construct
(`keys/code-signing/g4/key`). Paths are part of keyplane's contract: the Terraform address
of a resource derives from its path, and renaming one replaces a key.

A record with an `import_id` stands for a resource that already exists (an adopted key,
its replicas and aliases, a keyplane role made before keyplane managed it: the inventory's
`adopt` blocks); its construct renders a Terraform `import` block, so the first plan imports
it instead of creating it.

A value known only after apply (a key's ARN, a role's id) is written as a reference
string `${keyplane:<path>#<attribute>}` (see `ref`), also inside policy documents and
filter patterns; the renderer substitutes the Terraform expression (`resolve`), and a
reader of the plan can substitute observed values the same way.

Every number comes from the tier table (`keyplane.model.tiers`) or the provider limits
(`keyplane.model.limits`); every name from `keyplane.desired.names`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyplane.desired import names
from keyplane.desired import policy as pol
from keyplane.desired.errors import AwsDeclarationError
from keyplane.model import limits
from keyplane.model.environment import (
    AWS_ACCOUNT_PATTERN,
    AWS_REGION_PATTERN,
    AwsBackup,
    CloudHsm,
    Environment,
    Generation,
    KeyDecl,
    Workload,
)
from keyplane.model.specs import (
    AWS_KEY_SPECS,
    AWS_KEY_USAGE,
    Cloud,
    KeyFamily,
    KeyUsage,
    Origin,
    rotation_eligibility,
)
from keyplane.model.tags import (
    AWS_TAG_BACKUP_RETENTION,
    AWS_TAG_CREATED_ON,
    AWS_TAG_DECLARED_ACCOUNTS,
    AWS_TAG_ENV,
    AWS_TAG_GENERATION,
    AWS_TAG_KEY,
    AWS_TAG_ROLE,
    ROLE_AUDITOR,
    ROLE_BACKUP_OPERATOR,
    ROLE_BREAK_GLASS,
    ROLE_CEREMONY,
    ROLE_KEY_ADMIN,
    ROLE_KEY_USER,
    ROLE_SERVICE,
    aws_tags,
    role_name,
    service_key_name,
)
from keyplane.model.tiers import (
    BREAK_GLASS_ASSUMED,
    HUMAN_SESSION_MAX_SECONDS,
    KMS_ACCESS_DENIED_BURST,
    SIGN_OUTSIDE_CEREMONY,
    Tier,
    TierPolicy,
    highest,
    policy_for,
)

# ---- references to values known after apply ----

_REF = re.compile(r"\$\{keyplane:(?P<path>[^#}]+)#(?P<attribute>[a-z_]+)\}")


def ref(path: str, attribute: str) -> str:
    """A reference to `attribute` of the resource planned at `path`: `${keyplane:<path>#arn}`."""
    return f"${{keyplane:{path}#{attribute}}}"


def references(value: Any) -> list[tuple[str, str]]:
    """Every (path, attribute) referenced in `value` (a string, or nested dicts and lists)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, str):
        out += [(m["path"], m["attribute"]) for m in _REF.finditer(value)]
    elif isinstance(value, Mapping):
        for item in value.values():
            out += references(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            out += references(item)
    return out


def resolve(value: Any, lookup: Callable[[str, str], str]) -> Any:
    """`value` with every reference replaced by `lookup(path, attribute)`; tuples become lists."""
    if isinstance(value, str):
        return _REF.sub(lambda m: lookup(m["path"], m["attribute"]), value)
    if isinstance(value, Mapping):
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, lookup) for v in value]
    return value


def _child(path: str, id_: str) -> str:
    return f"{path}/{id_}"


# ---- constants: tuning and provider facts, not tier controls ----

# Resource types of the keys.
KMS_KEY = "aws_kms_key"
KMS_EXTERNAL_KEY = "aws_kms_external_key"
# KMS origins as the API names them.
ORIGIN_AWS_KMS = "AWS_KMS"
ORIGIN_EXTERNAL = "EXTERNAL"
ORIGIN_AWS_CLOUDHSM = "AWS_CLOUDHSM"

HSM_TYPES = ("hsm2m.medium", "hsm1.medium")
# The Terraform AWS provider has no argument for the cluster's backup retention policy, so
# the retention is written as this tag; post-apply compares it with DescribeClusters.

S3_BUCKET_NAME_MAX = 63
# Housekeeping, not a tier control: parts of an upload that never completed.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7

# Which service records each AWS API call the tier table alarms on (CloudTrail eventSource).
AWS_EVENT_SOURCES: dict[str, str] = {
    **{e: "kms.amazonaws.com" for e in (
        "DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant", "UpdateAlias",
        "DeleteAlias", "DisableKeyRotation", "DeleteImportedKeyMaterial",
        "DisconnectCustomKeyStore", "DeleteCustomKeyStore")},
    **{e: "cloudtrail.amazonaws.com" for e in (
        "StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors")},
    "DeleteBackupVaultLockConfiguration": "backup.amazonaws.com",
}
AWS_EVENTS = frozenset(AWS_EVENT_SOURCES)
# AccessDenied on KMS this many times in one period is a burst worth a page.
ACCESS_DENIED_BURST_THRESHOLD = 5
# What "use of a ca key" means in CloudTrail: every cryptographic operation.
CEREMONY_EVENTS = ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                   "GenerateMac", "ReEncrypt", "Sign")
# Alarm tuning (not tier controls): one event in five minutes is enough to page;
# the sign-volume band is two standard deviations wide and must be breached twice.
EVENT_PERIOD_IN_SECONDS = 300
ANOMALY_BAND_WIDTH = 2
ANOMALY_EVALUATION_PERIODS = 2
# The event name of the sign-volume alarms (one per production signing key).
SIGN_VOLUME = "SignVolume"
# CloudWatch Logs rejects longer filter patterns.
METRIC_FILTER_PATTERN_MAX = 1024
_KEY_ARN_LENGTH = len("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/") + 36

# Tiers whose drills restore from backups (shared/TIERS.md, restore drill cadence).
RESTORE_TESTING_TIERS = frozenset({Tier.CA, Tier.PRODUCTION})
# AWS Backup's names for the resource types keyplane can back up and restore-test.
RESOURCE_TYPES = {"dynamodb": "DynamoDB", "s3": "S3", "rds": "RDS", "elasticfilesystem": "EFS",
                  "ec2": "EBS", "fsx": "FSx", "docdb": "DocumentDB"}
# AWS managed policies of the backup service role, with the path AWS files each under: the
# S3 ones live at the root, not under service-role/ (an ARN with the wrong path does not exist,
# and the first apply fails on it: found by the sandbox, whose IAM holds AWS's catalogue).
MANAGED_POLICIES = (("service-role/", "AWSBackupServiceRolePolicyForBackup"),
                    ("service-role/", "AWSBackupServiceRolePolicyForRestores"),
                    ("", "AWSBackupServiceRolePolicyForS3Backup"),
                    ("", "AWSBackupServiceRolePolicyForS3Restore"))
# Schedules (UTC): daily backups keep the CloudHSM-style "at least every 24 h" cadence.
BACKUP_SCHEDULE = "cron(0 5 ? * * *)"
# How long a restored copy stays for the drill's checks (within the 0-168 h limit).
RESTORE_VALIDATION_WINDOW_HOURS = 24

_REGION = re.compile(AWS_REGION_PATTERN)
_ACCOUNT = re.compile(AWS_ACCOUNT_PATTERN)

# ---- filter patterns ----

def event_pattern(event: str) -> str:
    """The CloudTrail JSON filter pattern for one API call the tier alarms on."""
    source = AWS_EVENT_SOURCES[event]
    return f'{{ ($.eventSource = "{source}") && ($.eventName = "{event}") }}'


def break_glass_pattern(role_arn: str) -> str:
    """Any AssumeRole of the break-glass role (a human taking the emergency path)."""
    return ('{ ($.eventSource = "sts.amazonaws.com") && ($.eventName = "AssumeRole") && '
            f'($.requestParameters.roleArn = "{role_arn}") }}')


def access_denied_pattern() -> str:
    """KMS calls refused for lack of permission."""
    return ('{ ($.eventSource = "kms.amazonaws.com") && (($.errorCode = "AccessDenied*") || '
            '($.errorCode = "*UnauthorizedOperation")) }')


def ceremony_pattern(ceremony_role_arn: str, key_arns: Sequence[str]) -> str:
    """Any cryptographic use of these keys by a session not issued by the ceremony role."""
    names_ = " || ".join(f'($.eventName = "{e}")' for e in CEREMONY_EVENTS)
    keys = " || ".join(f'($.resources[0].ARN = "{a}")' for a in key_arns)
    return (f'{{ ($.eventSource = "kms.amazonaws.com") && ({names_}) && '
            f'($.userIdentity.sessionContext.sessionIssuer.arn != "{ceremony_role_arn}") '
            f"&& ({keys}) }}")


def sign_pattern(key_arns: Sequence[str]) -> str:
    """Sign calls on any of these keys: every live generation of a signing key and each of
    its multi-Region replicas (a multi-Region trail delivers every Region to one group)."""
    keys = " || ".join(f'($.resources[0].ARN = "{a}")' for a in key_arns)
    return (f'{{ ($.eventSource = "kms.amazonaws.com") && ($.eventName = "Sign") && '
            f"({keys}) }}")


# ---- small helpers ----

def slug(text: str) -> str:
    """A construct-id-safe form of an issuer host: `token-actions-githubusercontent-com`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def restore_testing_schedule(cadence_in_days: int) -> str:
    """A cron expression that runs every `cadence_in_days` (a whole number of months)."""
    if cadence_in_days % 30:
        raise AwsDeclarationError(f"restore testing cadence must be a multiple of 30 days, "
                                  f"got {cadence_in_days}", code="KP309")
    months = cadence_in_days // 30
    return f"cron(0 6 1 {'*' if months == 1 else f'*/{months}'} ? *)"


def resource_type(arn: str) -> str:
    """AWS Backup's protected resource type of an ARN (`arn:aws:dynamodb:...` -> DynamoDB)."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service not in RESOURCE_TYPES:
        raise AwsDeclarationError(f"cannot back up '{arn}': service '{service}' is not one "
                                  f"of {', '.join(sorted(RESOURCE_TYPES))}", code="KP309")
    return RESOURCE_TYPES[service]


def _aws_principals(env: Environment, duty: str) -> tuple[str, ...]:
    pset = getattr(env.principals, duty)
    return tuple(pset.aws) if pset is not None else ()


# ---- records ----

@dataclass(frozen=True, kw_only=True)
class ProviderPlan:
    """One `provider "aws"` block: the home Region (no alias) or one replica Region."""

    path: str
    region: str
    alias: str | None
    allowed_account_ids: tuple[str, ...]
    default_tags: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class InlinePolicyPlan:
    """One `aws_iam_role_policy`: an inline policy of a keyplane role."""

    path: str
    name: str
    role: str  # reference to the role's id
    document: pol.PolicyDocument
    import_id: str | None = None  # `<role>:<policy>`, when the policy exists already


@dataclass(frozen=True, kw_only=True)
class PolicyAttachmentPlan:
    """One `aws_iam_role_policy_attachment` of an AWS managed policy."""

    path: str
    role: str  # reference to the role's name
    policy_arn: str


@dataclass(frozen=True, kw_only=True)
class RolePlan:
    """One `aws_iam_role`, its inline policies and its managed policy attachments.

    `duty` is the `keyplane:role` tag (key-admin, key-user, ..., service); `workload` is
    set on key-user roles. `arn` is built from the name (a literal, known before apply).
    """

    path: str
    name: str
    arn: str
    duty: str
    description: str
    trust_policy: pol.PolicyDocument
    max_session_duration: int
    tags: dict[str, str]
    workload: str | None = None
    inline_policies: tuple[InlinePolicyPlan, ...] = ()
    managed_policies: tuple[PolicyAttachmentPlan, ...] = ()
    import_id: str | None = None  # the role's name, when the role exists already

    @property
    def construct_id(self) -> str:
        """The role's construct id under `iam`: `key-admin`, `user-<workload>`, ..."""
        return self.path.rsplit("/", 1)[1]


@dataclass(frozen=True, kw_only=True)
class OidcProviderPlan:
    """One `aws_iam_openid_connect_provider` for the workloads federated from `issuer`."""

    path: str
    issuer: str
    url: str
    client_ids: tuple[str, ...]
    tags: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class IamPlan:
    """Every role keyplane creates in the account, in creation order, and the OIDC providers."""

    roles: tuple[RolePlan, ...]
    oidc_providers: tuple[OidcProviderPlan, ...] = ()

    def role(self, construct_id: str) -> RolePlan:
        """The planned role with construct id `construct_id` (`key-admin`, `user-x`...)."""
        for r in self.roles:
            if r.construct_id == construct_id:
                return r
        raise KeyError(construct_id)

    def role_named(self, name: str) -> RolePlan:
        """The planned role called `name` (`keyplane-prod-key-admin`)."""
        for r in self.roles:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True, kw_only=True)
class AliasPlan:
    """One `aws_kms_alias`, in the home Region (`region` None) or in a replica Region."""

    path: str
    name: str
    target_key_id: str  # reference to the key's (or replica's) id
    region: str | None = None
    import_id: str | None = None  # the alias name, when the alias exists already


@dataclass(frozen=True, kw_only=True)
class ReplicaPlan:
    """One `aws_kms_replica_key`: a multi-Region key's replica in `region`."""

    path: str
    region: str
    primary_key_arn: str  # reference
    enabled: bool
    description: str
    deletion_window_in_days: int
    bypass_policy_lockout_safety_check: bool
    policy: pol.PolicyDocument
    tags: dict[str, str]
    prevent_destroy: bool
    depends_on: tuple[str, ...] = ()  # paths of resources created first
    import_id: str | None = None  # the replica's key id, when it exists already (adopted)

    @property
    def arn(self) -> str:
        """A reference to the replica's ARN."""
        return ref(self.path, "arn")


@dataclass(frozen=True, kw_only=True)
class KmsKeyPlan:
    """One `aws_kms_key` (or `aws_kms_external_key` for imported material) and its replicas.

    `key_name` is the declared key's name, or `keyplane/<purpose>` for keyplane's own keys;
    `generation` is set on a generation of a key that cannot rotate automatically, and
    `current` says whether it is the generation in use. `enabled` None: not stated (the
    provider's default, enabled). `aliases` are the ones naming this key alone (generation
    aliases, keyplane's own keys); the declared alias is on the `ManagedKeyPlan`.
    """

    path: str
    resource_type: str
    key_name: str
    description: str
    spec: str
    usage: str
    origin: str
    enabled: bool | None
    multi_region: bool
    rotation_enabled: bool
    rotation_period_in_days: int | None
    deletion_window_in_days: int
    bypass_policy_lockout_safety_check: bool
    policy: pol.PolicyDocument
    tags: dict[str, str]
    prevent_destroy: bool
    generation: int | None = None
    current: bool = True
    custom_key_store_id: str | None = None  # reference, for origin AWS_CLOUDHSM
    depends_on: tuple[str, ...] = ()
    replicas: tuple[ReplicaPlan, ...] = ()
    aliases: tuple[AliasPlan, ...] = ()
    import_id: str | None = None  # the key id, when the key exists already (adopted)

    @property
    def arn(self) -> str:
        """A reference to the key's ARN."""
        return ref(self.path, "arn")

    @property
    def arns(self) -> list[str]:
        """References to the ARNs of the key and its replicas."""
        return [self.arn, *(r.arn for r in self.replicas)]

    @property
    def scope(self) -> str:
        """The construct path the key's resources live under (`keys/x` or `keys/x/g4`)."""
        return self.path.rsplit("/", 1)[0]


@dataclass(frozen=True, kw_only=True)
class KeyGrant:
    """What a key's user may do, on which keys: one statement of its identity policy."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]  # references to key ARNs


@dataclass(frozen=True, kw_only=True)
class ManagedKeyPlan:
    """A declared key: one KMS key that rotates automatically, or one per live generation."""

    path: str
    name: str
    tier: Tier
    usage: KeyUsage
    alias: str
    rotates: bool
    users: tuple[str, ...]
    keys: tuple[KmsKeyPlan, ...]  # by generation
    aliases: tuple[AliasPlan, ...]  # the declared alias, following the current key
    grants: tuple[KeyGrant, ...]

    @property
    def current(self) -> KmsKeyPlan:
        """The key (or generation) in use."""
        return next(k for k in self.keys if k.current)

    def generation(self, number: int) -> KmsKeyPlan:
        """The KMS key of generation `number`."""
        for k in self.keys:
            if k.generation == number:
                return k
        raise KeyError(number)

    @property
    def arns(self) -> list[str]:
        """References to the ARNs of every key and replica of this declared key."""
        return [a for k in self.keys for a in k.arns]


@dataclass(frozen=True, kw_only=True)
class ClusterPlan:
    """The `aws_cloudhsm_v2_cluster` behind the ca tier's custom key store."""

    path: str
    hsm_type: str
    mode: str | None
    subnet_ids: tuple[str, ...]
    backup_retention_in_days: int
    tags: dict[str, str]
    prevent_destroy: bool


@dataclass(frozen=True, kw_only=True)
class HsmPlan:
    """One `aws_cloudhsm_v2_hsm`, placed by subnet (in `availability_zone`)."""

    path: str
    cluster_id: str  # reference
    availability_zone: str
    subnet_id: str


@dataclass(frozen=True, kw_only=True)
class KeyStoreLookupPlan:
    """The `data.aws_kms_custom_key_store` the ca keys find their store by, by name.

    The store is not a Terraform resource: creating an `aws_kms_custom_key_store` needs the
    kmsuser password, the provider has no write-only argument for it, and Terraform would
    keep it in state and plan files. `keyplane keystore connect` creates and connects the
    store instead, reading the password from SSM at run time (keyplane.keystore).
    """

    path: str
    name: str

    @property
    def id(self) -> str:
        """A reference to the key store's id."""
        return ref(self.path, "id")


@dataclass(frozen=True, kw_only=True)
class KeyStoreConnectPlan:
    """What `keyplane keystore connect` creates and connects, outside Terraform."""

    name: str
    store_type: str
    cluster_tags: dict[str, str]  # the cluster is found by these (it is in `<env>-aws-hsm`)
    password_parameter: str  # SSM SecureString names: read at run time, never stored
    trust_anchor_parameter: str


@dataclass(frozen=True, kw_only=True)
class CloudHsmPlan:
    """The CloudHSM cluster and its HSMs (the `<env>-aws-hsm` stack), the store keyplane
    connects on it, and the lookup the ca keys in `<env>-aws` use."""

    cluster: ClusterPlan
    hsms: tuple[HsmPlan, ...]
    key_store: KeyStoreLookupPlan
    connect: KeyStoreConnectPlan
    # lookups of the other custom key stores adopted keys live in (`adopt.custom_key_store`)
    adopted_stores: tuple[KeyStoreLookupPlan, ...] = ()

    def store_for(self, name: str | None) -> KeyStoreLookupPlan:
        """The lookup of the key store called `name` (None: keyplane's own)."""
        if name is None or name == self.key_store.name:
            return self.key_store
        for store in self.adopted_stores:
            if store.name == name:
                return store
        raise KeyError(name)


@dataclass(frozen=True, kw_only=True)
class HsmStackPlan:
    """The `<env>-aws-hsm` stack: the provider pinned to the account and the cluster."""

    env_name: str
    account_id: str
    region: str
    provider: ProviderPlan
    cloudhsm: CloudHsmPlan


@dataclass(frozen=True, kw_only=True)
class AuditBucketPlan:
    """The locked audit bucket and its settings (versioning, public access block, ownership,
    encryption, object lock, lifecycle, policy), each its own resource next to the bucket."""

    path: str
    name: str
    arn: str
    object_lock_retention_in_days: int | None  # COMPLIANCE default retention, when the tier has one
    object_lock_mode: str
    versioning_status: str
    block_public_access: bool
    object_ownership: str
    sse_algorithm: str
    kms_key_id: str  # reference
    bucket_key_enabled: bool
    abort_incomplete_uploads_after_days: int
    policy: pol.PolicyDocument
    tags: dict[str, str]
    prevent_destroy: bool

    def part(self, suffix: str) -> str:
        """The path of one of the bucket's settings resources: `audit/bucket-<suffix>`."""
        return f"{self.path}-{suffix}"


@dataclass(frozen=True, kw_only=True)
class LogGroupPlan:
    """One `aws_cloudwatch_log_group`, KMS-encrypted."""

    path: str
    name: str
    arn: str
    retention_in_days: int
    kms_key_id: str  # reference
    skip_destroy: bool
    tags: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class TrailPlan:
    """The multi-Region `aws_cloudtrail` of the environment."""

    path: str
    name: str
    arn: str
    s3_bucket_name: str  # reference
    is_multi_region_trail: bool
    include_global_service_events: bool
    enable_log_file_validation: bool
    enable_logging: bool
    kms_key_id: str  # reference
    cloud_watch_logs_group_arn: str  # reference
    cloud_watch_logs_role_arn: str  # reference
    read_write_type: str
    include_management_events: bool
    exclude_management_event_sources: tuple[str, ...]
    tags: dict[str, str]
    depends_on: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class AuditPlan:
    """The audit sink: its KMS key, locked bucket, log group, trail and delivery role."""

    key: KmsKeyPlan
    bucket: AuditBucketPlan
    log_group: LogGroupPlan
    trail: TrailPlan
    role: str  # path of the role CloudTrail assumes to deliver to the log group


@dataclass(frozen=True, kw_only=True)
class TopicPlan:
    """The encrypted `aws_sns_topic` alarms publish to, and its `aws_sns_topic_policy`."""

    path: str
    name: str
    kms_master_key_id: str  # reference
    policy: pol.PolicyDocument
    tags: dict[str, str]

    @property
    def policy_path(self) -> str:
        """The path of the topic's policy resource."""
        return f"{self.path}-policy"


@dataclass(frozen=True, kw_only=True)
class MetricFilterPlan:
    """One `aws_cloudwatch_log_metric_filter` on the audit log group."""

    path: str
    name: str
    log_group_name: str
    pattern: str  # may reference key ARNs
    metric_name: str
    metric_namespace: str
    metric_value: str
    default_value: str


@dataclass(frozen=True, kw_only=True)
class MetricStatPlan:
    """The metric of one query of a metric-math alarm."""

    metric_name: str
    namespace: str
    period: int
    stat: str


@dataclass(frozen=True, kw_only=True)
class MetricQueryPlan:
    """One query of a metric-math alarm: a metric, or an expression over the others."""

    id: str
    return_data: bool
    metric: MetricStatPlan | None = None
    expression: str | None = None
    label: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmPlan:
    """One `aws_cloudwatch_metric_alarm` and the metric filter it watches.

    `event` is what it alarms on: an API call of the tier table, `BreakGlassAssumeRole`,
    `KmsAccessDeniedBurst`, `SignOutsideCeremony` or `SignVolume` (`key` set for the last
    two). A threshold alarm has namespace, metric, statistic, period and threshold; an
    anomaly alarm has metric queries and `threshold_metric_id`.
    """

    path: str
    event: str
    alarm_name: str
    description: str
    comparison_operator: str
    evaluation_periods: int
    treat_missing_data: str
    alarm_actions: tuple[str, ...]  # references
    tags: dict[str, str]
    metric_filter: MetricFilterPlan
    key: str | None = None
    namespace: str | None = None
    metric_name: str | None = None
    statistic: str | None = None
    period: int | None = None
    threshold: int | None = None
    threshold_metric_id: str | None = None
    metric_queries: tuple[MetricQueryPlan, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AlarmsPlan:
    """The alarm topic and every alarm, in creation order."""

    topic: TopicPlan
    alarms: tuple[AlarmPlan, ...]

    def events(self) -> list[str]:
        """What the alarms watch, `<event>` or `<event>-<key>`, in creation order."""
        return [f"{a.event}-{a.key}" if a.key else a.event for a in self.alarms]


@dataclass(frozen=True, kw_only=True)
class VaultPlan:
    """The `aws_backup_vault`, encrypted with keyplane's backup key."""

    path: str
    name: str
    arn: str
    kms_key_arn: str  # reference
    tags: dict[str, str]
    prevent_destroy: bool


@dataclass(frozen=True, kw_only=True)
class VaultLockPlan:
    """The `aws_backup_vault_lock_configuration`; `changeable_for_days` makes it COMPLIANCE."""

    path: str
    backup_vault_name: str  # reference
    mode: str
    min_retention_days: int
    changeable_for_days: int | None


@dataclass(frozen=True, kw_only=True)
class BackupRulesPlan:
    """The `aws_backup_plan`: one daily rule, its retention and its cross-account copy."""

    path: str
    name: str
    rule_name: str
    target_vault_name: str  # reference
    schedule: str
    delete_after_days: int
    recovery_point_tags: dict[str, str]
    copy_destination_vault_arn: str | None
    copy_delete_after_days: int | None
    tags: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class BackupSelectionPlan:
    """The `aws_backup_selection`: the declared ARNs still tagged for this environment."""

    path: str
    name: str
    plan_id: str  # reference
    iam_role_arn: str  # reference
    resources: tuple[str, ...]
    condition_tag_key: str
    condition_tag_value: str


@dataclass(frozen=True, kw_only=True)
class RestoreTestingPlan:
    """The `aws_backup_restore_testing_plan` (ca and production tiers)."""

    path: str
    name: str
    schedule_expression: str
    algorithm: str
    include_vaults: tuple[str, ...]  # references
    recovery_point_types: tuple[str, ...]
    selection_window_days: int
    tags: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class RestoreTestingSelectionPlan:
    """One `aws_backup_restore_testing_selection`, per protected resource type."""

    path: str
    name: str
    restore_testing_plan_name: str  # reference
    protected_resource_type: str
    protected_resource_arns: tuple[str, ...]
    iam_role_arn: str  # reference
    validation_window_hours: int


@dataclass(frozen=True, kw_only=True)
class BackupPlan:
    """The backup vault of the environment, its key, lock, plan, selection and restore tests."""

    key: KmsKeyPlan
    service_role: str  # path of the role AWS Backup assumes
    vault: VaultPlan
    lock: VaultLockPlan
    plan: BackupRulesPlan | None = None
    selection: BackupSelectionPlan | None = None
    restore_testing: RestoreTestingPlan | None = None
    restore_testing_selections: tuple[RestoreTestingSelectionPlan, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AwsPlan:
    """Everything the AWS half of one environment creates; `tier` is the highest of its keys."""

    env_name: str
    account_id: str
    region: str
    partition: str
    tier: Tier
    providers: tuple[ProviderPlan, ...]
    iam: IamPlan
    keys: tuple[ManagedKeyPlan, ...]
    audit: AuditPlan
    cloudhsm: CloudHsmPlan | None = None
    alarms: AlarmsPlan | None = None
    backup: BackupPlan | None = None

    def key(self, name: str) -> ManagedKeyPlan:
        """The planned declared key called `name`."""
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)

    def kms_keys(self) -> Iterator[KmsKeyPlan]:
        """Every KMS key: each generation of each declared key, then keyplane's own."""
        for k in self.keys:
            yield from k.keys
        yield self.audit.key
        if self.backup is not None:
            yield self.backup.key

    @property
    def ssm_parameter_names(self) -> tuple[str, ...]:
        """The SSM parameters `keyplane keystore connect` reads (none without a CloudHSM key
        store); no stack reads them."""
        if self.cloudhsm is None:
            return ()
        c = self.cloudhsm.connect
        return (c.password_parameter, c.trust_anchor_parameter)


# ---- validated inputs of each part ----

@dataclass(frozen=True, kw_only=True)
class AwsProvidersConfig:
    """Where an environment's AWS resources live.

    `replica_regions` (default: none) gets one aliased provider each, for the
    multi-Region replicas of keys; `allowed_account_ids` pins every provider to the
    environment's account so an apply with the wrong credentials fails before it acts.
    """

    env_name: str
    account_id: str
    region: str
    replica_regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _ACCOUNT.match(self.account_id):
            raise AwsDeclarationError(
                f"account_id must be 12 digits, got '{self.account_id}'", code="KP310")
        for region in (self.region, *self.replica_regions):
            if not _REGION.match(region):
                raise AwsDeclarationError(f"'{region}' is not an aws region name",
                                          code="KP310")
        if self.region in self.replica_regions:
            raise AwsDeclarationError(
                f"replica region '{self.region}' is the primary region", code="KP310")
        if len(set(self.replica_regions)) != len(self.replica_regions):
            raise AwsDeclarationError("replica regions must be distinct, got "
                                      f"{', '.join(self.replica_regions)}", code="KP310")


@dataclass(frozen=True, kw_only=True)
class SeparationOfDutiesConfig:
    """The roles of one environment; `tier` is the highest tier they serve (for tags)."""

    env: Environment
    tier: Tier

    def __post_init__(self) -> None:
        env = self.env
        if env.aws is None:
            raise AwsDeclarationError(f"environment '{env.name}' has no aws section",
                                      code="KP306")
        for duty in ("key_admins", "break_glass"):
            if not _aws_principals(env, duty):
                raise AwsDeclarationError(
                    f"principals.{duty}.aws is empty; an environment with aws keys needs at "
                    "least one", code="KP306")
        aws_keys = env.keys_on(Cloud.AWS)
        if any(k.tier is Tier.CA for k in aws_keys) and not _aws_principals(env, "ceremony"):
            raise AwsDeclarationError("ca keys need principals.ceremony.aws (the ceremony "
                                      "role, mfa required)", code="KP306")
        for wl in self.users():
            if wl.aws is None or (wl.aws.oidc is None) == (wl.aws.role_arn is None):
                raise AwsDeclarationError(f"workload '{wl.name}' needs exactly one aws "
                                          "identity (oidc or role_arn)", code="KP306")
            if wl.aws.oidc is not None and any(c in wl.aws.oidc.subject for c in "*?"):
                raise AwsDeclarationError(f"oidc subject of '{wl.name}' must be exact, got "
                                          f"'{wl.aws.oidc.subject}'", code="KP306")
            if wl.human and any(not policy_for(k.tier).human_use_allowed
                                for k in aws_keys if wl.name in k.users):
                raise AwsDeclarationError(f"human workload '{wl.name}' may use "
                                          "non-production keys only", code="KP306")

    def users(self) -> list[Workload]:
        """The workloads that use at least one aws key, by name."""
        users = {u for k in self.env.keys_on(Cloud.AWS) for u in k.users}
        return [self.env.workload(n) for n in sorted(users)]


@dataclass(frozen=True, kw_only=True)
class CloudHsmKeyStoreConfig:
    """A CloudHSM cluster with one HSM per declared Availability Zone, and its key store.

    `hsm_type` (default: hsm2m.medium, in FIPS mode) may be hsm1.medium for older
    clusters. `cloudhsm` is the environment's filled-in `aws.cloudhsm` section.
    """

    env_name: str
    cloudhsm: CloudHsm
    hsm_type: str = HSM_TYPES[0]

    def __post_init__(self) -> None:
        hsm = self.cloudhsm
        if self.hsm_type not in HSM_TYPES:
            raise AwsDeclarationError(f"hsm_type must be one of {', '.join(HSM_TYPES)}, got "
                                      f"'{self.hsm_type}'", code="KP307")
        zones = {h.availability_zone for h in hsm.hsms}
        need = limits.CLOUDHSM_MIN_HSMS_FOR_KEY_STORE
        if len(zones) < need:
            raise AwsDeclarationError(
                f"a custom key store needs at least {need} hsms in distinct availability "
                f"zones, got {len(hsm.hsms)} in {len(zones)}", code="KP307")
        retention = hsm.backup_retention_in_days
        lim = limits.CLOUDHSM_BACKUP_RETENTION
        floor = policy_for(Tier.CA).cloudhsm_backup_retention_in_days or lim.minimum
        if retention is None or not lim.contains(retention) or retention < floor:
            raise AwsDeclarationError(
                f"backup_retention_in_days must be between {floor} and {lim.maximum} days for "
                f"the ca tier, got {retention}", code="KP307")
        for name in (hsm.key_store_password_ssm_parameter,
                     hsm.trust_anchor_certificate_ssm_parameter):
            if not name.startswith("/"):
                raise AwsDeclarationError(f"ssm parameter names must start with '/', got "
                                          f"'{name}'", code="KP307")

    def hsms(self) -> list[tuple[str, str]]:
        """(availability zone, subnet) of the HSMs to create: the first declared per zone."""
        seen: dict[str, str] = {}
        for h in self.cloudhsm.hsms:
            seen.setdefault(h.availability_zone, h.subnet_id)
        return sorted(seen.items())


def _check_key(key: KeyDecl, *, custom_key_store_id: str | None,
               provider_regions: Collection[str]) -> KeyFamily:
    """Eager checks shared by single keys and generations; returns the key's family."""
    if key.cloud is not Cloud.AWS:
        raise AwsDeclarationError(f"key '{key.name}' is on {key.cloud.value}; this construct "
                                  "builds aws keys only", code="KP301")
    if key.spec not in AWS_KEY_SPECS:
        raise AwsDeclarationError(f"key '{key.name}': spec '{key.spec}' is not an aws key "
                                  f"spec; allowed: {', '.join(AWS_KEY_SPECS)}", code="KP301")
    info = AWS_KEY_SPECS[key.spec]
    if key.usage not in info.usages:
        raise AwsDeclarationError(f"key '{key.name}': spec '{key.spec}' cannot be used to "
                                  f"{key.usage.value}", code="KP301")
    tier = policy_for(key.tier)
    if key.origin is Origin.CLOUDHSM:
        if custom_key_store_id is None:
            raise AwsDeclarationError(f"key '{key.name}' has origin cloudhsm and needs a "
                                      "custom_key_store_id", code="KP301")
        if key.spec != "SYMMETRIC_DEFAULT":
            raise AwsDeclarationError(f"key '{key.name}': custom key stores hold only "
                                      f"SYMMETRIC_DEFAULT keys, got '{key.spec}'",
                                      code="KP301")
    elif custom_key_store_id is not None:
        raise AwsDeclarationError(f"key '{key.name}' has origin "
                                  f"{key.origin.value if key.origin else 'none'}; "
                                  "custom_key_store_id applies to origin cloudhsm only",
                                  code="KP301")
    window = key.deletion_window_in_days
    if window is None or not limits.AWS_KMS_DELETION_WINDOW.contains(window):
        raise AwsDeclarationError(
            f"key '{key.name}': deletion_window_in_days must be "
            f"{limits.AWS_KMS_DELETION_WINDOW.describe()}, got {window}", code="KP303")
    if window < tier.min_deletion_window_in_days:
        raise AwsDeclarationError(
            f"key '{key.name}': deletion_window_in_days must be at least "
            f"{tier.min_deletion_window_in_days} for the {key.tier.value} tier, got {window}",
            code="KP303")
    replicas = key.replica_regions or ()
    if replicas and not tier.replicas_allowed:
        raise AwsDeclarationError(f"key '{key.name}': {key.tier.value} keys have no "
                                  "multi-region replicas", code="KP304")
    if len(replicas) < tier.min_replica_regions:
        raise AwsDeclarationError(
            f"key '{key.name}': {key.tier.value} keys need at least {tier.min_replica_regions} "
            f"replica region(s), got {len(replicas)}", code="KP304")
    if replicas and key.origin is Origin.EXTERNAL:
        raise AwsDeclarationError(f"key '{key.name}': imported keys are single-region in "
                                  "keyplane; remove replica_regions", code="KP304")
    missing = [r for r in replicas if r not in provider_regions]
    if missing:
        raise AwsDeclarationError(f"key '{key.name}': no provider for replica region(s) "
                                  f"{', '.join(missing)}", code="KP304")
    return info.family


@dataclass(frozen=True, kw_only=True)
class TieredKmsKeyConfig:
    """One KMS key of a declared key (or of one of its generations).

    Everything comes from the filled-in `KeyDecl`: spec, usage, origin, deletion
    window, rotation period, replicas. `generation` (default: none) marks a key
    that cannot rotate automatically; `alias_name` (default: no alias) is created
    in the primary Region and in every replica Region. `provider_regions` are the
    replica Regions that have a provider; `depends_on` paths of resources created first.
    """

    env_name: str
    key: KeyDecl
    policy: pol.PolicyDocument
    generation: Generation | None = None
    alias_name: str | None = None
    custom_key_store_id: str | None = None
    provider_regions: Collection[str] = ()
    depends_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        key = self.key
        family = _check_key(key, custom_key_store_id=self.custom_key_store_id,
                            provider_regions=self.provider_regions)
        elig = rotation_eligibility(cloud=Cloud.AWS, family=family,
                                    origin=key.origin or Origin.KMS,
                                    custom_key_store=self.custom_key_store_id is not None)
        if key.rotation_period_in_days is not None:
            if not elig:
                raise AwsDeclarationError(f"key '{key.name}' cannot rotate automatically: "
                                          f"{elig.reason}", code="KP302")
            lim = limits.AWS_KMS_ROTATION_PERIOD
            if not lim.contains(key.rotation_period_in_days):
                raise AwsDeclarationError(
                    f"key '{key.name}': rotation_period_in_days must be {lim.describe()}, got "
                    f"{key.rotation_period_in_days}", code="KP302")
            if self.generation is not None:
                raise AwsDeclarationError(f"key '{key.name}' rotates automatically; it has no "
                                          "generations", code="KP305")
        elif self.generation is None:
            raise AwsDeclarationError(f"key '{key.name}' cannot rotate automatically "
                                      f"({elig.reason}) and needs a generation",
                                      code="KP305")
        elif self.generation not in key.generations:
            raise AwsDeclarationError(f"key '{key.name}': generation "
                                      f"{self.generation.generation} is not declared",
                                      code="KP305")

    @property
    def rotates(self) -> bool:
        """Whether the cloud rotates this key's material (the model filled a period)."""
        return self.key.rotation_period_in_days is not None

    def tags(self) -> dict[str, str]:
        """`keyplane:env/tier/key`, plus generation and creation date for generation keys."""
        tags = aws_tags(self.env_name, self.key.tier, self.key.name)
        if self.generation is not None:
            tags[AWS_TAG_GENERATION] = str(self.generation.generation)
            tags[AWS_TAG_CREATED_ON] = self.generation.created_on.isoformat()
        return tags


@dataclass(frozen=True, kw_only=True)
class ManagedKeyConfig:
    """A declared key: one KMS key when it rotates automatically, else one per generation.

    `policy` is the policy of the key (or of its current generation); `verify_only_policy`
    (default: `policy`) is given to generations that are no longer current.
    """

    env_name: str
    key: KeyDecl
    policy: pol.PolicyDocument
    verify_only_policy: pol.PolicyDocument | None = None
    custom_key_store_id: str | None = None
    provider_regions: Collection[str] = ()
    depends_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        key = self.key
        _check_key(key, custom_key_store_id=self.custom_key_store_id,
                   provider_regions=self.provider_regions)
        if key.alias is None or not key.alias.startswith("alias/") \
                or key.alias.startswith(limits.AWS_RESERVED_ALIAS_PREFIX):
            raise AwsDeclarationError(f"key '{key.name}': alias must start with 'alias/' and "
                                      f"not 'alias/aws/', got {key.alias!r}", code="KP301")
        if key.rotation_period_in_days is None:
            if key.generation is None or key.current_generation() is None:
                listed = ", ".join(str(g.generation) for g in key.generations) or "none"
                raise AwsDeclarationError(
                    f"key '{key.name}': current generation {key.generation} is not among the "
                    f"declared generations ({listed})", code="KP305")
            numbers = [g.generation for g in key.generations]
            if len(set(numbers)) != len(numbers):
                raise AwsDeclarationError(f"key '{key.name}': generations must be distinct, "
                                          f"got {', '.join(map(str, numbers))}", code="KP305")


@dataclass(frozen=True, kw_only=True)
class AuditSinkConfig:
    """The audit trail of one environment; `tier` is the highest tier it serves.

    Retention of the log group is the tier's log retention rounded up to a value
    CloudWatch Logs accepts; Object Lock (COMPLIANCE) applies where the tier has a
    retention for it (ca, production).
    """

    env_name: str
    account_id: str
    region: str
    tier: Tier

    def __post_init__(self) -> None:
        name = names.audit_bucket_name(self.env_name, self.account_id)
        if len(name) > S3_BUCKET_NAME_MAX:
            raise AwsDeclarationError(f"audit bucket name '{name}' is longer than "
                                      f"{S3_BUCKET_NAME_MAX} characters; shorten the "
                                      "environment name", code="KP308")
        days = policy_for(self.tier).log_retention_in_days
        if days > max(limits.CLOUDWATCH_LOG_RETENTION_DAYS):
            raise AwsDeclarationError(f"log retention {days} days is above what cloudwatch "
                                      "logs accepts", code="KP308")

    @property
    def log_retention_in_days(self) -> int:
        """The tier's log retention as a value CloudWatch Logs accepts."""
        return limits.cloudwatch_retention_at_least(policy_for(self.tier).log_retention_in_days)

    @property
    def object_lock_retention_in_days(self) -> int | None:
        """COMPLIANCE-mode default retention of the bucket, when the tier has one."""
        return policy_for(self.tier).object_lock_retention_in_days


@dataclass(frozen=True, kw_only=True)
class KeyAlarmsConfig:
    """The alarms of one environment.

    `ceremony_keys` maps each ca key to (references to) its key ARNs, one per generation;
    `sign_volume_keys` maps each production signing key to the ARNs of every live generation
    and its replicas (default: none of either). `topic_kms_key_arn` is a reference too.
    """

    env_name: str
    tier: Tier
    log_group_name: str
    topic_kms_key_arn: str
    principals: pol.AccountPrincipals
    ceremony_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sign_volume_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tier = policy_for(self.tier)
        if self.ceremony_keys and SIGN_OUTSIDE_CEREMONY not in tier.alarms:
            raise AwsDeclarationError(f"the {self.tier.value} tier has no "
                                      f"{SIGN_OUTSIDE_CEREMONY} alarm; ceremony_keys apply to "
                                      "ca only", code="KP311")
        if self.ceremony_keys and not self.principals.has_ceremony:
            raise AwsDeclarationError(f"{SIGN_OUTSIDE_CEREMONY} needs principals.ceremony.aws",
                                      code="KP311")
        for name, arns in self.ceremony_keys.items():
            if not arns:
                raise AwsDeclarationError(f"ca key '{name}' has no key arns to watch",
                                          code="KP311")
            # ARNs are known after apply; size the pattern with full-length key ARNs.
            longest = ceremony_pattern(self.principals.role_arn(ROLE_CEREMONY),
                                       [_KEY_ARN_LENGTH * "x"] * len(arns))
            if len(longest) > METRIC_FILTER_PATTERN_MAX:
                raise AwsDeclarationError(
                    f"ca key '{name}' has {len(arns)} key arns; the ceremony filter pattern "
                    f"would exceed {METRIC_FILTER_PATTERN_MAX} characters", code="KP311")
        for name, arns in self.sign_volume_keys.items():
            longest = sign_pattern([_KEY_ARN_LENGTH * "x"] * len(arns))
            if not arns or len(longest) > METRIC_FILTER_PATTERN_MAX:
                raise AwsDeclarationError(
                    f"signing key '{name}' has {len(arns)} key arns to watch; the sign-volume "
                    f"filter pattern must name 1 to fit {METRIC_FILTER_PATTERN_MAX} characters",
                    code="KP311")

    @property
    def events(self) -> list[str]:
        """The AWS KMS events the tier alarms on, sorted."""
        return sorted(policy_for(self.tier).alarms & AWS_EVENTS)


@dataclass(frozen=True, kw_only=True)
class BackupVaultConfig:
    """The backup vault of an environment; `tier` is the highest tier it serves.

    `backup` (default: none) names the resources the plan protects, the account that
    receives cross-account copies (required for ca) and the drill account.
    """

    env_name: str
    region: str
    tier: Tier
    backup: AwsBackup | None = None

    def __post_init__(self) -> None:
        tier = policy_for(self.tier)
        if tier.vault_lock_mode is None or tier.vault_min_retention_in_days is None:
            raise AwsDeclarationError(f"the {self.tier.value} tier has no backup vault",
                                      code="KP309")
        if not limits.BACKUP_VAULT_RETENTION.contains(tier.vault_min_retention_in_days):
            raise AwsDeclarationError(
                f"min retention must be {limits.BACKUP_VAULT_RETENTION.describe()}, got "
                f"{tier.vault_min_retention_in_days}", code="KP309")
        if tier.cross_account_backup_copy and (self.backup is None
                                               or self.backup.copy_to_account_id is None):
            raise AwsDeclarationError(f"the {self.tier.value} tier copies backups to another "
                                      "account; set aws.backup.copy_to_account_id",
                                      code="KP309")
        if not limits.BACKUP_RESTORE_VALIDATION_WINDOW.contains(
                RESTORE_VALIDATION_WINDOW_HOURS):
            raise AwsDeclarationError("restore validation window out of range", code="KP309")
        for res in self.resources:
            resource_type(res.arn)
        if self.tier in RESTORE_TESTING_TIERS and tier.drill_cadence_in_days is not None:
            restore_testing_schedule(tier.drill_cadence_in_days)

    @property
    def resources(self) -> tuple:  # type: ignore[type-arg]
        """The declared resources to back up (default: none)."""
        return self.backup.resources if self.backup is not None else ()

    @property
    def vault_name(self) -> str:
        """`keyplane-<env>`; the copy account is expected to hold `keyplane-<env>-copy`."""
        return names.backup_vault_name(self.env_name)


# ---- planning: providers and roles ----

def _plan_providers(config: AwsProvidersConfig) -> tuple[ProviderPlan, ...]:
    common: dict[str, Any] = {"allowed_account_ids": (config.account_id,),
                              "default_tags": {AWS_TAG_ENV: config.env_name}}
    out = [ProviderPlan(path="providers/aws", region=config.region, alias=None, **common)]
    out += [ProviderPlan(path=f"providers/aws-{region}", region=region,
                         alias=names.provider_alias(region), **common)
            for region in sorted(config.replica_regions)]
    return tuple(out)


class _Roles:
    """The roles being planned, in creation order; records are replaced as policies are added."""

    def __init__(self, env: Environment, tier: Tier, principals: pol.AccountPrincipals) -> None:
        self.env, self.tier, self.p = env, tier, principals
        self.roles: dict[str, RolePlan] = {}
        self.oidc: dict[str, OidcProviderPlan] = {}

    def tags(self, role: str) -> dict[str, str]:
        return {**aws_tags(self.env.name, self.tier), AWS_TAG_ROLE: role}

    def add(self, cid: str, *, name: str, duty: str, trust: pol.PolicyDocument, description: str,
            workload: str | None = None) -> RolePlan:
        if cid in self.roles:
            raise AwsDeclarationError(f"role '{cid}' is planned twice", code="KP306")
        plan = RolePlan(path=_child("iam", cid), name=name,
                        arn=names.role_arn(self.p.partition, self.p.account_id, name), duty=duty,
                        workload=workload,
                        description=f"keyplane {self.env.name}: {description}",
                        trust_policy=trust, max_session_duration=HUMAN_SESSION_MAX_SECONDS,
                        tags=self.tags(duty))
        self.roles[cid] = plan
        return plan

    def duty(self, role: str, trust: pol.PolicyDocument, description: str,
             statements: Sequence[pol.Statement]) -> None:
        self.add(role, name=role_name(self.env.name, role), duty=role, trust=trust,
                 description=description)
        if statements:
            self.inline(role, _child("iam", f"{role}-policy"), list(statements))

    def inline(self, cid: str, path: str, statements: list[pol.Statement]) -> None:
        role = self.roles[cid]
        if any(p.path == path for p in role.inline_policies):
            raise AwsDeclarationError(f"role '{cid}' has two policies at '{path}'", code="KP306")
        policy = InlinePolicyPlan(path=path, name=names.INLINE_POLICY_NAME,
                                  role=ref(role.path, "id"),
                                  document={"Version": pol.POLICY_VERSION, "Statement": statements})
        self.roles[cid] = dataclasses.replace(role, inline_policies=(*role.inline_policies, policy))

    def attach(self, cid: str, path: str, policy_arn: str) -> None:
        role = self.roles[cid]
        attachment = PolicyAttachmentPlan(path=path, role=ref(role.path, "name"),
                                          policy_arn=policy_arn)
        self.roles[cid] = dataclasses.replace(
            role, managed_policies=(*role.managed_policies, attachment))

    def service(self, cid: str, name: str, service: str, source_arn: str | None,
                description: str) -> RolePlan:
        """A role assumed by an AWS service, pinned to this account (and source) by condition."""
        cond: dict[str, dict[str, str]] = {
            "StringEquals": {"aws:SourceAccount": self.p.account_id}}
        if source_arn is not None:
            cond["ArnEquals"] = {"aws:SourceArn": source_arn}
        return self.add(cid, name=name, duty=ROLE_SERVICE, description=description,
                        trust=pol.trust_policy({"Service": service}, condition=cond))

    def oidc_provider(self, issuer: str) -> OidcProviderPlan:
        if issuer not in self.oidc:
            audiences = sorted({w.aws.oidc.audience for w in self.env.workloads
                                if w.aws and w.aws.oidc and w.aws.oidc.provider == issuer})
            self.oidc[issuer] = OidcProviderPlan(
                path=_child("iam", f"oidc-{slug(issuer)}"), issuer=issuer,
                url=f"https://{issuer}", client_ids=tuple(audiences),
                tags=aws_tags(self.env.name, self.tier))
        return self.oidc[issuer]

    def paths(self) -> tuple[str, ...]:
        return tuple(r.path for r in self.roles.values())

    def plan(self) -> IamPlan:
        return IamPlan(roles=tuple(self.roles.values()), oidc_providers=tuple(self.oidc.values()))


def _plan_roles(config: SeparationOfDutiesConfig) -> _Roles:
    """Key admin, break-glass, auditor, backup operator, ceremony and key-user roles."""
    env, tier = config.env, config.tier
    assert env.aws is not None
    p = pol.AccountPrincipals.of(env)
    roles = _Roles(env, tier, p)
    floor = policy_for(tier).min_deletion_window_in_days
    account_keys = f"arn:{p.partition}:kms:*:{p.account_id}:key/*"
    account_aliases = f"arn:{p.partition}:kms:*:{p.account_id}:alias/*"

    def assumed_by(duty: str, *, mfa: bool) -> pol.PolicyDocument:
        arns = _aws_principals(env, duty)
        return pol.trust_policy({"AWS": arns[0] if len(arns) == 1 else sorted(arns)},
                                condition=pol.mfa_condition() if mfa else None)

    roles.duty(ROLE_KEY_ADMIN, assumed_by("key_admins", mfa=False),
               "administers keyplane keys; cannot use or delete them", [
                   pol.identity_statement("AdministerKeys", "Allow", pol.KMS_ADMIN_ACTIONS
                                          + pol.KMS_IMPORT_ACTIONS,
                                          [account_keys, account_aliases]),
                   pol.identity_statement("CreateKeys", "Allow",
                                          ["kms:CreateKey", "kms:ListAliases", "kms:ListKeys"],
                                          ["*"]),
                   pol.identity_statement("DenyKeyUse", "Deny", pol.KMS_USE_ACTIONS, ["*"]),
                   pol.identity_statement("DenyKeyDeletion", "Deny", [pol.KMS_DELETE_ACTION],
                                          ["*"]),
               ])
    window = "kms:ScheduleKeyDeletionPendingWindowInDays"
    roles.duty(ROLE_BREAK_GLASS, assumed_by("break_glass", mfa=True),
               "the only role that may schedule key deletion or contain a compromise (mfa)", [
                   pol.identity_statement(
                       "ScheduleKeyDeletion", "Allow", [pol.KMS_DELETE_ACTION], [account_keys],
                       {**pol.mfa_condition(), "NumericGreaterThanEquals": {window: str(floor)}}),
                   pol.identity_statement("DescribeKeys", "Allow",
                                          ["kms:CancelKeyDeletion", "kms:DescribeKey"],
                                          [account_keys]),
                   # keyplane incident: disable the key, revoke its grants, read who used it
                   pol.identity_statement("ContainCompromise", "Allow",
                                          pol.KMS_CONTAIN_ACTIONS, [account_keys],
                                          pol.mfa_condition()),
                   pol.identity_statement("ReadEventHistory", "Allow",
                                          ["cloudtrail:LookupEvents"], ["*"],
                                          pol.mfa_condition()),
               ])
    if p.has_auditor:
        roles.duty(ROLE_AUDITOR, assumed_by("auditors", mfa=False),
                   "reads key metadata and the audit trail; changes nothing", [
                       pol.identity_statement("ReadKeys", "Allow", pol.KMS_READ_ACTIONS,
                                              [account_keys]),
                       pol.identity_statement("ListKeys", "Allow",
                                              ["cloudtrail:LookupEvents", "kms:ListAliases",
                                               "kms:ListKeys"], ["*"]),
                   ])
    if p.has_backup_operator:
        region = env.aws.region
        vault = names.backup_vault_arn(p.partition, region, p.account_id, env.name)
        points = names.recovery_points_arn(p.partition, region, p.account_id)
        service = names.role_arn(p.partition, p.account_id,
                                 names.backup_service_role_name(env.name))
        roles.duty(ROLE_BACKUP_OPERATOR, assumed_by("backup_operators", mfa=False),
                   "runs backups and restore drills; cannot use keys", [
                       pol.identity_statement("RunBackups", "Allow",
                                              ["backup:DescribeBackupVault",
                                               "backup:ListRecoveryPointsByBackupVault",
                                               "backup:StartBackupJob"], [vault]),
                       pol.identity_statement("Restore", "Allow",
                                              ["backup:DescribeRecoveryPoint",
                                               "backup:GetRecoveryPointRestoreMetadata",
                                               "backup:StartRestoreJob"], [points]),
                       pol.identity_statement("PassBackupRole", "Allow", ["iam:PassRole"],
                                              [service],
                                              {"StringEquals": {
                                                  "iam:PassedToService": "backup.amazonaws.com"}}),
                       pol.identity_statement("DenyKeyUse", "Deny", pol.KMS_USE_ACTIONS, ["*"]),
                   ])
    if p.has_ceremony:
        roles.duty(ROLE_CEREMONY, assumed_by("ceremony", mfa=True),
                   "the one role that uses ca keys, in a witnessed ceremony (mfa)", [])
    for wl in config.users():
        _plan_user_role(roles, wl)
    return roles


def _plan_user_role(roles: _Roles, wl: Workload) -> None:
    assert wl.aws is not None
    if wl.aws.oidc is not None:
        oidc = wl.aws.oidc
        provider = roles.oidc_provider(oidc.provider)
        trust = pol.trust_policy(
            {"Federated": ref(provider.path, "arn")}, action="sts:AssumeRoleWithWebIdentity",
            condition={"StringEquals": {f"{oidc.provider}:aud": oidc.audience,
                                        f"{oidc.provider}:sub": oidc.subject}})
    else:
        assert wl.aws.role_arn is not None
        trust = pol.trust_policy({"AWS": wl.aws.role_arn},
                                 condition=pol.mfa_condition() if wl.human else None)
    what = "a person (mfa)" if wl.human else "a workload"
    roles.add(f"user-{wl.name}", name=role_name(roles.env.name, ROLE_KEY_USER, wl.name),
              duty=ROLE_KEY_USER, trust=trust, description=f"key use by {what}: {wl.name}",
              workload=wl.name)


def _grant_key_use(roles: _Roles, role_id: str, grants: Sequence[KeyGrant], *, mfa: bool) -> None:
    """The identity policy of a key-user (or ceremony) role: only its keys, only its
    operations; the key policies grant the same, this keeps IAM in step for review."""
    cond = pol.mfa_condition() if mfa else None
    stmts = [pol.identity_statement(pol.sid("UseKeys", str(i)), "Allow", g.actions,
                                    list(g.resources), cond)
             for i, g in enumerate(grants, start=1)]
    roles.inline(role_id, _child("iam", f"{role_id}-policy"), stmts)


# ---- planning: keys ----

def _alias_everywhere(scope: str, id_: str, name: str, target: KmsKeyPlan
                      ) -> tuple[AliasPlan, ...]:
    """The alias `name` in the primary Region and in every replica Region of `target`."""
    out = [AliasPlan(path=_child(scope, id_), name=name, target_key_id=ref(target.path, "id"))]
    out += [AliasPlan(path=_child(scope, f"{id_}-{r.region}"), name=name,
                      target_key_id=ref(r.path, "key_id"), region=r.region)
            for r in target.replicas]
    return tuple(out)


def _adopted_aliases(aliases: tuple[AliasPlan, ...], key: KeyDecl) -> tuple[AliasPlan, ...]:
    """`aliases` with the ones the key's `adopt` block names as existing marked for import."""
    adopt = key.adopt
    if adopt is None:
        return aliases
    out = []
    for a in aliases:
        existing = (adopt.aliases if a.region is None
                    else adopt.replica_aliases.get(a.region, ()))
        out.append(dataclasses.replace(a, import_id=a.name) if a.name in existing else a)
    return tuple(out)


def _plan_kms_key(config: TieredKmsKeyConfig, scope: str) -> KmsKeyPlan:
    """One KMS key (with replicas and its own alias) under construct path `scope`."""
    key, tier = config.key, policy_for(config.key.tier)
    gen = config.generation
    enabled = gen.enabled if gen is not None else True
    described = key.description or key.name
    if gen is not None:
        described += f" (generation {gen.generation})"
    assert key.spec is not None and key.deletion_window_in_days is not None
    path = _child(scope, "key")
    policy = config.policy
    tags = config.tags()
    depends_on = tuple(config.depends_on)
    adopt = key.adopt if key.adopt is not None and key.adopt.aws_key_id is not None else None
    if adopt is not None and gen is not None and gen.generation != adopt.generation:
        adopt = None  # another generation is the adopted key
    if adopt is not None:
        # The existing key keeps its description and its own tags (keyplane's tags win):
        # the first plan changes only what the tier demands.
        described = key.description
        tags = {**adopt.tags, **tags}
    replicas = tuple(ReplicaPlan(
        path=_child(scope, f"replica-{region}"), region=region,
        primary_key_arn=ref(path, "arn"), enabled=enabled, description=described,
        deletion_window_in_days=key.deletion_window_in_days,
        bypass_policy_lockout_safety_check=False, policy=policy, tags=tags,
        prevent_destroy=tier.prevent_destroy, depends_on=depends_on,
        import_id=adopt.replicas.get(region) if adopt is not None else None)
        for region in key.replica_regions or ())
    if key.origin is Origin.EXTERNAL:
        resource, origin = KMS_EXTERNAL_KEY, ORIGIN_EXTERNAL
    else:
        resource = KMS_KEY
        origin = ORIGIN_AWS_CLOUDHSM if config.custom_key_store_id is not None else ORIGIN_AWS_KMS
    rotates = config.rotates  # never for imported material (checked above)
    plan = KmsKeyPlan(
        path=path, resource_type=resource, key_name=key.name, description=described,
        spec=key.spec, usage=AWS_KEY_USAGE[key.usage], origin=origin, enabled=enabled,
        multi_region=bool(key.replica_regions), rotation_enabled=rotates,
        rotation_period_in_days=key.rotation_period_in_days if rotates else None,
        deletion_window_in_days=key.deletion_window_in_days,
        bypass_policy_lockout_safety_check=False, policy=policy, tags=tags,
        prevent_destroy=tier.prevent_destroy,
        generation=gen.generation if gen is not None else None,
        current=gen is None or gen.generation == key.generation,
        custom_key_store_id=config.custom_key_store_id, depends_on=depends_on,
        replicas=replicas, import_id=adopt.aws_key_id if adopt is not None else None)
    if config.alias_name is not None:
        plan = dataclasses.replace(
            plan, aliases=_alias_everywhere(scope, "alias", config.alias_name, plan))
    return plan


def _plan_managed_key(config: ManagedKeyConfig) -> ManagedKeyPlan:
    """A declared key with its alias: `key` (automatic rotation) or `g<N>` per generation."""
    key = config.key
    assert key.alias is not None
    path = _child("keys", key.name)
    common: dict[str, Any] = {
        "env_name": config.env_name,
        "key": key,
        "custom_key_store_id": config.custom_key_store_id,
        "provider_regions": config.provider_regions,
        "depends_on": config.depends_on,
    }
    if key.rotation_period_in_days is not None:
        # A key that rotates automatically has its resources directly under the declared
        # key's path: `<name>/key`, `<name>/alias`.
        current = _plan_kms_key(TieredKmsKeyConfig(policy=config.policy, **common), path)
        keys: tuple[KmsKeyPlan, ...] = (current,)
    else:
        verify_policy = config.verify_only_policy or config.policy
        planned = []
        for gen in sorted(key.generations, key=lambda g: g.generation):
            is_current = gen.generation == key.generation
            planned.append(_plan_kms_key(TieredKmsKeyConfig(
                policy=config.policy if is_current else verify_policy, generation=gen,
                alias_name=names.generation_alias(key.alias, gen.generation), **common),
                _child(path, f"g{gen.generation}")))
        keys = tuple(planned)
        current = next(k for k in keys if k.current)
    # The declared alias is a child of the declared key, not of a generation, so a rotation
    # updates it in place (UpdateAlias) instead of deleting and re-creating it.
    aliases = _adopted_aliases(_alias_everywhere(path, "alias", key.alias, current), key)
    family = pol.key_family(key)
    grants = [KeyGrant(actions=pol.use_actions(key.usage, family),
                       resources=tuple(current.arns))]
    older = [k for k in keys if not k.current and k.generation is not None and k.enabled]
    if older:
        grants.append(KeyGrant(actions=pol.use_actions(key.usage, family, verify_only=True),
                               resources=tuple(a for k in older for a in k.arns)))
    return ManagedKeyPlan(path=path, name=key.name, tier=key.tier, usage=key.usage,
                          alias=key.alias, rotates=key.rotation_period_in_days is not None,
                          users=tuple(key.users), keys=keys, aliases=aliases,
                          grants=tuple(grants))


def _infrastructure_key(*, scope: str, env: str, purpose: str, description: str,
                        tier: TierPolicy, policy: pol.PolicyDocument, tags: dict[str, str],
                        depends_on: tuple[str, ...]) -> KmsKeyPlan:
    """The symmetric key of one of keyplane's own services (audit trail, backup vault).

    Paths `<scope>/key` and `<scope>/key-alias`, alias `alias/keyplane-<env>-<purpose>`;
    rotation at the tier's maximum period and the tier's deletion window.
    """
    path = _child(scope, "key")
    return KmsKeyPlan(
        path=path, resource_type=KMS_KEY, key_name=service_key_name(purpose),
        description=description, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT",
        origin=ORIGIN_AWS_KMS, enabled=None, multi_region=False, rotation_enabled=True,
        rotation_period_in_days=tier.max_rotation_period_in_days,
        deletion_window_in_days=tier.default_deletion_window_in_days,
        bypass_policy_lockout_safety_check=False, policy=policy,
        tags={**tags, AWS_TAG_KEY: service_key_name(purpose)},
        prevent_destroy=tier.prevent_destroy, depends_on=depends_on,
        aliases=(AliasPlan(path=_child(scope, "key-alias"),
                           name=names.service_key_alias(env, purpose),
                           target_key_id=ref(path, "key_id")),))


def _plan_cloudhsm(config: CloudHsmKeyStoreConfig) -> CloudHsmPlan:
    """`aws_cloudhsm_v2_cluster` and its HSMs for ca keys, the custom key store keyplane
    connects on it, and the lookup by which the ca keys find the store."""
    hsm = config.cloudhsm
    assert hsm.backup_retention_in_days is not None
    tags = aws_tags(config.env_name, Tier.CA)
    cluster = ClusterPlan(
        path="cloudhsm/cluster", hsm_type=config.hsm_type,
        mode="FIPS" if config.hsm_type == "hsm2m.medium" else None,
        subnet_ids=tuple(sorted({h.subnet_id for h in hsm.hsms})),
        backup_retention_in_days=hsm.backup_retention_in_days,
        tags={**tags, AWS_TAG_BACKUP_RETENTION: str(hsm.backup_retention_in_days)},
        prevent_destroy=True)
    # The provider takes the HSM's placement as a subnet *or* a zone, never both; the
    # subnet is the precise one (its zone is the declared one, checked at load).
    hsms = tuple(HsmPlan(path=f"cloudhsm/hsm-{zone}", cluster_id=ref(cluster.path, "cluster_id"),
                         availability_zone=zone, subnet_id=subnet)
                 for zone, subnet in config.hsms())
    name = names.custom_key_store_name(config.env_name)
    connect = KeyStoreConnectPlan(
        name=name, store_type="AWS_CLOUDHSM", cluster_tags=dict(tags),
        password_parameter=hsm.key_store_password_ssm_parameter,
        trust_anchor_parameter=hsm.trust_anchor_certificate_ssm_parameter)
    return CloudHsmPlan(cluster=cluster, hsms=hsms,
                        key_store=KeyStoreLookupPlan(path="cloudhsm/key-store", name=name),
                        connect=connect)


def _adopted_stores(env: Environment, own: str) -> tuple[KeyStoreLookupPlan, ...]:
    """Lookups of the custom key stores adopted keys live in, other than keyplane's own."""
    found = sorted({k.adopt.custom_key_store for k in env.keys_on(Cloud.AWS)
                    if k.adopt is not None and k.adopt.custom_key_store not in (None, own)})
    out = []
    for name in found:
        assert name is not None
        out.append(KeyStoreLookupPlan(path=f"cloudhsm/key-store-{slug(name)}", name=name))
    if len({p.path for p in out}) != len(out):
        raise AwsDeclarationError(f"adopted custom key stores {', '.join(found)} are too alike "
                                  "to tell apart in construct ids", code="KP312")
    return tuple(out)


def _adopt_roles(iam: IamPlan, env: Environment) -> IamPlan:
    """The planned roles (and inline policies) that exist already, marked for import: the
    inventory's `adopt.aws_roles` and `adopt.aws_role_policies`."""
    adopt = env.adopt
    if adopt is None or not (adopt.aws_roles or adopt.aws_role_policies):
        return iam
    planned = {r.name for r in iam.roles}
    for name in (*adopt.aws_roles, *adopt.aws_role_policies):
        if name not in planned:
            raise AwsDeclarationError(
                f"adopt.aws_roles: '{name}' is not a role keyplane plans for environment "
                f"'{env.name}'; planned: {', '.join(sorted(planned))}", code="KP312")
    roles = []
    for r in iam.roles:
        if r.name in adopt.aws_role_policies and not r.inline_policies:
            raise AwsDeclarationError(f"adopt.aws_role_policies: role '{r.name}' has no inline "
                                      "policy in keyplane's plan", code="KP312")
        if r.name in adopt.aws_roles:
            policies = tuple(dataclasses.replace(p, import_id=f"{r.name}:{p.name}")
                             if r.name in adopt.aws_role_policies else p
                             for p in r.inline_policies)
            r = dataclasses.replace(r, import_id=r.name, inline_policies=policies)
        roles.append(r)
    return dataclasses.replace(iam, roles=tuple(roles))


def plan_hsm_stack(env: Environment) -> HsmStackPlan | None:
    """The `<env>-aws-hsm` stack of `env`; None when no aws key has origin cloudhsm."""
    plan = plan_environment(env)
    if plan.cloudhsm is None:
        return None
    provider = ProviderPlan(path="providers/aws", region=plan.region, alias=None,
                            allowed_account_ids=(plan.account_id,),
                            default_tags={AWS_TAG_ENV: plan.env_name})
    return HsmStackPlan(env_name=plan.env_name, account_id=plan.account_id, region=plan.region,
                        provider=provider, cloudhsm=plan.cloudhsm)


# ---- planning: audit, alarms, backup ----

def _bucket_policy(bucket_arn: str, trail_arn: str, account_id: str) -> pol.PolicyDocument:
    """TLS only; CloudTrail may write to its prefix, pinned to this trail."""
    return pol.document([
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": "s3:*", "Resource": [bucket_arn, f"{bucket_arn}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "CloudTrailAclCheck", "Effect": "Allow",
         "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
         "Resource": bucket_arn, "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}},
        {"Sid": "CloudTrailWrite", "Effect": "Allow",
         "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
         "Condition": {"StringEquals": {"aws:SourceArn": trail_arn,
                                        "s3:x-amz-acl": "bucket-owner-full-control"}}},
    ])


def _plan_audit(config: AuditSinkConfig, roles: _Roles, depends_on: tuple[str, ...]) -> AuditPlan:
    """Audit KMS key, locked S3 bucket, KMS-encrypted log group and a multi-Region trail."""
    env, tier = config.env_name, policy_for(config.tier)
    p = roles.p
    tags = aws_tags(env, config.tier)
    part, acct, region = p.partition, p.account_id, config.region
    trail_arn = names.trail_arn(part, region, acct, env)
    group_name = names.audit_log_group_name(env)
    group_arn = names.audit_log_group_arn(part, region, acct, env)

    statements = pol.administration(p)
    statements += pol.deletion_guard(p, min_window_in_days=tier.min_deletion_window_in_days)
    statements += pol.auditing(p)
    if p.has_auditor:
        statements.append(pol.statement(
            "AuditorReadsLogs", "Allow", {"AWS": p.role_arn(ROLE_AUDITOR)}, ["kms:Decrypt"],
            {"StringEquals": {"kms:ViaService": [f"s3.{region}.amazonaws.com",
                                                 f"logs.{region}.amazonaws.com"]}}))
    statements += [
        pol.service_statement(
            "CloudTrailEncryptsLogs", "cloudtrail.amazonaws.com", ["kms:GenerateDataKey*"],
            {"StringEquals": {"aws:SourceArn": trail_arn},
             "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                            f"arn:{part}:cloudtrail:*:{acct}:trail/*"}}),
        pol.service_statement("CloudTrailDescribesKey", "cloudtrail.amazonaws.com",
                              ["kms:DescribeKey"], {"StringEquals": {"aws:SourceArn": trail_arn}}),
        pol.service_statement(
            "CloudWatchLogsEncrypts", f"logs.{region}.amazonaws.com",
            ["kms:Decrypt*", "kms:DescribeKey", "kms:Encrypt*", "kms:GenerateDataKey*",
             "kms:ReEncrypt*"],
            {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}}),
        pol.service_statement(
            "CloudWatchAlarmsPublish", "cloudwatch.amazonaws.com",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            {"StringEquals": {"aws:SourceAccount": acct}}),
    ]
    key = _infrastructure_key(scope="audit", env=env, purpose=names.AUDIT_PURPOSE,
                              description=f"keyplane {env}: audit trail, logs and alarms",
                              tier=tier, policy=pol.document(statements), tags=tags,
                              depends_on=depends_on)
    bucket_arn = names.audit_bucket_arn(part, env, acct)
    bucket = AuditBucketPlan(
        path="audit/bucket", name=names.audit_bucket_name(env, acct), arn=bucket_arn,
        object_lock_retention_in_days=config.object_lock_retention_in_days,
        object_lock_mode="COMPLIANCE", versioning_status="Enabled", block_public_access=True,
        object_ownership="BucketOwnerEnforced", sse_algorithm="aws:kms",
        kms_key_id=key.arn, bucket_key_enabled=True,
        abort_incomplete_uploads_after_days=ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS,
        policy=_bucket_policy(bucket_arn, trail_arn, acct), tags=tags,
        prevent_destroy=tier.prevent_destroy)
    log_group = LogGroupPlan(path="audit/log-group", name=group_name, arn=group_arn,
                             retention_in_days=config.log_retention_in_days, kms_key_id=key.arn,
                             skip_destroy=tier.prevent_destroy, tags=tags)
    role = roles.service("cloudtrail-logs", names.cloudtrail_role_name(env),
                         "cloudtrail.amazonaws.com", trail_arn,
                         "delivers the audit trail to cloudwatch logs")
    roles.inline("cloudtrail-logs", "audit/cloudtrail-logs-policy", [
        pol.identity_statement("DeliverTrail", "Allow",
                               ["logs:CreateLogStream", "logs:PutLogEvents"],
                               [f"{group_arn}:log-stream:*"])])
    trail = TrailPlan(
        path="audit/trail", name=names.trail_name(env), arn=trail_arn,
        s3_bucket_name=ref(bucket.path, "id"), is_multi_region_trail=True,
        include_global_service_events=True, enable_log_file_validation=True,
        enable_logging=True, kms_key_id=key.arn,
        cloud_watch_logs_group_arn=f"{ref(log_group.path, 'arn')}:*",
        cloud_watch_logs_role_arn=ref(role.path, "arn"), read_write_type="All",
        include_management_events=True, exclude_management_event_sources=(), tags=tags,
        depends_on=(bucket.part("policy"),))
    return AuditPlan(key=key, bucket=bucket, log_group=log_group, trail=trail, role=role.path)


def _plan_alarms(config: KeyAlarmsConfig) -> AlarmsPlan:
    """An encrypted SNS topic, and per alarm a metric filter plus a CloudWatch alarm."""
    env = config.env_name
    tags = aws_tags(env, config.tier)
    namespace = names.alarm_namespace(env)
    acct = config.principals.account_id
    topic_path = "alarms/topic"
    topic = TopicPlan(
        path=topic_path, name=names.alarm_topic_name(env),
        kms_master_key_id=config.topic_kms_key_arn, tags=tags,
        policy=pol.document([{
            "Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish", "Resource": ref(topic_path, "arn"),
            "Condition": {"StringEquals": {"aws:SourceAccount": acct}}}]))
    actions = (ref(topic_path, "arn"),)
    out: list[AlarmPlan] = []

    def event_alarm(cid: str, event: str, pattern: str, description: str, *,
                    metric: str | None = None, key: str | None = None, threshold: int = 1) -> None:
        metric = metric or cid
        out.append(AlarmPlan(
            path=f"alarms/alarm-{cid}", event=event, key=key,
            alarm_name=names.alarm_name(env, metric), description=description,
            namespace=namespace, metric_name=metric, statistic="Sum",
            period=EVENT_PERIOD_IN_SECONDS, evaluation_periods=1, threshold=threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching", alarm_actions=actions, tags=tags,
            metric_filter=_metric_filter(f"alarms/filter-{cid}", metric, pattern,
                                         config.log_group_name, namespace)))

    for event in config.events:
        service = AWS_EVENT_SOURCES[event].split(".")[0]
        event_alarm(event, event, event_pattern(event), f"{service} {event} was called")
    alarms = policy_for(config.tier).alarms
    if BREAK_GLASS_ASSUMED in alarms:
        event_alarm(BREAK_GLASS_ASSUMED, BREAK_GLASS_ASSUMED,
                    break_glass_pattern(config.principals.role_arn(ROLE_BREAK_GLASS)),
                    f"{BREAK_GLASS_ASSUMED}: the break-glass role was assumed")
    if KMS_ACCESS_DENIED_BURST in alarms:
        event_alarm(KMS_ACCESS_DENIED_BURST, KMS_ACCESS_DENIED_BURST, access_denied_pattern(),
                    f"{KMS_ACCESS_DENIED_BURST}: kms refused at least "
                    f"{ACCESS_DENIED_BURST_THRESHOLD} calls in "
                    f"{EVENT_PERIOD_IN_SECONDS // 60} minutes",
                    threshold=ACCESS_DENIED_BURST_THRESHOLD)
    for key, arns in sorted(config.ceremony_keys.items()):
        pattern = ceremony_pattern(config.principals.role_arn(ROLE_CEREMONY), arns)
        event_alarm(f"{SIGN_OUTSIDE_CEREMONY}-{key}", SIGN_OUTSIDE_CEREMONY, pattern,
                    f"ca key {key} was used outside the ceremony role", key=key)
    for key, arns in sorted(config.sign_volume_keys.items()):
        metric = f"{SIGN_VOLUME}-{key}"
        out.append(AlarmPlan(
            path=f"alarms/alarm-sign-volume-{key}", event=SIGN_VOLUME, key=key,
            alarm_name=names.alarm_name(env, metric),
            description=f"sign volume of {key} is outside its expected band",
            comparison_operator="GreaterThanUpperThreshold",
            evaluation_periods=ANOMALY_EVALUATION_PERIODS, threshold_metric_id="band",
            treat_missing_data="notBreaching", alarm_actions=actions, tags=tags,
            metric_queries=(
                MetricQueryPlan(id="signs", return_data=True, metric=MetricStatPlan(
                    metric_name=metric, namespace=namespace, period=EVENT_PERIOD_IN_SECONDS,
                    stat="Sum")),
                MetricQueryPlan(id="band", label=f"{metric} (expected)", return_data=True,
                                expression=f"ANOMALY_DETECTION_BAND(signs, {ANOMALY_BAND_WIDTH})"),
            ),
            metric_filter=_metric_filter(f"alarms/filter-sign-volume-{key}", metric,
                                         sign_pattern(arns), config.log_group_name, namespace)))
    return AlarmsPlan(topic=topic, alarms=tuple(out))


def _metric_filter(path: str, metric: str, pattern: str, log_group_name: str,
                   namespace: str) -> MetricFilterPlan:
    return MetricFilterPlan(path=path, name=names.metric_filter_name(metric),
                            log_group_name=log_group_name, pattern=pattern, metric_name=metric,
                            metric_namespace=namespace, metric_value="1", default_value="0")


def _plan_backup(config: BackupVaultConfig, roles: _Roles) -> BackupPlan:
    """Backup KMS key, vault, vault lock, service role, plan, selection and restore tests."""
    env, tier = config.env_name, policy_for(config.tier)
    p = roles.p
    part, acct, region = p.partition, p.account_id, config.region
    tags = aws_tags(env, config.tier)
    via_backup = {"StringEquals": {"kms:ViaService": f"backup.{region}.amazonaws.com"}}

    service_role = roles.service("backup-service", names.backup_service_role_name(env),
                                 "backup.amazonaws.com", None,
                                 "aws backup runs the plan and restore tests")
    for prefix, name in MANAGED_POLICIES:
        # path unchanged (addresses are part of the contract)
        roles.attach("backup-service", f"backup/service-role-{name}",
                     f"arn:{part}:iam::aws:policy/{prefix}{name}")

    statements = pol.administration(p)
    statements += pol.deletion_guard(p, min_window_in_days=tier.min_deletion_window_in_days)
    statements += pol.auditing(p)
    statements.append(pol.statement(
        "BackupServiceUse", "Allow", {"AWS": service_role.arn},
        ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
         "kms:ReEncrypt*"], via_backup))
    # Grants only for AWS resources (the vault's recovery points), never to a principal.
    statements.append(pol.statement(
        "BackupServiceGrants", "Allow", {"AWS": service_role.arn}, ["kms:CreateGrant"],
        {**via_backup, "Bool": {"kms:GrantIsForAWSResource": "true"}}))
    if p.has_backup_operator:
        statements.append(pol.statement(
            "BackupOperatorGrantsForBackup", "Allow",
            {"AWS": p.role_arn(ROLE_BACKUP_OPERATOR)}, ["kms:CreateGrant", "kms:DescribeKey"],
            {**via_backup, "Bool": {"kms:GrantIsForAWSResource": "true"}}))
    copy_account = config.backup.copy_to_account_id if config.backup else None
    copies = bool(tier.cross_account_backup_copy and copy_account)
    declared: list[str] = []
    if copies:
        assert copy_account is not None
        statements.append(pol.statement(
            "CrossAccountCopy", "Allow", {"AWS": names.account_root_arn(part, copy_account)},
            ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"],
            {"StringEquals": {"kms:ViaService": f"backup.{region}.amazonaws.com",
                              "kms:CallerAccount": copy_account},
             "Bool": {"kms:GrantIsForAWSResource": "true"}}))
        declared.append(copy_account)
    # Restore drills copy a recovery point into the drill account's vault: AWS Backup, acting
    # for that account, reads the source recovery point under this key (AWS Backup developer
    # guide, "Creating backup copies across AWS accounts": the source key is shared with the
    # destination account). Only through AWS Backup, only for grants to AWS resources.
    drill_account = config.backup.drill_account_id if config.backup else None
    if drill_account and drill_account != copy_account:
        statements.append(pol.statement(
            "DrillAccountCopy", "Allow", {"AWS": names.account_root_arn(part, drill_account)},
            ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"],
            {"StringEquals": {"kms:ViaService": f"backup.{region}.amazonaws.com",
                              "kms:CallerAccount": drill_account},
             "Bool": {"kms:GrantIsForAWSResource": "true"}}))
        declared.append(drill_account)
    key_tags = {**tags, AWS_TAG_DECLARED_ACCOUNTS: " ".join(declared)} if declared else tags
    # The vault's key waits for every role, the service role included.
    key = _infrastructure_key(scope="backup", env=env, purpose=names.BACKUP_PURPOSE,
                              description=f"keyplane {env}: backup vault", tier=tier,
                              policy=pol.document(statements), tags=key_tags,
                              depends_on=roles.paths())
    vault = VaultPlan(path="backup/vault", name=config.vault_name,
                      arn=names.backup_vault_arn(part, region, acct, env), kms_key_arn=key.arn,
                      tags=tags, prevent_destroy=tier.prevent_destroy)
    assert tier.vault_min_retention_in_days is not None and tier.vault_lock_mode is not None
    compliance = tier.vault_lock_mode == "COMPLIANCE"
    lock = VaultLockPlan(
        path="backup/vault-lock", backup_vault_name=ref(vault.path, "name"),
        mode=tier.vault_lock_mode, min_retention_days=tier.vault_min_retention_in_days,
        # changeable_for_days is what makes a lock COMPLIANCE: after the cooling-off
        # period nobody, not even the root user, can change or remove it.
        changeable_for_days=(limits.BACKUP_VAULT_LOCK_CHANGEABLE_FOR_DAYS.minimum
                             if compliance else None))
    out = BackupPlan(key=key, service_role=service_role.path, vault=vault, lock=lock)
    if not config.resources:
        return out
    retention = tier.vault_min_retention_in_days
    rules = BackupRulesPlan(
        path="backup/plan", name=names.backup_plan_name(env), rule_name="daily",
        target_vault_name=ref(vault.path, "name"), schedule=BACKUP_SCHEDULE,
        delete_after_days=retention, recovery_point_tags=tags,
        copy_destination_vault_arn=(names.copy_vault_arn(part, region, copy_account, env)
                                    if copies and copy_account else None),
        copy_delete_after_days=retention if copies else None, tags=tags)
    # The declared ARNs, and only those still tagged for this environment: a resource
    # that moved to another environment leaves the plan instead of mixing estates.
    selection = BackupSelectionPlan(
        path="backup/selection", name=names.backup_selection_name(env),
        plan_id=ref(rules.path, "id"), iam_role_arn=ref(service_role.path, "arn"),
        resources=tuple(sorted(r.arn for r in config.resources)),
        condition_tag_key=f"aws:ResourceTag/{AWS_TAG_ENV}", condition_tag_value=env)
    out = dataclasses.replace(out, plan=rules, selection=selection)
    if config.tier not in RESTORE_TESTING_TIERS or tier.drill_cadence_in_days is None:
        return out
    testing = RestoreTestingPlan(
        path="backup/restore-testing", name=names.restore_testing_plan_name(env),
        schedule_expression=restore_testing_schedule(tier.drill_cadence_in_days),
        algorithm="LATEST_WITHIN_WINDOW", include_vaults=(ref(vault.path, "arn"),),
        recovery_point_types=("SNAPSHOT",), selection_window_days=tier.drill_cadence_in_days,
        tags=tags)
    by_type: dict[str, list[str]] = {}
    for res in config.resources:
        by_type.setdefault(resource_type(res.arn), []).append(res.arn)
    selections = tuple(RestoreTestingSelectionPlan(
        path=f"backup/restore-testing-{rtype.lower()}",
        name=names.restore_testing_selection_name(rtype),
        restore_testing_plan_name=ref(testing.path, "name"), protected_resource_type=rtype,
        protected_resource_arns=tuple(sorted(arns)), iam_role_arn=ref(service_role.path, "arn"),
        validation_window_hours=RESTORE_VALIDATION_WINDOW_HOURS)
        for rtype, arns in sorted(by_type.items()))
    return dataclasses.replace(out, restore_testing=testing,
                               restore_testing_selections=selections)


# ---- the plan ----

def plan_environment(env: Environment) -> AwsPlan:
    """Validate the AWS declarations of `env` and decide every resource of its AWS half."""
    if env.aws is None:
        raise AwsDeclarationError(f"environment '{env.name}' has aws keys but no aws section",
                                  code="KP310")
    keys = env.keys_on(Cloud.AWS)
    if not keys:
        raise AwsDeclarationError(f"environment '{env.name}' has no aws keys; keyplane creates "
                                  "no aws resources for it", code="KP310")
    tier = highest([k.tier for k in keys])
    assert tier is not None
    replica_regions = tuple(sorted({r for k in keys for r in (k.replica_regions or ())}))
    providers = _plan_providers(AwsProvidersConfig(
        env_name=env.name, account_id=env.aws.account_id, region=env.aws.region,
        replica_regions=replica_regions))
    roles = _plan_roles(SeparationOfDutiesConfig(env=env, tier=tier))
    principals = roles.p

    cloudhsm = None
    if any(k.origin is Origin.CLOUDHSM for k in keys):
        if env.aws.cloudhsm is None:
            raise AwsDeclarationError("origin cloudhsm needs an aws.cloudhsm section",
                                      code="KP307")
        cloudhsm = _plan_cloudhsm(CloudHsmKeyStoreConfig(env_name=env.name,
                                                         cloudhsm=env.aws.cloudhsm))
        cloudhsm = dataclasses.replace(
            cloudhsm, adopted_stores=_adopted_stores(env, cloudhsm.key_store.name))

    humans = frozenset(w.name for w in env.workloads if w.human)
    # Keys wait for the roles their policies name (ARNs are literal strings, not references).
    role_paths = roles.paths()
    managed: list[ManagedKeyPlan] = []
    for key in keys:
        floor = policy_for(key.tier).min_deletion_window_in_days

        def doc(verify_only: bool, key: KeyDecl = key, floor: int = floor) -> pol.PolicyDocument:
            return pol.key_policy(pol.KeyPolicyInput(
                principals=principals, key=key, min_deletion_window_in_days=floor,
                verify_only=verify_only, human_workloads=humans))

        store = None
        if cloudhsm is not None and key.origin is Origin.CLOUDHSM:
            store = cloudhsm.store_for(key.adopt.custom_key_store if key.adopt else None).id
        managed.append(_plan_managed_key(ManagedKeyConfig(
            env_name=env.name, key=key, policy=doc(False), verify_only_policy=doc(True),
            custom_key_store_id=store, provider_regions=replica_regions,
            depends_on=role_paths)))
    by_name = {k.name: k for k in managed}

    # Identity policies of key users: only their keys, only their operations.
    grants: dict[str, list[KeyGrant]] = {}
    for key in keys:
        for user in key.users:
            grants.setdefault(user, []).extend(by_name[key.name].grants)
    for user, user_grants in sorted(grants.items()):
        _grant_key_use(roles, f"user-{user}", user_grants, mfa=user in humans)
    ca_keys = [k for k in keys if k.tier is Tier.CA]
    if ca_keys and principals.has_ceremony:
        _grant_key_use(roles, ROLE_CEREMONY,
                       [g for k in ca_keys for g in by_name[k.name].grants], mfa=True)

    audit = _plan_audit(AuditSinkConfig(env_name=env.name, account_id=env.aws.account_id,
                                        region=env.aws.region, tier=tier),
                        roles, role_paths)

    top = policy_for(tier)
    ceremony = {k.name: by_name[k.name].arns for k in ca_keys}
    # Sign volume of every live generation in every Region: signing with the overlap
    # generation or in a replica Region is as watched as with the current one.
    volume = {k.name: by_name[k.name].arns for k in keys
              if k.usage is KeyUsage.SIGN and policy_for(k.tier).sign_volume_anomaly_alarm}
    alarms = None
    if top.alarms or volume:
        alarms = _plan_alarms(KeyAlarmsConfig(
            env_name=env.name, tier=tier, log_group_name=audit.log_group.name,
            topic_kms_key_arn=audit.key.arn, principals=principals, ceremony_keys=ceremony,
            sign_volume_keys=volume))
    backup = None
    if top.vault_lock_mode is not None:
        backup = _plan_backup(BackupVaultConfig(env_name=env.name, region=env.aws.region,
                                                tier=tier, backup=env.aws.backup), roles)
    return AwsPlan(env_name=env.name, account_id=env.aws.account_id, region=env.aws.region,
                   partition=principals.partition, tier=tier, providers=providers,
                   iam=_adopt_roles(roles.plan(), env), keys=tuple(managed), audit=audit,
                   cloudhsm=cloudhsm,
                   alarms=alarms, backup=backup)


# ---- the drill account ----

# The drill account's vault holds scratch copies that live for one drill run (plus the
# forensic window of a failed one). It is planned at the ephemeral tier, without a vault
# lock: a locked vault keeps every recovery point for its minimum retention, and the drill
# must be able to delete its copies. The environment's own vault stays locked at its tier.
DRILL_ACCOUNT_TIER = Tier.EPHEMERAL
# AWS managed policies of the restore role in the drill account, with their paths.
DRILL_RESTORE_POLICIES = (("service-role/", "AWSBackupServiceRolePolicyForRestores"),
                          ("", "AWSBackupServiceRolePolicyForS3Restore"))
# What AWS Backup does with a vault key for the principals that copy into or restore from it.
_BACKUP_KEY_USE = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
                   "kms:ReEncrypt*")


@dataclass(frozen=True, kw_only=True)
class VaultPolicyPlan:
    """The `aws_backup_vault_policy`: the vault's access policy (who may copy into it)."""

    path: str
    backup_vault_name: str  # reference
    document: pol.PolicyDocument


@dataclass(frozen=True, kw_only=True)
class DrillAccountPlan:
    """What restore drills need in the drill account, as one stack of its own.

    The vault the source account's backup role copies recovery points into (AWS restores a
    recovery point only in the account that holds it), its KMS key, the vault's access
    policy letting the source account copy in, and the restore role AWS Backup assumes
    there. `tier` is the tier these resources are tagged and gated with
    (`DRILL_ACCOUNT_TIER`); `source_tier` the environment's.
    """

    env_name: str
    account_id: str  # the drill account
    source_account_id: str
    region: str
    partition: str
    tier: Tier
    source_tier: Tier
    provider: ProviderPlan
    iam: IamPlan  # the restore role and its managed policy attachments
    key: KmsKeyPlan
    vault: VaultPlan
    vault_policy: VaultPolicyPlan

    @property
    def restore_role(self) -> RolePlan:
        """The role AWS Backup assumes for restores in the drill account."""
        return self.iam.role("restore")

    def kms_keys(self) -> Iterator[KmsKeyPlan]:
        """The drill account's KMS keys (the vault's)."""
        yield self.key


@dataclass(frozen=True, kw_only=True)
class DrillAccountConfig:
    """The drill account of an environment: `drill_account_id` receives the drills' copies
    and restores; `source_account_id` is the environment's account."""

    env_name: str
    source_account_id: str
    drill_account_id: str
    region: str
    source_tier: Tier
    operators: tuple[str, ...] = ()  # the environment's backup operators (principal ARNs)

    def __post_init__(self) -> None:
        for acct in (self.source_account_id, self.drill_account_id):
            if not _ACCOUNT.match(acct):
                raise AwsDeclarationError(f"account_id must be 12 digits, got '{acct}'",
                                          code="KP310")
        if self.drill_account_id == self.source_account_id:
            raise AwsDeclarationError(
                f"aws.backup.drill_account_id {self.drill_account_id} is the account of "
                f"environment '{self.env_name}'; restore drills need a separate account",
                code="KP309")
        if policy_for(self.source_tier).vault_lock_mode is None:
            raise AwsDeclarationError(f"the {self.source_tier.value} tier has no backup vault "
                                      "to drill", code="KP309")


def _drill_operator_role(*, env: str, part: str, region: str, drill: str,
                         operators: tuple[str, ...], restore_arn: str,
                         tags: dict[str, str]) -> RolePlan | None:
    """The role `keyplane drill` acts as in the drill account (`--drill-profile`): assumed by
    the environment's backup operators (the principals its backup-operator role trusts), it
    starts restores of the drill vault's copies with the restore role, validates and deletes
    what they made (`kp-drill-*` tables and buckets) and the copies. Nothing else in that
    account. None without declared backup operators."""
    if not operators:
        return None
    name = role_name(env, "drill-operator")
    vault_arn = names.drill_vault_arn(part, region, drill, env)
    recovery_points = f"arn:{part}:backup:{region}:{drill}:recovery-point:*"
    tables = f"arn:{part}:dynamodb:{region}:{drill}:table/kp-drill-*"
    buckets = f"arn:{part}:s3:::kp-drill-*"
    role = RolePlan(
        path="iam/drill-operator", name=name, arn=names.role_arn(part, drill, name),
        duty=ROLE_BACKUP_OPERATOR, description=f"keyplane {env}: restore drills in this account",
        trust_policy=pol.trust_policy({"AWS": operators[0] if len(operators) == 1
                                       else sorted(operators)}),
        max_session_duration=HUMAN_SESSION_MAX_SECONDS,
        tags={**tags, AWS_TAG_ROLE: ROLE_BACKUP_OPERATOR})
    idst = pol.identity_statement
    statements = [
        idst("RestoreDrillCopies", "Allow", ["backup:StartRestoreJob",
             "backup:DescribeRecoveryPoint", "backup:DeleteRecoveryPoint"], [recovery_points]),
        idst("ReadDrillVault", "Allow", ["backup:DescribeBackupVault",
             "backup:ListRecoveryPointsByBackupVault"], [vault_arn]),
        # these take no resource-level permission (AWS Backup service authorization reference)
        idst("FollowRestoreJobs", "Allow", ["backup:DescribeRestoreJob",
             "backup:PutRestoreValidationResult", "backup:ListRestoreJobs"], ["*"]),
        idst("PassRestoreRole", "Allow", ["iam:PassRole"], [restore_arn],
             {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}),
        idst("CheckAndRemoveRestoredTables", "Allow", [
            "dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:GetItem",
            "dynamodb:ListTagsOfResource", "dynamodb:TagResource", "dynamodb:DeleteTable"],
             [tables]),
        idst("CheckAndRemoveRestoredBuckets", "Allow", [
            "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketTagging",
            "s3:PutBucketTagging", "s3:GetBucketVersioning", "s3:DeleteBucket"], [buckets]),
        idst("CheckAndRemoveRestoredObjects", "Allow", [
            "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject",
            "s3:DeleteObjectVersion"], [f"{buckets}/*"]),
    ]
    policy = InlinePolicyPlan(path="iam/drill-operator-policy", name=names.INLINE_POLICY_NAME,
                              role=ref(role.path, "id"),
                              document={"Version": pol.POLICY_VERSION, "Statement": statements})
    return dataclasses.replace(role, inline_policies=(policy,))


def _plan_drill_account(config: DrillAccountConfig) -> DrillAccountPlan:
    env, region = config.env_name, config.region
    part = names.partition_of(region)
    drill, source = config.drill_account_id, config.source_account_id
    tier = policy_for(DRILL_ACCOUNT_TIER)
    tags = aws_tags(env, DRILL_ACCOUNT_TIER)
    provider = ProviderPlan(path="providers/aws", region=region, alias=None,
                            allowed_account_ids=(drill,), default_tags={AWS_TAG_ENV: env})
    # The restore role: assumed by AWS Backup for restores started in this account only.
    restore_name = names.drill_restore_role_name(env)
    restore = RolePlan(
        path="iam/restore", name=restore_name, arn=names.role_arn(part, drill, restore_name),
        duty=ROLE_SERVICE, description=f"keyplane {env}: aws backup restores drill copies",
        trust_policy=pol.trust_policy({"Service": "backup.amazonaws.com"}, condition={
            "StringEquals": {"aws:SourceAccount": drill}}),
        max_session_duration=HUMAN_SESSION_MAX_SECONDS,
        tags={**tags, AWS_TAG_ROLE: ROLE_SERVICE})
    restore = dataclasses.replace(restore, managed_policies=tuple(
        PolicyAttachmentPlan(path=f"iam/restore-{name}", role=ref(restore.path, "name"),
                             policy_arn=f"arn:{part}:iam::aws:policy/{prefix}{name}")
        for prefix, name in DRILL_RESTORE_POLICIES))

    operator = _drill_operator_role(env=env, part=part, region=region, drill=drill,
                                    operators=config.operators, restore_arn=restore.arn,
                                    tags=tags)

    via_backup = {"StringEquals": {"kms:ViaService": f"backup.{region}.amazonaws.com"}}
    grants = {**via_backup, "Bool": {"kms:GrantIsForAWSResource": "true"}}
    drill_root = names.account_root_arn(part, drill)
    backup_role = names.role_arn(part, source, names.backup_service_role_name(env))
    window = "kms:ScheduleKeyDeletionPendingWindowInDays"
    statements = [
        # Administration, never use: by the environment's key-admin role, and through IAM by
        # whoever the drill account allows (it deploys this stack; the lockout check needs it).
        pol.statement("KeyAdministration", "Allow",
                      {"AWS": names.role_arn(part, source, role_name(env, ROLE_KEY_ADMIN))},
                      pol.KMS_ADMIN_ACTIONS),
        pol.statement("DrillAccountAdministration", "Allow", {"AWS": drill_root},
                      pol.KMS_ADMIN_ACTIONS),
        pol.statement("DenyShortDeletionWindow", "Deny", {"AWS": drill_root},
                      [pol.KMS_DELETE_ACTION],
                      {"NumericLessThan": {window: str(tier.min_deletion_window_in_days)}}),
        # The source account's backup role copies recovery points in (AWS Backup re-encrypts
        # the copy with this key); the restore role reads them back in a restore.
        pol.statement("SourceBackupCopyIn", "Allow", {"AWS": backup_role}, _BACKUP_KEY_USE,
                      via_backup),
        pol.statement("SourceBackupGrants", "Allow", {"AWS": backup_role}, ["kms:CreateGrant"],
                      grants),
        pol.statement("RestoreRoleUse", "Allow", {"AWS": restore.arn}, _BACKUP_KEY_USE,
                      via_backup),
        pol.statement("RestoreRoleGrants", "Allow", {"AWS": restore.arn}, ["kms:CreateGrant"],
                      grants),
    ]
    key = _infrastructure_key(
        scope="drill", env=env, purpose=names.DRILL_PURPOSE,
        description=f"keyplane {env}: restore drill vault", tier=tier,
        policy=pol.document(statements),
        tags={**tags, AWS_TAG_DECLARED_ACCOUNTS: source}, depends_on=(restore.path,))
    vault = VaultPlan(path="drill/vault", name=names.drill_vault_name(env),
                      arn=names.drill_vault_arn(part, region, drill, env), kms_key_arn=key.arn,
                      tags=tags, prevent_destroy=tier.prevent_destroy)
    vault_policy = VaultPolicyPlan(
        path="drill/vault-policy", backup_vault_name=ref(vault.path, "name"),
        document=pol.document([pol.statement(
            "CopyIntoFromSourceAccount", "Allow",
            {"AWS": names.account_root_arn(part, source)}, ["backup:CopyIntoBackupVault"])]))
    return DrillAccountPlan(env_name=env, account_id=drill, source_account_id=source,
                            region=region, partition=part, tier=DRILL_ACCOUNT_TIER,
                            source_tier=config.source_tier, provider=provider,
                            iam=IamPlan(roles=(restore, *([operator] if operator else []))),
                            key=key, vault=vault,
                            vault_policy=vault_policy)


def plan_drill_account(env: Environment) -> DrillAccountPlan | None:
    """The drill account's part of `env`; None when it declares no drill account (or has no
    aws keys, or a tier without a backup vault: nothing to drill)."""
    backup = env.aws.backup if env.aws is not None else None
    if env.aws is None or backup is None or backup.drill_account_id is None:
        return None
    tier = highest([k.tier for k in env.keys_on(Cloud.AWS)])
    if tier is None or policy_for(tier).vault_lock_mode is None:
        return None
    return _plan_drill_account(DrillAccountConfig(
        env_name=env.name, source_account_id=env.aws.account_id,
        drill_account_id=backup.drill_account_id, region=env.aws.region, source_tier=tier,
        operators=_aws_principals(env, "backup_operators")))
