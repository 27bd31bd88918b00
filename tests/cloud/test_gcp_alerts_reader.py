"""The GCP reader's log-based metrics and alert policies, over gRPC against the sandbox's fakes.

The real google-cloud-logging (MetricsServiceV2) and google-cloud-monitoring
(AlertPolicyService) clients talk to the in-process server that also serves Cloud KMS
(keyplane/sandbox/gcp_fake.py, with keyplane/sandbox/gcp_monitoring_fake.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3
from google.cloud.logging_v2.types import LogMetric as LogMetricMessage
from google.protobuf import field_mask_pb2

from keyplane.cloud.gcp.client import GcpConfig, build_client
from keyplane.cloud.gcp.monitoring import build_alert_policy_client, build_metrics_client
from keyplane.cloud.gcp.reader import GcpReader, alert_policy_of
from keyplane.postapply.ports import AccessDenied, AlertPolicy, LogMetric, ReadError, Throttled
from keyplane.sandbox.gcp_fake import GcpEndpoint, GcpFaultRule

pytestmark = pytest.mark.integration
PROJECT = "acme-gcp-alerts"
METRIC_FILTER = 'protoPayload.methodName="DestroyCryptoKeyVersion"'
CONDITION = ('metric.type="logging.googleapis.com/user/destroy" AND '
             'resource.type="audited_resource"')


def _config(ep: GcpEndpoint, project: str = PROJECT) -> GcpConfig:
    return GcpConfig(project=project, endpoint=ep.target, retry_initial=0.01,
                     retry_maximum=0.02, retry_timeout=0.2, call_timeout=5)


def _policy(display: str, text: str = CONDITION, **extra: Any) -> monitoring_v3.AlertPolicy:
    return monitoring_v3.AlertPolicy(
        display_name=display, combiner="OR", conditions=[monitoring_v3.AlertPolicy.Condition(
            display_name=display, condition_threshold={
                "filter": text, "comparison": "COMPARISON_GT", "threshold_value": 0,
                "duration": dt.timedelta(0)})], **extra)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[GcpEndpoint]:
    ep = GcpEndpoint()
    ep.fake.projects.add(PROJECT)
    ep.start()
    config = _config(ep)
    metrics, policies = build_metrics_client(config), build_alert_policy_client(config)
    for name in ("destroy", "disable", "set-iam"):
        metrics.create_log_metric(parent=f"projects/{PROJECT}", metric=LogMetricMessage(
            name=name, filter=METRIC_FILTER, description=f"{name} events"))
    policies.create_alert_policy(name=f"projects/{PROJECT}", alert_policy=_policy(
        "destroy alert", user_labels={"keyplane-env": "test"}))
    policies.create_alert_policy(name=f"projects/{PROJECT}", alert_policy=monitoring_v3.AlertPolicy(
        display_name="volume alert", enabled=False,
        notification_channels=[f"projects/{PROJECT}/notificationChannels/42"],
        conditions=[monitoring_v3.AlertPolicy.Condition(
            display_name="volume", condition_prometheus_query_language={
                "query": "sum(rate(logging_googleapis_com:user_destroy[1h])) > 3",
                "duration": dt.timedelta(0), "evaluation_interval": dt.timedelta(seconds=60)})]))
    yield ep
    ep.stop()


def reader(ep: GcpEndpoint, project: str = PROJECT, **clients: Any) -> GcpReader:
    config = _config(ep, project)
    return GcpReader(build_client(config), config, **clients)


def test_lists_the_projects_log_based_metrics(endpoint: GcpEndpoint) -> None:
    assert reader(endpoint).log_metrics() == [
        LogMetric(name=n, filter=METRIC_FILTER, description=f"{n} events")
        for n in ("destroy", "disable", "set-iam")]


def test_lists_alert_policies_with_their_conditions_channels_and_state(
        endpoint: GcpEndpoint) -> None:
    first, second = reader(endpoint).alert_policies()
    assert first.name.startswith(f"projects/{PROJECT}/alertPolicies/")
    assert (first.display_name, first.enabled, first.notification_channels, first.conditions,
            first.user_labels) == ("destroy alert", True, (), (CONDITION,),
                                   {"keyplane-env": "test"})
    assert (second.display_name, second.enabled, second.notification_channels,
            second.conditions) == (
        "volume alert", False, (f"projects/{PROJECT}/notificationChannels/42",),
        ("sum(rate(logging_googleapis_com:user_destroy[1h])) > 3",))


def test_uses_the_clients_it_is_given(endpoint: GcpEndpoint) -> None:
    config = _config(endpoint)
    r = reader(endpoint, metrics=build_metrics_client(config),
               alert_policies=build_alert_policy_client(config))
    assert [m.name for m in r.log_metrics()] == ["destroy", "disable", "set-iam"]
    assert [p.display_name for p in r.alert_policies()] == ["destroy alert", "volume alert"]


def test_a_policy_whose_state_is_not_populated_reads_as_unknown() -> None:
    """Cloud Monitoring: on read, assume nothing of a policy whose `enabled` is not set."""
    got = alert_policy_of(_policy("unpopulated"))
    assert got == AlertPolicy(name="", display_name="unpopulated", enabled=None,
                              conditions=(CONDITION,))


def test_fails_for_a_project_the_endpoint_does_not_host(endpoint: GcpEndpoint) -> None:
    r = reader(endpoint, "acme-other-proj")
    for read in (r.log_metrics, r.alert_policies):
        with pytest.raises(AccessDenied) as exc:
            read()
        assert exc.value.code == "PERMISSION_DENIED"
        assert "permission denied on resource project acme-other-proj" in exc.value.message
    assert exc.value.operation == "ListAlertPolicies"


def test_a_repeated_page_token_does_not_loop_forever(endpoint: GcpEndpoint) -> None:
    endpoint.fake.rules = [GcpFaultRule(code="RepeatPageToken", method="ListLogMetrics")]
    try:
        with pytest.raises(ReadError) as exc:
            reader(endpoint).log_metrics()
    finally:
        endpoint.fake.rules = []
    assert (exc.value.operation, exc.value.code) == ("ListLogMetrics", "RepeatedPageToken")


def test_throttling_is_retried_then_reported(endpoint: GcpEndpoint) -> None:
    rule = GcpFaultRule(code="RESOURCE_EXHAUSTED", method="ListAlertPolicies")
    endpoint.fake.rules = [rule]
    try:
        with pytest.raises(Throttled) as exc:
            reader(endpoint).alert_policies()
    finally:
        endpoint.fake.rules = []
    assert exc.value.code == "RESOURCE_EXHAUSTED" and rule.hits >= 2


def test_a_disabled_policy_and_metric_read_back_as_disabled(endpoint: GcpEndpoint) -> None:
    config = _config(endpoint)
    metrics, policies = build_metrics_client(config), build_alert_policy_client(config)
    made = policies.create_alert_policy(name=f"projects/{PROJECT}",
                                        alert_policy=_policy("to disable"))
    policies.update_alert_policy(
        alert_policy=monitoring_v3.AlertPolicy(name=made.name, enabled=False),
        update_mask=field_mask_pb2.FieldMask(paths=["enabled"]))
    metrics.update_log_metric(metric_name=f"projects/{PROJECT}/metrics/disable",
                              metric=LogMetricMessage(name="disable", filter=METRIC_FILTER,
                                                      disabled=True))
    r = reader(endpoint)
    try:
        (got,) = [p for p in r.alert_policies() if p.name == made.name]
        assert (got.enabled, got.conditions) == (False, (CONDITION,))  # the mask kept the rest
        assert [m.name for m in r.log_metrics() if m.disabled] == ["disable"]
    finally:
        policies.delete_alert_policy(name=made.name)
        metrics.update_log_metric(metric_name=f"projects/{PROJECT}/metrics/disable",
                                  metric=LogMetricMessage(name="disable", filter=METRIC_FILTER,
                                                          description="disable events"))


def test_fails_to_create_a_threshold_condition_without_a_resource_type(
        endpoint: GcpEndpoint) -> None:
    policies = build_alert_policy_client(_config(endpoint))
    with pytest.raises(gexc.InvalidArgument) as exc:
        policies.create_alert_policy(name=f"projects/{PROJECT}", alert_policy=_policy(
            "no resource type", text='metric.type="logging.googleapis.com/user/destroy"'))
    assert 'must specify a restriction on "resource.type" in the filter' in exc.value.message


def test_fails_to_create_a_metric_without_a_filter_or_with_a_bad_name(
        endpoint: GcpEndpoint) -> None:
    metrics = build_metrics_client(_config(endpoint))
    with pytest.raises(gexc.InvalidArgument) as exc:
        metrics.create_log_metric(parent=f"projects/{PROJECT}",
                                  metric=LogMetricMessage(name="empty", filter=" "))
    assert exc.value.message == "metric empty needs a filter"
    with pytest.raises(gexc.InvalidArgument) as exc:
        metrics.create_log_metric(parent=f"projects/{PROJECT}",
                                  metric=LogMetricMessage(name="/rooted", filter=METRIC_FILTER))
    assert "invalid metric name '/rooted'" in exc.value.message
    with pytest.raises(gexc.AlreadyExists):
        metrics.create_log_metric(parent=f"projects/{PROJECT}",
                                  metric=LogMetricMessage(name="destroy", filter=METRIC_FILTER))
