"""The audit sink: a multi-Region CloudTrail into a locked bucket and a CloudWatch log group.

KMS cryptographic operations (Sign, Decrypt, GenerateDataKey...) are CloudTrail
*management* events of the read type; there is no KMS data-event resource type.
The trail therefore logs management events Read and Write and excludes no event
source, which records every KMS call for every tier.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_aws.cloudtrail import Cloudtrail, CloudtrailEventSelector
from cdktn_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from cdktn_provider_aws.s3_bucket import S3Bucket
from cdktn_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
)
from cdktn_provider_aws.s3_bucket_object_lock_configuration import (
    S3BucketObjectLockConfigurationA,
    S3BucketObjectLockConfigurationRuleA,
    S3BucketObjectLockConfigurationRuleDefaultRetentionA,
)
from cdktn_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktn_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktn_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktn_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktn_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from keyplane.constructs.aws import policy as pol
from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.constructs.aws.iam import SeparationOfDuties, cloudtrail_role_name
from keyplane.constructs.aws.kms import infrastructure_key
from keyplane.model import limits
from keyplane.model.tags import aws_tags
from keyplane.model.tiers import Tier, policy_for

S3_BUCKET_NAME_MAX = 63
# Housekeeping, not a tier control: parts of an upload that never completed.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7


def audit_bucket_name(env_name: str, account_id: str) -> str:
    """`keyplane-<env>-audit-<account>`: globally unique through the account id."""
    return f"keyplane-{env_name}-audit-{account_id}"


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
        name = audit_bucket_name(self.env_name, self.account_id)
        if len(name) > S3_BUCKET_NAME_MAX:
            raise ConstructConfigError(f"audit bucket name '{name}' is longer than "
                                       f"{S3_BUCKET_NAME_MAX} characters; shorten the "
                                       "environment name", code="KP308")
        days = policy_for(self.tier).log_retention_in_days
        if days > max(limits.CLOUDWATCH_LOG_RETENTION_DAYS):
            raise ConstructConfigError(f"log retention {days} days is above what cloudwatch "
                                       "logs accepts", code="KP308")

    @property
    def log_retention_in_days(self) -> int:
        """The tier's log retention as a value CloudWatch Logs accepts."""
        return limits.cloudwatch_retention_at_least(policy_for(self.tier).log_retention_in_days)

    @property
    def object_lock_retention_in_days(self) -> int | None:
        """COMPLIANCE-mode default retention of the bucket, when the tier has one."""
        return policy_for(self.tier).object_lock_retention_in_days


class AuditSink(Construct):
    """Audit KMS key, locked S3 bucket, KMS-encrypted log group and a multi-Region trail."""

    def __init__(self, scope: Construct, id_: str, *, config: AuditSinkConfig,
                 sod: SeparationOfDuties) -> None:
        super().__init__(scope, id_)
        env, tier = config.env_name, policy_for(config.tier)
        p = sod.principals
        tags = aws_tags(env, config.tier)
        keep = TerraformResourceLifecycle(prevent_destroy=True) if tier.prevent_destroy \
            else None
        part, acct, region = p.partition, p.account_id, config.region
        trail_name = f"keyplane-{env}"
        trail_arn = f"arn:{part}:cloudtrail:{region}:{acct}:trail/{trail_name}"
        group_name = f"/keyplane/{env}/cloudtrail"
        group_arn = f"arn:{part}:logs:{region}:{acct}:log-group:{group_name}"
        bucket_name = audit_bucket_name(env, acct)
        self.log_group_name = group_name

        statements = pol.administration(p)
        statements += pol.deletion_guard(p, min_window_in_days=tier.min_deletion_window_in_days)
        statements += pol.auditing(p)
        if p.has_auditor:
            statements.append(pol.statement(
                "AuditorReadsLogs", "Allow", {"AWS": p.role_arn("auditor")}, ["kms:Decrypt"],
                {"StringEquals": {"kms:ViaService": [f"s3.{region}.amazonaws.com",
                                                     f"logs.{region}.amazonaws.com"]}}))
        statements += [
            pol.service_statement(
                "CloudTrailEncryptsLogs", "cloudtrail.amazonaws.com",
                ["kms:GenerateDataKey*"],
                {"StringEquals": {"aws:SourceArn": trail_arn},
                 "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                                f"arn:{part}:cloudtrail:*:{acct}:trail/*"}}),
            pol.service_statement("CloudTrailDescribesKey", "cloudtrail.amazonaws.com",
                                  ["kms:DescribeKey"],
                                  {"StringEquals": {"aws:SourceArn": trail_arn}}),
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
        self.key = infrastructure_key(
            self, env=env, purpose="audit",
            description=f"keyplane {env}: audit trail, logs and alarms", tier=tier,
            policy=pol.to_json(pol.document(statements)), tags=tags, lifecycle=keep,
            depends_on=list(sod.roles.values()))

        lock_days = config.object_lock_retention_in_days
        self.bucket = S3Bucket(self, "bucket", bucket=bucket_name,
                               object_lock_enabled=True if lock_days else None,
                               tags=tags, lifecycle=keep)
        S3BucketVersioningA(self, "bucket-versioning", bucket=self.bucket.id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(
                                status="Enabled"))
        S3BucketPublicAccessBlock(self, "bucket-public-access-block", bucket=self.bucket.id,
                                  block_public_acls=True, block_public_policy=True,
                                  ignore_public_acls=True, restrict_public_buckets=True)
        S3BucketOwnershipControls(self, "bucket-ownership", bucket=self.bucket.id,
                                  rule=S3BucketOwnershipControlsRule(
                                      object_ownership="BucketOwnerEnforced"))
        S3BucketServerSideEncryptionConfigurationA(
            self, "bucket-encryption", bucket=self.bucket.id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn)),
                bucket_key_enabled=True)])
        if lock_days:
            S3BucketObjectLockConfigurationA(
                self, "bucket-object-lock", bucket=self.bucket.id,
                rule=S3BucketObjectLockConfigurationRuleA(
                    default_retention=S3BucketObjectLockConfigurationRuleDefaultRetentionA(
                        mode="COMPLIANCE", days=lock_days)))
        S3BucketLifecycleConfiguration(
            self, "bucket-lifecycle", bucket=self.bucket.id,
            rule=[S3BucketLifecycleConfigurationRule(
                id="abort-incomplete-uploads", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                abort_incomplete_multipart_upload=[
                    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS)])])
        bucket_arn = f"arn:{part}:s3:::{bucket_name}"
        bucket_policy = S3BucketPolicy(self, "bucket-policy", bucket=self.bucket.id,
                                       policy=pol.to_json(_bucket_policy(
                                           bucket_arn, trail_arn, acct)))

        self.log_group = CloudwatchLogGroup(
            self, "log-group", name=group_name, retention_in_days=config.log_retention_in_days,
            kms_key_id=self.key.arn, tags=tags, skip_destroy=True if tier.prevent_destroy
            else None)
        role = sod.service_role("cloudtrail-logs", cloudtrail_role_name(env),
                                "cloudtrail.amazonaws.com", trail_arn,
                                "delivers the audit trail to cloudwatch logs")
        IamRolePolicy(self, "cloudtrail-logs-policy", name="keyplane", role=role.id,
                      policy=pol.to_json({"Version": pol.POLICY_VERSION, "Statement": [
                          pol.identity_statement(
                              "DeliverTrail", "Allow",
                              ["logs:CreateLogStream", "logs:PutLogEvents"],
                              [f"{group_arn}:log-stream:*"])]}))
        selector = CloudtrailEventSelector(read_write_type="All", include_management_events=True,
                                           exclude_management_event_sources=[])
        self.trail = Cloudtrail(
            self, "trail", name=trail_name, s3_bucket_name=self.bucket.id,
            is_multi_region_trail=True, include_global_service_events=True,
            enable_log_file_validation=True, enable_logging=True, kms_key_id=self.key.arn,
            cloud_watch_logs_group_arn=f"{self.log_group.arn}:*",
            cloud_watch_logs_role_arn=role.arn, event_selector=[selector], tags=tags,
            depends_on=[bucket_policy])


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
