"""The audit sink: a multi-Region CloudTrail into a locked bucket and a CloudWatch log group.

KMS cryptographic operations (Sign, Decrypt, GenerateDataKey...) are CloudTrail
*management* events of the read type; there is no KMS data-event resource type.
The trail therefore logs management events Read and Write and excludes no event
source, which records every KMS call for every tier. What is built is decided in
`keyplane.desired.aws`; this construct renders it.
"""

from __future__ import annotations

from cdktn_provider_aws.cloudtrail import Cloudtrail, CloudtrailEventSelector
from cdktn_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
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

from keyplane.constructs.aws.iam import render_role_policies
from keyplane.constructs.aws.kms import infrastructure_key
from keyplane.constructs.aws.rendered import Rendered, child_id, lifecycle
from keyplane.desired import policy as pol
from keyplane.desired.aws import AuditBucketPlan, AuditPlan, IamPlan


class AuditSink(Construct):
    """Audit KMS key, locked S3 bucket, KMS-encrypted log group and a multi-Region trail."""

    def __init__(self, scope: Construct, id_: str, *, plan: AuditPlan, iam: IamPlan,
                 rendered: Rendered) -> None:
        super().__init__(scope, id_)
        self.plan = plan
        self.log_group_name = plan.log_group.name
        self.key = infrastructure_key(self, id_, plan.key, rendered)
        self.bucket = self._bucket(id_, plan.bucket, rendered)
        group = plan.log_group
        self.log_group = rendered.add(group.path, CloudwatchLogGroup(
            self, child_id(id_, group.path), name=group.name,
            retention_in_days=group.retention_in_days, kms_key_id=rendered.resolve(group.kms_key_id),
            tags=dict(group.tags), skip_destroy=True if group.skip_destroy else None))
        # The delivery role lives with the other roles; its policy lives here.
        render_role_policies(self, id_, iam, rendered)
        trail = plan.trail
        selector = CloudtrailEventSelector(
            read_write_type=trail.read_write_type,
            include_management_events=trail.include_management_events,
            exclude_management_event_sources=list(trail.exclude_management_event_sources))
        self.trail = rendered.add(trail.path, Cloudtrail(
            self, child_id(id_, trail.path), name=trail.name,
            s3_bucket_name=rendered.resolve(trail.s3_bucket_name),
            is_multi_region_trail=trail.is_multi_region_trail,
            include_global_service_events=trail.include_global_service_events,
            enable_log_file_validation=trail.enable_log_file_validation,
            enable_logging=trail.enable_logging, kms_key_id=rendered.resolve(trail.kms_key_id),
            cloud_watch_logs_group_arn=rendered.resolve(trail.cloud_watch_logs_group_arn),
            cloud_watch_logs_role_arn=rendered.resolve(trail.cloud_watch_logs_role_arn),
            event_selector=[selector], tags=dict(trail.tags),
            depends_on=rendered.depends(trail.depends_on)))

    def _bucket(self, scope_path: str, bucket: AuditBucketPlan, rendered: Rendered) -> S3Bucket:
        """The bucket and its settings resources, `<bucket>-<setting>` next to it."""
        lock_days = bucket.object_lock_retention_in_days
        resource = rendered.add(bucket.path, S3Bucket(
            self, child_id(scope_path, bucket.path), bucket=bucket.name,
            object_lock_enabled=True if lock_days else None, tags=dict(bucket.tags),
            lifecycle=lifecycle(bucket.prevent_destroy)))
        bucket_id = resource.id

        def id_(suffix: str) -> str:
            return child_id(scope_path, bucket.part(suffix))

        S3BucketVersioningA(self, id_("versioning"), bucket=bucket_id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(
                                status=bucket.versioning_status))
        block = bucket.block_public_access
        S3BucketPublicAccessBlock(self, id_("public-access-block"), bucket=bucket_id,
                                  block_public_acls=block, block_public_policy=block,
                                  ignore_public_acls=block, restrict_public_buckets=block)
        S3BucketOwnershipControls(self, id_("ownership"), bucket=bucket_id,
                                  rule=S3BucketOwnershipControlsRule(
                                      object_ownership=bucket.object_ownership))
        S3BucketServerSideEncryptionConfigurationA(
            self, id_("encryption"), bucket=bucket_id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm=bucket.sse_algorithm,
                        kms_master_key_id=rendered.resolve(bucket.kms_key_id))),
                bucket_key_enabled=bucket.bucket_key_enabled)])
        if lock_days:
            S3BucketObjectLockConfigurationA(
                self, id_("object-lock"), bucket=bucket_id,
                rule=S3BucketObjectLockConfigurationRuleA(
                    default_retention=S3BucketObjectLockConfigurationRuleDefaultRetentionA(
                        mode=bucket.object_lock_mode, days=lock_days)))
        S3BucketLifecycleConfiguration(
            self, id_("lifecycle"), bucket=bucket_id,
            rule=[S3BucketLifecycleConfigurationRule(
                id="abort-incomplete-uploads", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                abort_incomplete_multipart_upload=[
                    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                        days_after_initiation=bucket.abort_incomplete_uploads_after_days)])])
        rendered.add(bucket.part("policy"), S3BucketPolicy(
            self, id_("policy"), bucket=bucket_id,
            policy=pol.to_json(rendered.resolve(bucket.policy))))
        return resource
