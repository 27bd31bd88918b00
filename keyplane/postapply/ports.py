"""The ports the post-apply hooks read the deployed state through.

The hooks (rotation, drift, access review, discover) are written against these
`typing.Protocol` classes and the plain records below; `keyplane.cloud.aws` and
`keyplane.cloud.gcp` implement them with boto3 and google-cloud-kms (and, for GCP alerts,
google-cloud-logging and google-cloud-monitoring). Every method
is a read (Describe/Get/List): the ports have no way to change the cloud.

Adapters translate SDK failures into the `ReadError` family, so the hooks can tell
a throttled or denied read (that resource is UNKNOWN, the run INCOMPLETE) from
expired credentials (the run stops, with a resumable partial report).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

from keyplane.cloudcall import AccessDenied as AccessDenied
from keyplane.cloudcall import CloudCallError
from keyplane.cloudcall import CredentialsExpired as CredentialsExpired
from keyplane.cloudcall import NotFound as NotFound
from keyplane.cloudcall import Throttled as Throttled

# --- what a read can fail with -------------------------------------------------------------
# The one error tree of cloud calls (keyplane.cloudcall), under the names the hooks use: a
# failed read is a `ReadError` (Throttled, AccessDenied, NotFound, CredentialsExpired say why).

ReadError = CloudCallError


# --- AWS records ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AwsKey:
    """A KMS key as DescribeKey reports it."""

    key_id: str
    arn: str
    region: str
    key_state: str  # Enabled | Disabled | PendingDeletion | PendingImport | Unavailable ...
    key_spec: str
    key_usage: str
    origin: str  # AWS_KMS | EXTERNAL | AWS_CLOUDHSM | EXTERNAL_KEY_STORE
    key_manager: str = "CUSTOMER"
    description: str = ""
    creation_date: dt.datetime | None = None
    deletion_date: dt.datetime | None = None
    pending_deletion_window_in_days: int | None = None
    custom_key_store_id: str | None = None
    multi_region: bool = False
    multi_region_role: str | None = None  # PRIMARY | REPLICA
    primary_region: str | None = None
    replica_regions: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RotationStatus:
    """GetKeyRotationStatus: whether automatic rotation is on, its period and next date."""

    enabled: bool
    period_in_days: int | None = None
    next_rotation_date: dt.datetime | None = None
    on_demand_rotation_start_date: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class KeyRotation:
    """One completed rotation from ListKeyRotations."""

    rotation_date: dt.datetime | None
    rotation_type: str  # AUTOMATIC | ON_DEMAND


@dataclass(frozen=True, kw_only=True)
class Grant:
    """One grant on a key (ListGrants)."""

    grant_id: str
    grantee_principal: str
    operations: tuple[str, ...]
    retiring_principal: str | None = None
    name: str | None = None
    constraints: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Alias:
    """An alias and the key it points to."""

    name: str
    target_key_id: str | None
    region: str


@dataclass(frozen=True, kw_only=True)
class CustomKeyStore:
    """A CloudHSM custom key store and whether KMS is connected to it."""

    id: str
    name: str
    connection_state: str  # CONNECTED | DISCONNECTED | FAILED ...
    cloud_hsm_cluster_id: str | None = None
    connection_error_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class Trail:
    """A CloudTrail trail, its logging status and event selectors."""

    name: str
    arn: str
    home_region: str
    is_logging: bool | None
    multi_region: bool
    log_file_validation: bool
    kms_key_id: str | None = None
    data_resource_types: tuple[str, ...] = ()  # e.g. AWS::KMS::Key from (advanced) selectors
    management_events: bool | None = None


@dataclass(frozen=True, kw_only=True)
class LogGroup:
    """A CloudWatch Logs log group."""

    name: str
    retention_in_days: int | None  # None = never expire
    kms_key_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class BackupVault:
    """An AWS Backup vault and its Vault Lock."""

    name: str
    arn: str
    encryption_key_arn: str | None
    locked: bool
    min_retention_days: int | None = None
    max_retention_days: int | None = None
    lock_date: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CloudHsmCluster:
    """A CloudHSM cluster and its backup retention."""

    cluster_id: str
    state: str
    backup_retention_in_days: int | None
    hsm_availability_zones: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class IamRole:
    """An IAM role: its trust policy, inline policies and attached managed policies."""

    name: str
    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    trust_policy: dict[str, Any] = field(default_factory=dict)
    inline_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> document
    attached_policy_arns: tuple[str, ...] = ()  # ListAttachedRolePolicies
    # the default version's document of each attached policy (GetPolicy/GetPolicyVersion)
    attached_policies: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def policies(self) -> tuple[dict[str, Any], ...]:
        """Every policy document of the role: the inline ones, then the attached ones."""
        return (*self.inline_policies.values(),
                *(self.attached_policies[a] for a in self.attached_policy_arns
                  if a in self.attached_policies))


@dataclass(frozen=True, kw_only=True)
class MetricFilter:
    """A CloudWatch Logs metric filter (DescribeMetricFilters)."""

    name: str
    log_group_name: str
    pattern: str
    metric_name: str | None = None  # of its first metric transformation
    metric_namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class MetricAlarm:
    """A CloudWatch metric alarm (DescribeAlarms)."""

    name: str
    arn: str
    actions_enabled: bool
    alarm_actions: tuple[str, ...] = ()
    metric_name: str | None = None
    namespace: str | None = None
    # the metrics a metric-math (anomaly) alarm queries: `namespace/metric`
    query_metrics: tuple[str, ...] = ()
    state: str | None = None  # OK | ALARM | INSUFFICIENT_DATA


class AwsRegionReader(Protocol):
    """Read-only view of one AWS account in one Region."""

    region: str

    def caller_account(self) -> str:
        """The account the credentials belong to (sts:GetCallerIdentity)."""
        ...

    def list_key_ids(self) -> list[str]:
        """Every key id in the Region (ListKeys, paginated)."""
        ...

    def describe_key(self, key_id: str) -> AwsKey:
        """DescribeKey."""
        ...

    def key_tags(self, key_id: str) -> dict[str, str]:
        """ListResourceTags, paginated."""
        ...

    def rotation_status(self, key_id: str) -> RotationStatus:
        """GetKeyRotationStatus."""
        ...

    def key_rotations(self, key_id: str) -> list[KeyRotation]:
        """ListKeyRotations, paginated."""
        ...

    def key_policy(self, key_id: str) -> dict[str, Any]:
        """GetKeyPolicy (the `default` policy), parsed."""
        ...

    def grants(self, key_id: str) -> list[Grant]:
        """ListGrants, paginated."""
        ...

    def aliases(self) -> list[Alias]:
        """ListAliases, paginated."""
        ...

    def custom_key_stores(self) -> list[CustomKeyStore]:
        """DescribeCustomKeyStores, paginated."""
        ...

    def trails(self) -> list[Trail]:
        """DescribeTrails with GetTrailStatus and GetEventSelectors."""
        ...

    def log_groups(self, prefix: str | None = None) -> list[LogGroup]:
        """DescribeLogGroups, paginated."""
        ...

    def backup_vaults(self) -> list[BackupVault]:
        """ListBackupVaults with DescribeBackupVault."""
        ...

    def cloudhsm_clusters(self) -> list[CloudHsmCluster]:
        """DescribeClusters, paginated."""
        ...

    def roles(self, name_prefix: str | None = None) -> list[IamRole]:
        """ListRoles with its inline policies (ListRolePolicies/GetRolePolicy) and attached
        ones (ListAttachedRolePolicies/GetPolicy/GetPolicyVersion); IAM is global."""
        ...

    def metric_filters(self, log_group: str) -> list[MetricFilter]:
        """DescribeMetricFilters of one log group, paginated (none when the group is gone)."""
        ...

    def alarms(self, name_prefix: str) -> list[MetricAlarm]:
        """DescribeAlarms (metric alarms) whose name starts with `name_prefix`, paginated."""
        ...


# --- GCP records ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CryptoKeyVersion:
    """A Cloud KMS CryptoKeyVersion."""

    name: str
    state: str  # ENABLED | DISABLED | DESTROY_SCHEDULED | DESTROYED ...
    algorithm: str
    protection_level: str
    create_time: dt.datetime | None = None
    destroy_time: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CryptoKey:
    """A Cloud KMS CryptoKey with its template, rotation and labels."""

    name: str  # projects/P/locations/L/keyRings/R/cryptoKeys/K
    purpose: str
    algorithm: str
    protection_level: str
    labels: dict[str, str] = field(default_factory=dict)
    rotation_period_seconds: int | None = None
    next_rotation_time: dt.datetime | None = None
    primary: CryptoKeyVersion | None = None
    create_time: dt.datetime | None = None
    destroy_scheduled_duration_seconds: int | None = None
    import_only: bool | None = None  # versions only by import (None: not read)

    @property
    def key_id(self) -> str:
        """The last path segment: the crypto key id."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def key_ring(self) -> str:
        """The key ring's full name."""
        return self.name.rsplit("/cryptoKeys/", 1)[0]


@dataclass(frozen=True, kw_only=True)
class IamBinding:
    """One role binding of an IAM policy."""

    role: str
    members: tuple[str, ...]
    condition: str | None = None


@dataclass(frozen=True, kw_only=True)
class LogMetric:
    """A Cloud Logging log-based metric (ListLogMetrics)."""

    name: str  # the metric's id in the project, e.g. keyplane-prod-destroy-crypto-key-version
    filter: str
    disabled: bool = False  # a disabled metric counts nothing: its alert never fires
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class AlertPolicy:
    """A Cloud Monitoring alert policy (ListAlertPolicies)."""

    name: str  # projects/P/alertPolicies/ID (assigned by Cloud Monitoring)
    display_name: str
    enabled: bool | None  # None: the policy as read does not say
    notification_channels: tuple[str, ...] = ()
    # each condition's filter (threshold, absence, matched log) or query (MQL, PromQL)
    conditions: tuple[str, ...] = ()
    user_labels: dict[str, str] = field(default_factory=dict)


class GcpProjectReader(Protocol):
    """Read-only view of one GCP project's Cloud KMS, log-based metrics and alert policies."""

    project: str

    def check_project(self, location: str) -> None:
        """Read one key-ring page of the project, to prove access before scanning it."""
        ...

    def key_rings(self, location: str) -> list[str]:
        """Every key ring's full name in `location` (ListKeyRings, paginated)."""
        ...

    def crypto_keys(self, key_ring: str) -> list[CryptoKey]:
        """Every crypto key of a key ring (ListCryptoKeys, paginated)."""
        ...

    def versions(self, crypto_key: str) -> list[CryptoKeyVersion]:
        """Every version of a crypto key (ListCryptoKeyVersions, paginated)."""
        ...

    def iam_policy(self, resource: str) -> list[IamBinding]:
        """GetIamPolicy of a key ring or crypto key."""
        ...

    def project_iam_policy(self) -> list[IamBinding]:
        """The project's own IAM policy (grants that reach every key ring and key in it)."""
        ...

    def log_metrics(self) -> list[LogMetric]:
        """Every log-based metric of the project (ListLogMetrics, paginated)."""
        ...

    def alert_policies(self) -> list[AlertPolicy]:
        """Every alert policy of the project (ListAlertPolicies, paginated)."""
        ...
