"""The read-only AWS adapter: implements `keyplane.postapply.ports.AwsRegionReader` with boto3.

Only Describe*, Get* and List* operations (a test records every call); every list
goes through `get_paginator()` where botocore has one. botocore raises
PaginationError on a repeated NextToken, so a misbehaving endpoint cannot make a
scan loop forever; `MAX_PAGES` bounds the rest. SDK errors become the
one error tree of cloud calls (`keyplane.cloudcall`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PaginationError,
    ReadTimeoutError,
)

from keyplane.cloud.aws.session import AwsClients
from keyplane.cloudcall import (
    AccessDenied,
    CloudCallError,
    CredentialsExpired,
    NotFound,
    Throttled,
)
from keyplane.postapply.errors import HookSetupError
from keyplane.postapply.ports import (
    Alias,
    AwsKey,
    BackupVault,
    CloudHsmCluster,
    CustomKeyStore,
    Grant,
    IamRole,
    KeyRotation,
    LogGroup,
    MetricAlarm,
    MetricFilter,
    RotationStatus,
    Trail,
)

MAX_PAGES = 10_000  # 1,000 items a page at most: ten million keys before keyplane gives up

THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException",
                              "RequestLimitExceeded", "SlowDown", "RequestThrottled",
                              "RequestThrottledException", "LimitExceededException"})
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation",
                          "UnauthorizedException", "AuthorizationError"})
EXPIRED_CODES = frozenset({"ExpiredTokenException", "ExpiredToken", "RequestExpired",
                           "TokenRefreshRequired", "InvalidClientTokenId",
                           "UnrecognizedClientException"})
NOT_FOUND_CODES = frozenset({"NotFoundException", "NoSuchEntity", "ResourceNotFoundException",
                             "TrailNotFoundException", "CloudHsmResourceNotFoundException",
                             "NoSuchEntityException"})

T = TypeVar("T")


def translate(exc: Exception, operation: str, region: str | None) -> Exception:
    """The ports' error for an SDK exception."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", ""))[:300]
        if code in THROTTLING_CODES:
            return Throttled(operation, code, message, region=region)
        if code in DENIED_CODES:
            return AccessDenied(operation, code, message, region=region)
        if code in EXPIRED_CODES:
            return CredentialsExpired(operation, code, message, region=region)
        if code in NOT_FOUND_CODES:
            return NotFound(operation, code, message, region=region)
        return CloudCallError(operation, code, message, region=region)
    if isinstance(exc, PaginationError):
        return CloudCallError(operation, "PaginationError", str(exc)[:300], region=region)
    if isinstance(exc, NoCredentialsError):
        return HookSetupError("no aws credentials found (set a profile, environment variables, "
                              "or use --sandbox)")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return CloudCallError(operation, "ConnectionError", str(exc)[:300], region=region)
    if isinstance(exc, BotoCoreError):
        return CloudCallError(operation, type(exc).__name__, str(exc)[:300], region=region)
    return exc


def _date(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return None


def _policy(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        doc = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


class AwsReader:
    """Read-only view of one AWS account in one Region, over boto3."""

    def __init__(self, clients: AwsClients, region: str) -> None:
        self._clients = clients
        self.region = region
        self._identity: dict[str, Any] | None = None  # GetCallerIdentity, asked once

    def _call(self, service: str, operation: str, fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except Exception as exc:
            raise translate(exc, operation, self.region) from None

    def _client(self, service: str) -> Any:
        return self._clients.client(service, self.region)

    def _pages(self, service: str, method: str, operation: str, **kwargs: Any
               ) -> Iterator[dict[str, Any]]:
        paginator = self._client(service).get_paginator(method)
        try:
            for n, page in enumerate(paginator.paginate(**kwargs)):
                if n >= MAX_PAGES:
                    raise CloudCallError(operation, "TooManyPages",
                                         f"more than {MAX_PAGES} pages", region=self.region)
                yield page
        except CloudCallError:
            raise
        except Exception as exc:
            raise translate(exc, operation, self.region) from None

    # --- identity -------------------------------------------------------------------------

    def _caller_identity(self) -> dict[str, Any]:
        # The run's credentials do not change identity (an assumed role's renewals are the
        # same role), so the audit actor and the account check share one call.
        if self._identity is None:
            sts = self._client("sts")
            self._identity = self._call("sts", "GetCallerIdentity", sts.get_caller_identity)
        return self._identity

    def caller_account(self) -> str:
        """sts:GetCallerIdentity's account."""
        return str(self._caller_identity()["Account"])

    def caller_arn(self) -> str:
        """sts:GetCallerIdentity's ARN: the actor of audit events."""
        return str(self._caller_identity()["Arn"])

    # --- KMS ------------------------------------------------------------------------------

    def list_key_ids(self) -> list[str]:
        """ListKeys."""
        return [k["KeyId"] for page in self._pages("kms", "list_keys", "ListKeys")
                for k in page.get("Keys", [])]

    def describe_key(self, key_id: str) -> AwsKey:
        """DescribeKey."""
        kms = self._client("kms")
        md = self._call("kms", "DescribeKey", kms.describe_key, KeyId=key_id)["KeyMetadata"]
        mr = md.get("MultiRegionConfiguration") or {}
        primary = (mr.get("PrimaryKey") or {}).get("Region")
        replicas = tuple(r.get("Region") for r in mr.get("ReplicaKeys") or [] if r.get("Region"))
        return AwsKey(
            key_id=md["KeyId"], arn=md["Arn"], region=self.region, key_state=md.get("KeyState", ""),
            key_spec=md.get("KeySpec") or md.get("CustomerMasterKeySpec") or "",
            key_usage=md.get("KeyUsage", ""), origin=md.get("Origin", ""),
            key_manager=md.get("KeyManager", "CUSTOMER"), description=md.get("Description", ""),
            creation_date=_date(md.get("CreationDate")), deletion_date=_date(md.get("DeletionDate")),
            pending_deletion_window_in_days=md.get("PendingDeletionWindowInDays"),
            custom_key_store_id=md.get("CustomKeyStoreId"),
            multi_region=bool(md.get("MultiRegion")),
            multi_region_role=mr.get("MultiRegionKeyType"), primary_region=primary,
            replica_regions=replicas)

    def key_tags(self, key_id: str) -> dict[str, str]:
        """ListResourceTags."""
        return {t["TagKey"]: t["TagValue"]
                for page in self._pages("kms", "list_resource_tags", "ListResourceTags",
                                        KeyId=key_id)
                for t in page.get("Tags", [])}

    def rotation_status(self, key_id: str) -> RotationStatus:
        """GetKeyRotationStatus."""
        kms = self._client("kms")
        got = self._call("kms", "GetKeyRotationStatus", kms.get_key_rotation_status, KeyId=key_id)
        return RotationStatus(enabled=bool(got.get("KeyRotationEnabled")),
                              period_in_days=got.get("RotationPeriodInDays"),
                              next_rotation_date=_date(got.get("NextRotationDate")),
                              on_demand_rotation_start_date=_date(
                                  got.get("OnDemandRotationStartDate")))

    def key_rotations(self, key_id: str) -> list[KeyRotation]:
        """ListKeyRotations."""
        return [KeyRotation(rotation_date=_date(r.get("RotationDate")),
                            rotation_type=r.get("RotationType", "AUTOMATIC"))
                for page in self._pages("kms", "list_key_rotations", "ListKeyRotations",
                                        KeyId=key_id)
                for r in page.get("Rotations", [])]

    def key_policy(self, key_id: str) -> dict[str, Any]:
        """GetKeyPolicy (`default`)."""
        kms = self._client("kms")
        got = self._call("kms", "GetKeyPolicy", kms.get_key_policy, KeyId=key_id,
                         PolicyName="default")
        return _policy(got.get("Policy"))

    def grants(self, key_id: str) -> list[Grant]:
        """ListGrants."""
        return [Grant(grant_id=g.get("GrantId", ""), grantee_principal=g.get("GranteePrincipal", ""),
                      operations=tuple(g.get("Operations", [])),
                      retiring_principal=g.get("RetiringPrincipal"), name=g.get("Name"),
                      constraints=dict(g.get("Constraints") or {}))
                for page in self._pages("kms", "list_grants", "ListGrants", KeyId=key_id)
                for g in page.get("Grants", [])]

    def aliases(self) -> list[Alias]:
        """ListAliases."""
        return [Alias(name=a["AliasName"], target_key_id=a.get("TargetKeyId"), region=self.region)
                for page in self._pages("kms", "list_aliases", "ListAliases")
                for a in page.get("Aliases", [])]

    def custom_key_stores(self) -> list[CustomKeyStore]:
        """DescribeCustomKeyStores."""
        return [CustomKeyStore(id=s["CustomKeyStoreId"], name=s.get("CustomKeyStoreName", ""),
                               connection_state=s.get("ConnectionState", ""),
                               cloud_hsm_cluster_id=s.get("CloudHsmClusterId"),
                               connection_error_code=s.get("ConnectionErrorCode"))
                for page in self._pages("kms", "describe_custom_key_stores",
                                        "DescribeCustomKeyStores")
                for s in page.get("CustomKeyStores", [])]

    # --- audit trail and logs -------------------------------------------------------------

    def trails(self) -> list[Trail]:
        """ListTrails, then GetTrail, GetTrailStatus and GetEventSelectors per trail."""
        ct = self._client("cloudtrail")
        out = []
        for page in self._pages("cloudtrail", "list_trails", "ListTrails"):
            for item in page.get("Trails", []):
                if item.get("HomeRegion", self.region) != self.region:
                    continue  # a multi-Region trail is read once, in its home Region
                arn = item["TrailARN"]
                t = self._call("cloudtrail", "GetTrail", ct.get_trail, Name=arn)["Trail"]
                status = self._call("cloudtrail", "GetTrailStatus", ct.get_trail_status, Name=arn)
                sel = self._call("cloudtrail", "GetEventSelectors", ct.get_event_selectors,
                                 TrailName=arn)
                types: set[str] = set()
                mgmt = None
                for s in sel.get("EventSelectors") or []:
                    mgmt = bool(s.get("IncludeManagementEvents", True)) or bool(mgmt)
                    types.update(d.get("Type", "") for d in s.get("DataResources") or [])
                for s in sel.get("AdvancedEventSelectors") or []:
                    for f in s.get("FieldSelectors") or []:
                        if f.get("Field") == "resources.type":
                            types.update(f.get("Equals") or [])
                        if f.get("Field") == "eventCategory" and "Management" in (
                                f.get("Equals") or []):
                            mgmt = True
                out.append(Trail(name=t["Name"], arn=arn, home_region=t.get("HomeRegion", ""),
                                 is_logging=status.get("IsLogging"),
                                 multi_region=bool(t.get("IsMultiRegionTrail")),
                                 log_file_validation=bool(t.get("LogFileValidationEnabled")),
                                 kms_key_id=t.get("KmsKeyId"),
                                 data_resource_types=tuple(sorted(types - {""})),
                                 management_events=mgmt))
        return out

    def log_groups(self, prefix: str | None = None) -> list[LogGroup]:
        """DescribeLogGroups."""
        kwargs = {"logGroupNamePrefix": prefix} if prefix else {}
        return [LogGroup(name=g["logGroupName"], retention_in_days=g.get("retentionInDays"),
                         kms_key_id=g.get("kmsKeyId"))
                for page in self._pages("logs", "describe_log_groups", "DescribeLogGroups",
                                        **kwargs)
                for g in page.get("logGroups", [])]

    # --- backup and CloudHSM --------------------------------------------------------------

    def backup_vaults(self) -> list[BackupVault]:
        """ListBackupVaults, then DescribeBackupVault for the lock state."""
        backup = self._client("backup")
        out = []
        for page in self._pages("backup", "list_backup_vaults", "ListBackupVaults"):
            for v in page.get("BackupVaultList", []):
                d = self._call("backup", "DescribeBackupVault", backup.describe_backup_vault,
                               BackupVaultName=v["BackupVaultName"])
                out.append(BackupVault(
                    name=d["BackupVaultName"], arn=d.get("BackupVaultArn", ""),
                    encryption_key_arn=d.get("EncryptionKeyArn"), locked=bool(d.get("Locked")),
                    min_retention_days=d.get("MinRetentionDays"),
                    max_retention_days=d.get("MaxRetentionDays"),
                    lock_date=_date(d.get("LockDate"))))
        return out

    def cloudhsm_clusters(self) -> list[CloudHsmCluster]:
        """DescribeClusters."""
        out = []
        for page in self._pages("cloudhsmv2", "describe_clusters", "DescribeClusters"):
            for c in page.get("Clusters", []):
                pol = c.get("BackupRetentionPolicy") or {}
                days = pol.get("Value")
                out.append(CloudHsmCluster(
                    cluster_id=c["ClusterId"], state=c.get("State", ""),
                    backup_retention_in_days=int(days) if str(days or "").isdigit() else None,
                    hsm_availability_zones=tuple(h.get("AvailabilityZone", "")
                                                 for h in c.get("Hsms") or []),
                    tags={t["Key"]: t["Value"] for t in c.get("TagList") or []}))
        return out

    # --- IAM (global) ---------------------------------------------------------------------

    def roles(self, name_prefix: str | None = None) -> list[IamRole]:
        """ListRoles; for matching roles ListRoleTags, the inline policies (ListRolePolicies,
        GetRolePolicy) and the attached ones (ListAttachedRolePolicies, then GetPolicy and
        GetPolicyVersion of the default version)."""
        iam = self._client("iam")
        out = []
        documents: dict[str, dict[str, Any]] = {}  # policy ARN -> its default version's document
        for page in self._pages("iam", "list_roles", "ListRoles"):
            for r in page.get("Roles", []):
                name = r["RoleName"]
                if name_prefix and not name.startswith(name_prefix):
                    continue
                tags = {t["Key"]: t["Value"]
                        for p in self._pages("iam", "list_role_tags", "ListRoleTags", RoleName=name)
                        for t in p.get("Tags", [])}
                inline: dict[str, dict[str, Any]] = {}
                for p in self._pages("iam", "list_role_policies", "ListRolePolicies",
                                     RoleName=name):
                    for pname in p.get("PolicyNames", []):
                        got = self._call("iam", "GetRolePolicy", iam.get_role_policy,
                                         RoleName=name, PolicyName=pname)
                        inline[pname] = _policy(got.get("PolicyDocument"))
                arns: list[str] = []
                for p in self._pages("iam", "list_attached_role_policies",
                                     "ListAttachedRolePolicies", RoleName=name):
                    for att in p.get("AttachedPolicies", []):
                        arn = att["PolicyArn"]
                        arns.append(arn)
                        if arn not in documents:
                            documents[arn] = self._policy_document(iam, arn)
                out.append(IamRole(name=name, arn=r["Arn"], tags=tags,
                                   trust_policy=_policy(r.get("AssumeRolePolicyDocument")),
                                   inline_policies=inline, attached_policy_arns=tuple(arns),
                                   attached_policies={a: documents[a] for a in arns}))
        return out

    def _policy_document(self, iam: Any, arn: str) -> dict[str, Any]:
        """GetPolicy, then GetPolicyVersion of its default version: the document in force."""
        pol = self._call("iam", "GetPolicy", iam.get_policy, PolicyArn=arn)["Policy"]
        ver = self._call("iam", "GetPolicyVersion", iam.get_policy_version, PolicyArn=arn,
                         VersionId=pol["DefaultVersionId"])
        return _policy(ver["PolicyVersion"].get("Document"))

    # --- alarms ---------------------------------------------------------------------------

    def metric_filters(self, log_group: str) -> list[MetricFilter]:
        """DescribeMetricFilters of `log_group`; none when the log group does not exist."""
        out = []
        try:
            for page in self._pages("logs", "describe_metric_filters", "DescribeMetricFilters",
                                    logGroupName=log_group):
                for f in page.get("metricFilters", []):
                    tr = (f.get("metricTransformations") or [{}])[0]
                    out.append(MetricFilter(
                        name=f.get("filterName", ""),
                        log_group_name=f.get("logGroupName") or log_group,
                        pattern=f.get("filterPattern", ""), metric_name=tr.get("metricName"),
                        metric_namespace=tr.get("metricNamespace")))
        except NotFound:
            return []  # the log group is gone, and its filters with it
        return out

    def alarms(self, name_prefix: str) -> list[MetricAlarm]:
        """DescribeAlarms of the metric alarms named `name_prefix`*."""
        out = []
        for page in self._pages("cloudwatch", "describe_alarms", "DescribeAlarms",
                                AlarmNamePrefix=name_prefix, AlarmTypes=["MetricAlarm"]):
            for a in page.get("MetricAlarms", []):
                queries = tuple(
                    f"{m['MetricStat']['Metric'].get('Namespace', '')}/"
                    f"{m['MetricStat']['Metric'].get('MetricName', '')}"
                    for m in a.get("Metrics") or []
                    if (m.get("MetricStat") or {}).get("Metric"))
                out.append(MetricAlarm(
                    name=a["AlarmName"], arn=a.get("AlarmArn", ""),
                    actions_enabled=bool(a.get("ActionsEnabled", True)),
                    alarm_actions=tuple(a.get("AlarmActions") or ()),
                    metric_name=a.get("MetricName"), namespace=a.get("Namespace"),
                    query_metrics=queries, state=a.get("StateValue")))
        return out
