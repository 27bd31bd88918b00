"""`GcpEnvironment`: every GCP resource of one environment, in the stack it is given.

The construct turns `keyplane.desired.gcp.plan_environment(env)` into resources one to
one. All checks run in the plan, before the first resource is created. Construct ids are part of
keyplane's contract (renaming one replaces a key): they derive from names in the
inventory only, never from list positions or dates.
"""

from __future__ import annotations

from collections.abc import Sequence

import cdktn
from cdktn_provider_google.data_google_storage_project_service_account import (
    DataGoogleStorageProjectServiceAccount,
)
from cdktn_provider_google.kms_crypto_key import KmsCryptoKey
from cdktn_provider_google.kms_crypto_key_iam_member import KmsCryptoKeyIamMember
from cdktn_provider_google.kms_crypto_key_version import KmsCryptoKeyVersion
from cdktn_provider_google.kms_key_ring import KmsKeyRing
from cdktn_provider_google.kms_key_ring_iam_member import KmsKeyRingIamMember
from cdktn_provider_google.kms_key_ring_import_job import KmsKeyRingImportJob
from cdktn_provider_google.logging_metric import LoggingMetric
from cdktn_provider_google.logging_project_sink import LoggingProjectSink
from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionPrometheusQueryLanguage,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
)
from cdktn_provider_google.project_iam_audit_config import (
    ProjectIamAuditConfig,
    ProjectIamAuditConfigAuditLogConfig,
)
from cdktn_provider_google.provider import GoogleProvider
from cdktn_provider_google.storage_bucket import StorageBucket
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from keyplane.desired.gcp import (
    KMS_SERVICE,
    ROLE_ENCRYPTER_DECRYPTER,
    ROLE_OBJECT_CREATOR,
    SECONDS_PER_DAY,
    SIGN_VOLUME_BASELINE,
    SIGN_VOLUME_FACTOR,
    SIGN_VOLUME_WINDOW,
    AlertPlan,
    BucketPlan,
    GcpPlan,
    KeyPlan,
    check_member,
    grant_id,
    plan_environment,
)
from keyplane.model.environment import Environment

# Log-based metrics of Cloud KMS audit entries are written against the audited
# resource; the Cloud KMS resource types are listed too so the condition also
# matches where Cloud Monitoring knows them.
_METRIC_RESOURCES = ('one_of("audited_resource", "cloudkms_cryptokey", "cloudkms_keyring", '
                     '"cloudkms_cryptokeyversion")')


def promql_metric(metric_name: str) -> str:
    """The PromQL name Cloud Monitoring gives a user-defined log-based metric."""
    flat = "".join(c if c.isalnum() else "_" for c in metric_name)
    return f"logging_googleapis_com:user_{flat}"


class GcpEnvironment(Construct):
    """Key rings, crypto keys, versions, IAM, audit trail, alerts and escrow of one environment.

    Creates its own `GoogleProvider` (project and region of `env.gcp`, default label
    `keyplane-env`) inside whatever TerraformStack it is given. Raises a
    `GcpDeclarationError` subclass, before creating anything, when a declaration is one
    Cloud KMS would refuse or keyplane forbids.
    """

    def __init__(self, scope: Construct, id: str, *, env: Environment,
                 notification_channels: Sequence[str] = ()) -> None:
        """`notification_channels`: alert-policy channel ids; default: none (console only)."""
        plan = plan_environment(env)
        super().__init__(scope, id)
        self.plan: GcpPlan = plan
        self.provider = GoogleProvider(self, "google", project=plan.project, region=plan.region)
        # Set raw: the binding rewrites map keys of provider blocks to snake_case, which
        # would turn the label `keyplane-env` into `keyplane_env`.
        self.provider.add_override("default_labels", dict(plan.default_labels))
        self.key_rings: dict[str, KmsKeyRing] = {}
        self.crypto_keys: dict[str, KmsCryptoKey] = {}
        self.versions: dict[str, KmsCryptoKeyVersion] = {}
        self._agent: DataGoogleStorageProjectServiceAccount | None = None
        self._agent_grants: dict[str, KmsCryptoKeyIamMember] = {}

        for ring in plan.rings:
            self.key_rings[ring.construct_id] = KmsKeyRing(
                self, ring.construct_id, name=ring.name, location=ring.location,
                project=plan.project)
            if ring.import_id is not None:  # an adopted key's ring that exists already
                self.key_rings[ring.construct_id].import_from(ring.import_id)
            for grant in plan.ring_grants.get(ring.construct_id, ()):
                KmsKeyRingIamMember(self, grant.construct_id,
                                    key_ring_id=self.key_rings[ring.construct_id].id,
                                    role=grant.role, member=grant.member)
        for key in plan.keys:
            self._crypto_key(key)
        if plan.audit is not None:
            self._audit(plan)
        for bucket in plan.escrow_buckets:
            self._bucket(bucket)
        channels = list(notification_channels)
        for alert in plan.alerts:
            self._alert(alert, channels)

    # ---- keys ----

    def _crypto_key(self, key: KeyPlan) -> KmsCryptoKey:
        ring = self.key_rings[key.ring.construct_id]
        crypto_key = KmsCryptoKey(
            self, key.construct_id, name=key.name, key_ring=ring.id, purpose=key.purpose,
            version_template={"algorithm": key.algorithm,
                              "protection_level": key.protection_level},
            rotation_period=key.rotation_period,
            destroy_scheduled_duration=key.destroy_scheduled_duration,
            skip_initial_version_creation=key.skip_initial_version_creation or None,
            import_only=key.import_only or None,
            labels=key.labels,
            lifecycle=cdktn.TerraformResourceLifecycle(prevent_destroy=True)
            if key.prevent_destroy else None)
        self.crypto_keys[key.construct_id] = crypto_key
        if key.import_id is not None:  # an adopted key: imported, never created
            crypto_key.import_from(key.import_id)
        for version in key.versions:
            # A retired generation leaves the config: Terraform destroys the version, which
            # Cloud KMS schedules for destruction for the key's destroy-scheduled duration.
            self.versions[version.construct_id] = KmsCryptoKeyVersion(
                self, version.construct_id, crypto_key=crypto_key.id, state=version.state)
            if version.import_id is not None:
                self.versions[version.construct_id].import_from(version.import_id)
        current = key.current_version
        if current is not None and key.output_name is not None:
            out = cdktn.TerraformOutput(
                self, f"{key.construct_id}-current-version",
                value=self.versions[current.construct_id].id,
                description=f"version of {key.name} workloads use: generation "
                            f"{current.generation}")
            out.override_logical_id(key.output_name)
        if key.import_job is not None:
            job = KmsKeyRingImportJob(
                self, key.import_job.construct_id, key_ring=ring.id,
                import_job_id=key.import_job.import_job_id,
                import_method=key.import_job.import_method,
                protection_level=key.import_job.protection_level)
            if key.output_name is not None:
                out = cdktn.TerraformOutput(
                    self, f"{key.construct_id}-import-job", value=job.id,
                    description=f"import job for the current generation of {key.name}")
                out.override_logical_id(key.output_name)
        for grant in key.grants:
            KmsCryptoKeyIamMember(self, grant.construct_id, crypto_key_id=crypto_key.id,
                                  role=grant.role, member=grant.member)
        return crypto_key

    # ---- audit trail ----

    def _storage_agent_grant(self, key_construct_id: str) -> KmsCryptoKeyIamMember:
        """The project's Cloud Storage service agent may use the key that encrypts a bucket."""
        if key_construct_id in self._agent_grants:
            return self._agent_grants[key_construct_id]
        if self._agent is None:
            self._agent = DataGoogleStorageProjectServiceAccount(
                self, "storage-service-agent", project=self.plan.project)
        grant = KmsCryptoKeyIamMember(
            self, grant_id(key_construct_id, ROLE_ENCRYPTER_DECRYPTER, "storage-service-agent"),
            crypto_key_id=self.crypto_keys[key_construct_id].id,
            role=ROLE_ENCRYPTER_DECRYPTER,
            member=f"serviceAccount:{self._agent.email_address}")
        self._agent_grants[key_construct_id] = grant
        return grant

    def _bucket(self, bucket: BucketPlan) -> StorageBucket:
        grant = self._storage_agent_grant(bucket.kms_key)
        resource = StorageBucket(
            self, bucket.construct_id, name=bucket.name, location=bucket.location,
            project=self.plan.project, force_destroy=False,
            uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning={"enabled": True},
            retention_policy={"retention_period": str(bucket.retention_in_days
                                                       * SECONDS_PER_DAY),
                              "is_locked": True},
            encryption={"default_kms_key_name": self.crypto_keys[bucket.kms_key].id},
            labels=bucket.labels, depends_on=[grant],
            lifecycle=cdktn.TerraformResourceLifecycle(prevent_destroy=True)
            if bucket.prevent_destroy else None)
        for reader in bucket.readers:
            check_member(reader.member, bucket.name)
            StorageBucketIamMember(self, reader.construct_id, bucket=resource.name,
                                   role=reader.role, member=reader.member)
        return resource

    def _audit(self, plan: GcpPlan) -> None:
        audit = plan.audit
        assert audit is not None
        if audit.data_access_log_types:
            ProjectIamAuditConfig(
                self, "kms-data-access-logs", project=plan.project, service=KMS_SERVICE,
                audit_log_config=[ProjectIamAuditConfigAuditLogConfig(log_type=t)
                                  for t in audit.data_access_log_types])
        if audit.bucket is None or audit.audit_key is None:
            return
        self._crypto_key(audit.audit_key)
        bucket = self._bucket(audit.bucket)
        assert audit.sink_name is not None and audit.sink_filter is not None
        sink = LoggingProjectSink(
            self, "kms-audit-sink", name=audit.sink_name, project=plan.project,
            destination=f"storage.googleapis.com/{bucket.name}", filter=audit.sink_filter,
            unique_writer_identity=True,
            description="Cloud KMS audit entries to the locked keyplane audit bucket")
        StorageBucketIamMember(self, grant_id("audit-bucket", ROLE_OBJECT_CREATOR, "sink-writer"),
                               bucket=bucket.name, role=ROLE_OBJECT_CREATOR,
                               member=sink.writer_identity)

    # ---- alerts ----

    def _alert(self, alert: AlertPlan, channels: list[str]) -> None:
        metric = LoggingMetric(
            self, f"{alert.construct_id}-metric", name=alert.metric_name,
            project=self.plan.project, filter=alert.log_filter,
            description=alert.description,
            metric_descriptor={"metric_kind": "DELTA", "value_type": "INT64", "unit": "1"})
        if alert.volume_anomaly:
            series = f"sum(rate({promql_metric(alert.metric_name)}[{SIGN_VOLUME_WINDOW}]))"
            baseline = (f"sum(avg_over_time(rate({promql_metric(alert.metric_name)}"
                        f"[{SIGN_VOLUME_WINDOW}])[{SIGN_VOLUME_BASELINE}:{SIGN_VOLUME_WINDOW}]))")
            condition = MonitoringAlertPolicyConditions(
                display_name=alert.display_name,
                condition_prometheus_query_language=(
                    MonitoringAlertPolicyConditionsConditionPrometheusQueryLanguage(
                        query=f"{series} > {SIGN_VOLUME_FACTOR} * {baseline}",
                        duration="0s", evaluation_interval="60s")))
        else:
            condition = MonitoringAlertPolicyConditions(
                display_name=alert.display_name,
                condition_threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=f'metric.type="logging.googleapis.com/user/{alert.metric_name}" '
                           f"AND resource.type={_METRIC_RESOURCES}",
                    comparison="COMPARISON_GT", threshold_value=0, duration="0s",
                    aggregations=[MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                        alignment_period="60s", per_series_aligner="ALIGN_SUM",
                        cross_series_reducer="REDUCE_SUM")],
                    trigger={"count": 1}))
        MonitoringAlertPolicy(
            self, alert.construct_id, display_name=alert.display_name, combiner="OR",
            project=self.plan.project, severity=alert.severity, conditions=[condition],
            documentation={"content": alert.description, "mime_type": "text/markdown"},
            notification_channels=channels or None,
            user_labels=dict(self.plan.default_labels), depends_on=[metric])
