"""The read-only AWS adapter: only Describe/Get/List calls, bounded pagination, error mapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.stub import Stubber

from keyplane.cloud.aws.reader import AwsReader
from keyplane.cloud.aws.session import AwsClients, AwsConfig
from keyplane.model import load_estate
from keyplane.postapply.errors import HookSetupError
from keyplane.postapply.expected import expected_state
from keyplane.postapply.ports import CredentialsExpired, ReadError
from keyplane.postapply.run import run
from keyplane.postapply.stack import load_environment_stacks
from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import applied_env, start_sandbox


def clients(endpoint: str | None, account: str = "123456789012", **kw: object) -> AwsClients:
    return AwsClients(AwsConfig(region="us-east-1", endpoint_url=endpoint,
                                access_key_id=sandbox_access_key(account),
                                secret_access_key=SANDBOX_SECRET, **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.mark.integration
def test_post_apply_reads_only_describe_get_list(sb: Sandbox, tmp_path: Path) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    env = load_estate([envs / "prod.yaml"]).get("prod")
    state = expected_state(env, load_environment_stacks(env, envs.parent / "cdktf.out"))
    c = clients(sb.aws.url, acct)
    sb.front.calls.clear()
    sb.front.record_calls = True
    sb.kms_fake.calls.clear()
    sb.kms_fake.record_calls = True
    try:
        from keyplane.commands.cloud_wiring import CloudOptions, gcp_reader

        report = run(command="post-apply", sections=["rotation", "drift", "access-review",
                                                     "discover"], state=state,
                     aws={r: AwsReader(c, r) for r in state.aws_regions},
                     gcp=gcp_reader(state, CloudOptions(gcp_endpoint=sb.gcp.target)))
    finally:
        sb.front.record_calls = False
        sb.kms_fake.record_calls = False
    assert report.outcome.value == "clean"
    ops = {op for _, op, _ in sb.front.calls} | set(sb.kms_fake.calls)
    writes = {op for op in ops if not op.startswith(("Describe", "Get", "List", "GET "))}
    assert writes == set()
    assert {"DescribeKey", "GetKeyPolicy", "ListGrants", "GetCallerIdentity", "ListKeys",
            "GetKeyRotationStatus", "ListCryptoKeys", "GetIamPolicy"} <= ops


@pytest.mark.integration
def test_paginates_list_keys_across_pages(sb: Sandbox) -> None:
    c = clients(sb.aws.url, "600000000001")
    kms = c.client("kms")
    made = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(130)}
    assert set(AwsReader(c, "us-east-1").list_key_ids()) == made  # 100 + 30: two pages


@pytest.mark.integration
def test_a_repeated_next_token_does_not_loop_forever(sb: Sandbox) -> None:
    c = clients(sb.aws.url, "600000000002")
    sb.front.rules = [FaultRule(error="RepeatNextToken", service="kms", operation="ListKeys",
                                account="600000000002")]
    try:
        with pytest.raises(ReadError) as exc:
            AwsReader(c, "us-east-1").list_key_ids()
    finally:
        sb.front.rules = []
    assert exc.value.code == "PaginationError"
    assert "The same next token was received twice" in exc.value.message


@pytest.mark.integration
def test_fails_to_schedule_deletion_outside_7_to_30_days_in_the_sandbox(sb: Sandbox) -> None:
    """moto ignores out-of-range windows; the sandbox front refuses them as AWS does."""
    from botocore.exceptions import ClientError

    kms = clients(sb.aws.url, "600000000003").client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=3)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert exc.value.response["Error"]["Message"] == ("PendingWindowInDays must be between 7 "
                                                      "and 30, got 3")
    with pytest.raises(ClientError) as exc2:
        kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=3000)
    assert exc2.value.response["Error"]["Message"] == ("RotationPeriodInDays must be between 90 "
                                                       "and 2560, got 3000")


def test_rotation_status_with_period_and_next_date_via_stubber() -> None:
    """A Stubber answers as AWS does (moto returns no RotationPeriodInDays)."""
    c = clients(None)
    kms = c.client("kms")
    nxt = dt.datetime(2027, 5, 1, tzinfo=dt.UTC)
    with Stubber(kms) as stub:
        stub.add_response("get_key_rotation_status",
                          {"KeyRotationEnabled": True, "RotationPeriodInDays": 180,
                           "NextRotationDate": nxt}, {"KeyId": "k1"})
        got = AwsReader(c, "us-east-1").rotation_status("k1")
    assert (got.enabled, got.period_in_days, got.next_rotation_date) == (True, 180, nxt)


def test_fails_with_credentials_expired_via_stubber() -> None:
    c = clients(None)
    kms = c.client("kms")
    with Stubber(kms) as stub:
        stub.add_client_error("describe_key", service_error_code="ExpiredTokenException",
                              service_message="The security token included in the request is "
                                              "expired", expected_params={"KeyId": "k1"})
        with pytest.raises(CredentialsExpired) as exc:
            AwsReader(c, "us-east-1").describe_key("k1")
    assert (exc.value.code, exc.value.operation) == ("ExpiredTokenException", "DescribeKey")
    assert exc.value.message == "The security token included in the request is expired"


def test_custom_key_store_disconnected_via_stubber() -> None:
    c = clients(None)
    with Stubber(c.client("kms")) as stub:
        stub.add_response("describe_custom_key_stores", {"CustomKeyStores": [{
            "CustomKeyStoreId": "cks-1", "CustomKeyStoreName": "keyplane-prod",
            "CloudHsmClusterId": "cluster-1234567890a", "ConnectionState": "DISCONNECTED"}]}, {})
        (store,) = AwsReader(c, "us-east-1").custom_key_stores()
    assert (store.id, store.connection_state) == ("cks-1", "DISCONNECTED")


def test_fails_on_a_bad_retry_mode() -> None:
    with pytest.raises(HookSetupError) as exc:
        AwsConfig(region="us-east-1", retry_mode="legacy")
    assert exc.value.message == "retry_mode must be one of standard, adaptive, got legacy"


_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole", "Condition": {"Bool": {
        "aws:MultiFactorAuthPresent": "true"}},
    "Principal": {"AWS": "arn:aws:iam::600000000004:role/break-glass/pki-break-glass"}}]}


@pytest.mark.integration
def test_reads_role_trust_inline_and_attached_policies_with_reads_only(sb: Sandbox) -> None:
    import json

    acct = "600000000004"
    c = clients(sb.aws.url, acct)
    iam = c.client("iam")
    iam.create_role(RoleName="keyplane-prod-break-glass", AssumeRolePolicyDocument=json.dumps(
        _TRUST), Tags=[{"Key": "keyplane:env", "Value": "prod"}])
    iam.create_role(RoleName="other-role", AssumeRolePolicyDocument=json.dumps(_TRUST))
    use = {"Version": "2012-10-17", "Statement": [{"Sid": "Use", "Effect": "Allow",
                                                   "Action": "kms:Sign", "Resource": "*"}]}
    iam.put_role_policy(RoleName="keyplane-prod-break-glass", PolicyName="keyplane",
                        PolicyDocument=json.dumps(use))
    own = iam.create_policy(PolicyName="extra", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*",
                                                 "Resource": "*"}]}))["Policy"]["Arn"]
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    for arn in (own, admin):
        iam.attach_role_policy(RoleName="keyplane-prod-break-glass", PolicyArn=arn)
    sb.front.calls.clear()
    sb.front.record_calls = True
    try:
        (role,) = AwsReader(c, "us-east-1").roles("keyplane-prod-")
    finally:
        sb.front.record_calls = False
    assert (role.name, role.tags, role.trust_policy) == ("keyplane-prod-break-glass",
                                                         {"keyplane:env": "prod"}, _TRUST)
    assert role.inline_policies == {"keyplane": use}
    assert sorted(role.attached_policy_arns) == sorted([own, admin])
    assert role.attached_policies[own]["Statement"][0]["Action"] == "iam:*"
    assert role.attached_policies[admin]["Statement"][0]["Action"] == "*"
    assert len(role.policies) == 3  # what the access review's reach reads: every document
    ops = {op for _, op, _ in sb.front.calls}
    assert {"ListRoles", "ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies",
            "GetPolicy", "GetPolicyVersion"} <= ops
    assert {op for op in ops if not op.startswith(("Describe", "Get", "List"))} == set()


@pytest.mark.integration
def test_reads_metric_filters_and_alarms_with_reads_only(sb: Sandbox) -> None:
    acct = "600000000005"
    c = clients(sb.aws.url, acct)
    logs, cw = c.client("logs"), c.client("cloudwatch")
    logs.create_log_group(logGroupName="/keyplane/prod/cloudtrail")
    pattern = '{ ($.eventSource = "kms.amazonaws.com") && ($.eventName = "DisableKey") }'
    logs.put_metric_filter(logGroupName="/keyplane/prod/cloudtrail",
                           filterName="keyplane-DisableKey", filterPattern=pattern,
                           metricTransformations=[{"metricName": "DisableKey",
                                                   "metricNamespace": "keyplane/prod",
                                                   "metricValue": "1", "defaultValue": 0}])
    topic = f"arn:aws:sns:us-east-1:{acct}:keyplane-prod-alarms"
    cw.put_metric_alarm(AlarmName="keyplane-prod-DisableKey", MetricName="DisableKey",
                        Namespace="keyplane/prod", Statistic="Sum", Period=300,
                        EvaluationPeriods=1, Threshold=1, AlarmActions=[topic],
                        ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.put_metric_alarm(
        AlarmName="keyplane-prod-SignVolume-code-signing", EvaluationPeriods=2,
        ComparisonOperator="GreaterThanUpperThreshold", ThresholdMetricId="band",
        AlarmActions=[topic], Metrics=[
            {"Id": "signs", "ReturnData": True, "MetricStat": {"Metric": {
                "Namespace": "keyplane/prod", "MetricName": "SignVolume-code-signing"},
                "Period": 300, "Stat": "Sum"}},
            {"Id": "band", "ReturnData": True, "Expression": "ANOMALY_DETECTION_BAND(signs, 2)"}])
    cw.put_metric_alarm(AlarmName="other-alarm", MetricName="x", Namespace="y", Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold")
    cw.disable_alarm_actions(AlarmNames=["keyplane-prod-DisableKey"])
    reader = AwsReader(c, "us-east-1")
    sb.front.calls.clear()
    sb.front.record_calls = True
    try:
        (flt,) = reader.metric_filters("/keyplane/prod/cloudtrail")
        gone = reader.metric_filters("/keyplane/prod/no-such-group")
        alarms = {a.name: a for a in reader.alarms("keyplane-prod-")}
    finally:
        sb.front.record_calls = False
    assert (flt.name, flt.log_group_name, flt.pattern, flt.metric_name, flt.metric_namespace) == (
        "keyplane-DisableKey", "/keyplane/prod/cloudtrail", pattern, "DisableKey",
        "keyplane/prod")
    assert gone == []
    assert sorted(alarms) == ["keyplane-prod-DisableKey", "keyplane-prod-SignVolume-code-signing"]
    disable = alarms["keyplane-prod-DisableKey"]
    assert (disable.actions_enabled, disable.alarm_actions, disable.namespace,
            disable.metric_name) == (False, (topic,), "keyplane/prod", "DisableKey")
    volume = alarms["keyplane-prod-SignVolume-code-signing"]
    assert (volume.actions_enabled, volume.query_metrics) == (
        True, ("keyplane/prod/SignVolume-code-signing",))
    ops = {op for _, op, _ in sb.front.calls}
    assert ops == {"DescribeMetricFilters", "DescribeAlarms"}


def test_alarms_read_paginates_and_filters_by_prefix_via_stubber() -> None:
    c = clients(None)
    with Stubber(c.client("cloudwatch")) as stub:
        stub.add_response("describe_alarms", {"MetricAlarms": [{
            "AlarmName": "keyplane-prod-A", "AlarmArn": "arn:a", "ActionsEnabled": True,
            "AlarmActions": ["arn:t"], "MetricName": "A", "Namespace": "keyplane/prod"}],
            "NextToken": "n1"}, {"AlarmNamePrefix": "keyplane-prod-",
                                 "AlarmTypes": ["MetricAlarm"]})
        stub.add_response("describe_alarms", {"MetricAlarms": [{
            "AlarmName": "keyplane-prod-B", "AlarmArn": "arn:b", "ActionsEnabled": False}]},
            {"AlarmNamePrefix": "keyplane-prod-", "AlarmTypes": ["MetricAlarm"],
             "NextToken": "n1"})
        got = AwsReader(c, "us-east-1").alarms("keyplane-prod-")
    assert [(a.name, a.actions_enabled, a.alarm_actions) for a in got] == [
        ("keyplane-prod-A", True, ("arn:t",)), ("keyplane-prod-B", False, ())]
