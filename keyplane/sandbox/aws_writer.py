"""Creating an environment's expected state in the local sandbox, through boto3.

Used by `keyplane sandbox apply` only: it refuses any endpoint that is not a
loopback address, so it can never write to AWS. The post-apply jobs never import
this module (they read through `keyplane.cloud.aws.reader`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from keyplane.cloud.aws.session import AwsClients
from keyplane.model.tags import AWS_TAG_ENV, AWS_TAG_KEY, AWS_TAG_ROLE, AWS_TAG_TIER
from keyplane.model.tiers import highest
from keyplane.policy.policydoc import UNRESOLVED
from keyplane.postapply.errors import SANDBOX_FAILED, HookSetupError
from keyplane.postapply.expected import ExpectedAwsKey, ExpectedState
from keyplane.sandbox.credentials import is_loopback


def require_loopback(endpoint_url: str | None) -> None:
    """Refuse anything but a loopback endpoint: the sandbox writer never touches a cloud."""
    if not endpoint_url or not is_loopback(endpoint_url):
        raise HookSetupError(f"sandbox apply writes only to a local sandbox endpoint "
                             f"(127.0.0.1, localhost, ::1), got {endpoint_url or 'none'}",
                             code=SANDBOX_FAILED)


def _known_resources(doc: dict[str, Any]) -> dict[str, Any]:
    """An identity policy with each Resource only apply could name (a key's ARN) as `*`: the
    sandbox has other ids, and post-apply reads an unresolved value as any value anyway."""
    def fix(stmt: Any) -> Any:
        if not isinstance(stmt, dict) or "Resource" not in stmt:
            return stmt
        res = stmt["Resource"]
        items = res if isinstance(res, list) else [res]
        known = [r for r in items if UNRESOLVED not in str(r)]
        return {**stmt, "Resource": known if len(known) == len(items) else "*"}
    stmts = doc.get("Statement")
    return {**doc, "Statement": [fix(s) for s in stmts] if isinstance(stmts, list) else fix(stmts)}


def _tags(tags: dict[str, str], *, key: str = "TagKey", value: str = "TagValue"
          ) -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


@dataclass
class AppliedAws:
    """What the sandbox created, for the summary it prints."""

    keys: list[str] = field(default_factory=list)
    replicas: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


class AwsSandboxWriter:
    """Creates keys, aliases, replicas, policies, rotation, roles (trust and policies), trail,
    logs, alarms, vault, cluster."""

    def __init__(self, clients: AwsClients) -> None:
        require_loopback(clients.config.endpoint_url)
        self._c = clients

    def apply(self, state: ExpectedState) -> AppliedAws:
        """Create `state` (idempotent per declared key: a tagged key is not created twice)."""
        env = state.env
        assert env.aws is not None
        out = AppliedAws()
        region = env.aws.region
        kms = self._c.client("kms", region)
        existing = self._existing(kms)
        store_id = None
        if any(k.origin == "AWS_CLOUDHSM" for k in state.aws_keys):
            store_id = self._cloudhsm(state, out)
        for exp in state.aws_keys:
            if (exp.key.name, exp.generation) in existing:
                continue
            self._key(kms, exp, store_id, out)
        self._roles(state, out)
        self._audit(state, out)
        self._alarms(state, out)
        self._vaults(state, out)
        return out

    def _existing(self, kms: Any) -> set[tuple[str, int | None]]:
        found = set()
        for page in kms.get_paginator("list_keys").paginate():
            for k in page["Keys"]:
                tags = {t["TagKey"]: t["TagValue"]
                        for p in kms.get_paginator("list_resource_tags").paginate(KeyId=k["KeyId"])
                        for t in p["Tags"]}
                if AWS_TAG_KEY in tags:
                    gen = tags.get("keyplane:generation")
                    found.add((tags[AWS_TAG_KEY], int(gen) if gen and gen.isdigit() else None))
        return found

    def _cloudhsm(self, state: ExpectedState, out: AppliedAws) -> str:
        env = state.env
        assert env.aws is not None and env.aws.cloudhsm is not None
        hsm = self._c.client("cloudhsmv2", env.aws.region)
        cluster = hsm.create_cluster(
            HsmType="hsm2m.medium", SubnetIds=[h.subnet_id for h in env.aws.cloudhsm.hsms],
            BackupRetentionPolicy={"Type": "DAYS",
                                   "Value": str(state.cloudhsm_backup_retention_in_days or 365)},
            TagList=[{"Key": AWS_TAG_ENV, "Value": env.name}, {"Key": AWS_TAG_TIER,
                                                               "Value": "ca"}])["Cluster"]
        kms = self._c.client("kms", env.aws.region)
        store = kms.create_custom_key_store(
            CustomKeyStoreName=f"keyplane-{env.name}", CloudHsmClusterId=cluster["ClusterId"],
            TrustAnchorCertificate="sandbox trust anchor (not a certificate)",
            KeyStorePassword="sandbox-only")["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store)
        for _ in range(10):  # AWS connects asynchronously: CONNECTING, then CONNECTED
            described = kms.describe_custom_key_stores(CustomKeyStoreId=store)
            if described["CustomKeyStores"][0]["ConnectionState"] == "CONNECTED":
                break
        out.other += [f"cloudhsm cluster {cluster['ClusterId']}", f"custom key store {store}"]
        return str(store)

    def _key(self, kms: Any, exp: ExpectedAwsKey, store_id: str | None, out: AppliedAws) -> None:
        params: dict[str, Any] = {
            "KeySpec": exp.key_spec, "KeyUsage": exp.key_usage,
            "Description": exp.key.description or f"keyplane {exp.id}",
            "Tags": _tags(exp.tags), "MultiRegion": exp.multi_region}
        if exp.policy is not None:
            params["Policy"] = json.dumps(exp.policy)
        if exp.origin == "AWS_CLOUDHSM" and store_id:
            params["CustomKeyStoreId"] = store_id
            params["Origin"] = "AWS_CLOUDHSM"
        elif exp.origin == "EXTERNAL":
            params["Origin"] = "EXTERNAL"
        md = kms.create_key(**params)["KeyMetadata"]
        out.keys.append(f"{exp.id} {md['Arn']}")
        if exp.rotation_enabled:
            kms.enable_key_rotation(KeyId=md["KeyId"],
                                    RotationPeriodInDays=exp.rotation_period_in_days or 365)
        for alias in exp.aliases:
            kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
            out.aliases.append(alias)
        for region in exp.replica_regions:
            rparams: dict[str, Any] = {"KeyId": md["KeyId"], "ReplicaRegion": region,
                                       "Tags": _tags(exp.tags)}
            if exp.policy is not None:
                rparams["Policy"] = json.dumps(exp.policy)
            rep = kms.replicate_key(**rparams)["ReplicaKeyMetadata"]
            # tag explicitly as well: not every endpoint applies ReplicateKey's Tags
            self._c.client("kms", region).tag_resource(KeyId=rep["KeyId"],
                                                       Tags=_tags(exp.tags))
            out.replicas.append(f"{exp.id} {rep['Arn']}")
            for alias in exp.aliases:
                try:
                    self._c.client("kms", region).create_alias(AliasName=alias,
                                                               TargetKeyId=rep["KeyId"])
                except ClientError as exc:  # moto may carry the alias over with the replica
                    if exc.response["Error"]["Code"] != "AlreadyExistsException":
                        raise
        if not exp.enabled:
            kms.disable_key(KeyId=md["KeyId"])

    def _roles(self, state: ExpectedState, out: AppliedAws) -> None:
        env = state.env
        assert env.aws is not None
        iam = self._c.client("iam", env.aws.region)
        have = {r["RoleName"] for p in iam.get_paginator("list_roles").paginate()
                for r in p["Roles"]}
        root = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{env.aws.account_id}:root"},
            "Action": "sts:AssumeRole"}]}
        for role in state.all_roles:
            if role.name in have:
                continue
            iam.create_role(RoleName=role.name,
                            AssumeRolePolicyDocument=json.dumps(role.trust_policy or root),
                            Tags=[{"Key": AWS_TAG_ENV, "Value": env.name},
                                  {"Key": AWS_TAG_ROLE, "Value": role.role}])
            for name, doc in sorted(role.inline_policies.items()):
                if doc is not None:
                    iam.put_role_policy(RoleName=role.name, PolicyName=name,
                                        PolicyDocument=json.dumps(_known_resources(doc)))
            for arn in role.managed_policy_arns:
                if UNRESOLVED not in arn:
                    iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)
            out.other.append(f"role {role.name}")

    def _alarms(self, state: ExpectedState, out: AppliedAws) -> None:
        """The metric filters on the audit log group, the alarm topic and the alarms."""
        env = state.env
        assert env.aws is not None
        if not state.alarms:
            return
        region = env.aws.region
        logs, cw = self._c.client("logs", region), self._c.client("cloudwatch", region)
        sns = self._c.client("sns", region)
        for topic in sorted({a for alarm in state.alarms for a in alarm.actions
                             if a.startswith("arn:aws:sns:") and UNRESOLVED not in a}):
            sns.create_topic(Name=topic.rsplit(":", 1)[-1])
        have = {a["AlarmName"] for p in cw.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=f"keyplane-{env.name}-") for a in p["MetricAlarms"]}
        for alarm in state.alarms:
            if alarm.name in have:
                continue
            for f in alarm.filters:
                logs.put_metric_filter(
                    logGroupName=f.log_group_name, filterName=f.name, filterPattern=f.pattern,
                    metricTransformations=[{"metricName": f.metric_name or f.name,
                                            "metricNamespace": f.metric_namespace or "keyplane",
                                            "metricValue": "1", "defaultValue": 0}])
            params: dict[str, Any] = {
                "AlarmName": alarm.name, "EvaluationPeriods": 1,
                "AlarmActions": [a for a in alarm.actions if UNRESOLVED not in a],
                "ActionsEnabled": alarm.actions_enabled, "TreatMissingData": "notBreaching"}
            if len(alarm.metrics) == 1:
                namespace, metric = alarm.metrics[0].rsplit("/", 1)
                params.update(Namespace=namespace, MetricName=metric, Statistic="Sum",
                              Period=300, Threshold=1,
                              ComparisonOperator="GreaterThanOrEqualToThreshold")
            else:
                params.update(ComparisonOperator="GreaterThanThreshold", Threshold=0, Metrics=[
                    {"Id": f"m{i}", "ReturnData": i == 0, "MetricStat": {"Metric": {
                        "Namespace": m.rsplit("/", 1)[0], "MetricName": m.rsplit("/", 1)[1]},
                        "Period": 300, "Stat": "Sum"}} for i, m in enumerate(alarm.metrics)])
            cw.put_metric_alarm(**params)
            out.other.append(f"alarm {alarm.name}")

    def _audit(self, state: ExpectedState, out: AppliedAws) -> None:
        env = state.env
        assert env.aws is not None
        logs = self._c.client("logs", env.aws.region)
        have = {g["logGroupName"] for p in logs.get_paginator("describe_log_groups").paginate()
                for g in p["logGroups"]}
        for group in state.log_groups:
            if group.name not in have:
                logs.create_log_group(logGroupName=group.name, tags={AWS_TAG_ENV: env.name})
                logs.put_retention_policy(logGroupName=group.name,
                                          retentionInDays=group.retention_in_days)
                out.other.append(f"log group {group.name} ({group.retention_in_days} d)")
        if not state.trails:
            return
        s3 = self._c.client("s3", env.aws.region)
        ct = self._c.client("cloudtrail", env.aws.region)
        have_trails = {t["Name"] for p in ct.get_paginator("list_trails").paginate()
                       for t in p["Trails"]}
        for trail in state.trails:
            if trail.name in have_trails:
                continue
            bucket = f"{trail.name}-logs-{env.aws.account_id}"
            kwargs = {} if env.aws.region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": env.aws.region}}
            s3.create_bucket(Bucket=bucket, **kwargs)
            ct.create_trail(Name=trail.name, S3BucketName=bucket,
                            IsMultiRegionTrail=trail.multi_region,
                            EnableLogFileValidation=trail.log_file_validation,
                            TagsList=[{"Key": AWS_TAG_ENV, "Value": env.name}])
            if trail.kms_data_events:
                ct.put_event_selectors(TrailName=trail.name, AdvancedEventSelectors=[{
                    "Name": "kms-data-events", "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::KMS::Key"]}]}])
            ct.start_logging(Name=trail.name)
            out.other.append(f"trail {trail.name}")

    def _vaults(self, state: ExpectedState, out: AppliedAws) -> None:
        env = state.env
        assert env.aws is not None
        if not state.vaults:
            return
        backup = self._c.client("backup", env.aws.region)
        have = {v["BackupVaultName"] for p in backup.get_paginator("list_backup_vaults").paginate()
                for v in p["BackupVaultList"]}
        tier = highest([k.key.tier for k in state.aws_keys])
        for vault in state.vaults:
            if vault.name in have:
                continue
            backup.create_backup_vault(BackupVaultName=vault.name, BackupVaultTags={
                AWS_TAG_ENV: env.name, AWS_TAG_TIER: tier.value if tier else ""})
            lock: dict[str, Any] = {"BackupVaultName": vault.name,
                                    "MinRetentionDays": vault.min_retention_days}
            if vault.lock_mode == "COMPLIANCE":
                lock["ChangeableForDays"] = 3
            backup.put_backup_vault_lock_configuration(**lock)
            out.other.append(f"backup vault {vault.name} ({vault.lock_mode}, "
                             f">= {vault.min_retention_days} d)")


def seed_secure_parameters(clients: AwsClients, region: str, values: dict[str, str]
                           ) -> dict[str, str]:
    """Create each SSM parameter of `values` (name -> value) that does not exist yet, as a
    SecureString; name -> the value the sandbox now holds (an existing one is kept).

    For a stack's `data.aws_ssm_parameter` sources in the sandbox: keeping an existing value
    means a second apply reads the same value and plans no change. The values are the
    caller's to keep out of any output.
    """
    require_loopback(clients.config.endpoint_url)
    ssm = clients.client("ssm", region)
    held = {}
    for name, value in values.items():
        try:
            ssm.put_parameter(Name=name, Type="SecureString", Overwrite=False, Value=value,
                              Description="keyplane sandbox: a random dummy value")
            held[name] = value
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ParameterAlreadyExists":
                raise
            held[name] = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return held
