"""In-process fakes of Cloud Logging's log-based metrics and Cloud Monitoring's alert policies.

Served over gRPC on the same local server as the Cloud KMS fake (`gcp_fake.GcpEndpoint`
registers `monitoring_handlers`), so the real google-cloud-logging (MetricsServiceV2) and
google-cloud-monitoring (AlertPolicyService) clients talk to them over the same insecure
channel, with the KMS fake's hosted projects, fault rules (by method name, e.g.
`ListAlertPolicies`) and latency.

They keep metrics and policies in memory and behave like the services where keyplane's
checks and the sandbox writer depend on it: a metric needs a valid id and a filter and is
created or replaced by UpdateLogMetric; a policy gets its resource name
(`projects/P/alertPolicies/ID`) and condition names on create, is enabled unless it says
otherwise, needs one to six conditions each of one kind, a threshold or absence filter must
restrict `resource.type`, several conditions need a combiner, notification channels must be
channel resource names of the project (channels themselves are not kept); UpdateAlertPolicy
honours its field mask; lists are paginated; a project the sandbox does not host answers
PERMISSION_DENIED.

A test bed and a playground, not Cloud Logging or Cloud Monitoring.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from collections.abc import Callable
from typing import Any

import grpc
from google.cloud import monitoring_v3
from google.cloud.logging_v2.types import logging_metrics as lm
from google.protobuf import empty_pb2

METRICS_SERVICE = "google.logging.v2.MetricsServiceV2"
ALERT_POLICY_SERVICE = "google.monitoring.v3.AlertPolicyService"

# Cloud Logging: "limited to 100 characters and can include only A-Z, a-z, 0-9 and
# _-.,+!*',()%/; a forward slash cannot be the first character".
_METRIC_ID = re.compile(r"^[A-Za-z0-9_\-.,+!*'()%][A-Za-z0-9_\-.,+!*'()%/]{0,99}$")
_CHANNEL = re.compile(r"^projects/([^/]+)/notificationChannels/[^/]+$")
_CONDITION_KINDS = ("condition_threshold", "condition_absent", "condition_matched_log",
                    "condition_monitoring_query_language",
                    "condition_prometheus_query_language", "condition_sql")
MAX_CONDITIONS = 6


class MonitoringAbort(Exception):
    """A gRPC status the fake answers with (the endpoint turns it into the call's error)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _page(items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
    start = int(token) if token.isdigit() else 0
    size = size if 0 < size <= 1000 else 100
    nxt = start + size
    return items[start:nxt], (str(nxt) if nxt < len(items) else "")


class CloudMonitoringFake:
    """The state and the methods of the log-based metrics and alert-policy fakes.

    `projects` is the hosted-project set of the Cloud KMS fake (the same object: empty
    means every project is hosted).
    """

    def __init__(self, *, projects: set[str]) -> None:
        self.projects = projects
        self._lock = threading.RLock()
        self._metrics: dict[str, lm.LogMetric] = {}  # projects/P/metrics/NAME -> metric
        self._policies: dict[str, monitoring_v3.AlertPolicy] = {}  # resource name -> policy
        self._ids = itertools.count(1)

    # --- helpers ----------------------------------------------------------------------------

    def _project(self, name: str) -> str:
        """The project of `projects/P[/...]`; PERMISSION_DENIED when the sandbox does not host it."""
        parts = name.split("/")
        if len(parts) < 2 or parts[0] != "projects" or not parts[1]:
            raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"invalid resource name {name!r}")
        if self.projects and parts[1] not in self.projects:
            raise MonitoringAbort(grpc.StatusCode.PERMISSION_DENIED,
                                  f"permission denied on resource project {parts[1]}")
        return parts[1]

    @staticmethod
    def _now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    # --- MetricsServiceV2 ---------------------------------------------------------------------

    def _valid_metric(self, metric: lm.LogMetric) -> None:
        if not _METRIC_ID.fullmatch(metric.name):
            raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"invalid metric name {metric.name!r}: up to 100 characters "
                                  "of A-Z, a-z, 0-9 and _-.,+!*',()%/, not starting with /")
        if not metric.filter.strip():
            raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"metric {metric.name} needs a filter")

    def ListLogMetrics(self, req: lm.ListLogMetricsRequest, repeat: bool) -> Any:
        self._project(req.parent)
        with self._lock:
            items = [m for n, m in sorted(self._metrics.items())
                     if n.startswith(f"{req.parent}/metrics/")]
        page, nxt = _page(items, req.page_token, req.page_size)
        return lm.ListLogMetricsResponse(metrics=page, next_page_token="1" if repeat else nxt)

    def GetLogMetric(self, req: lm.GetLogMetricRequest, repeat: bool) -> Any:
        self._project(req.metric_name)
        with self._lock:
            metric = self._metrics.get(req.metric_name)
        if metric is None:
            raise MonitoringAbort(grpc.StatusCode.NOT_FOUND, f"metric {req.metric_name} not found")
        return metric

    def CreateLogMetric(self, req: lm.CreateLogMetricRequest, repeat: bool) -> Any:
        self._project(req.parent)
        metric = lm.LogMetric(req.metric)
        self._valid_metric(metric)
        key = f"{req.parent}/metrics/{metric.name}"
        with self._lock:
            if key in self._metrics:
                raise MonitoringAbort(grpc.StatusCode.ALREADY_EXISTS,
                                      f"metric {metric.name} already exists")
            metric.create_time = metric.update_time = self._now()
            self._metrics[key] = metric
            return metric

    def UpdateLogMetric(self, req: lm.UpdateLogMetricRequest, repeat: bool) -> Any:
        """Replaces the metric, or creates it (as Cloud Logging does)."""
        project = self._project(req.metric_name)
        metric = lm.LogMetric(req.metric)
        if not metric.name:
            metric.name = req.metric_name.split("/metrics/", 1)[-1]
        self._valid_metric(metric)
        key = f"projects/{project}/metrics/{metric.name}"
        if key != req.metric_name:
            raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"metric name {metric.name} does not match {req.metric_name}")
        with self._lock:
            old = self._metrics.get(key)
            metric.create_time = old.create_time if old is not None else self._now()
            metric.update_time = self._now()
            self._metrics[key] = metric
            return metric

    def DeleteLogMetric(self, req: lm.DeleteLogMetricRequest, repeat: bool) -> Any:
        self._project(req.metric_name)
        with self._lock:
            if self._metrics.pop(req.metric_name, None) is None:
                raise MonitoringAbort(grpc.StatusCode.NOT_FOUND,
                                      f"metric {req.metric_name} not found")
        return empty_pb2.Empty()

    # --- AlertPolicyService -------------------------------------------------------------------

    def _valid_policy(self, project: str, policy: monitoring_v3.AlertPolicy) -> None:
        conditions = list(policy.conditions)
        if not 1 <= len(conditions) <= MAX_CONDITIONS:
            raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"an alert policy needs 1 to {MAX_CONDITIONS} conditions, got "
                                  f"{len(conditions)}")
        for i, cond in enumerate(conditions):
            kinds = [k for k in _CONDITION_KINDS if k in cond]
            if len(kinds) != 1:
                raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                      f"conditions[{i}] must set exactly one condition type, got "
                                      f"{', '.join(kinds) or 'none'}")
            if kinds[0] in ("condition_threshold", "condition_absent"):
                text = getattr(cond, kinds[0]).filter
                if "resource.type" not in text:
                    raise MonitoringAbort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"Field alert_policy.conditions[{i}].{kinds[0]}.filter had an invalid "
                        f'value of "{text}": must specify a restriction on "resource.type" in '
                        "the filter")
        unspecified = monitoring_v3.AlertPolicy.ConditionCombinerType.COMBINE_UNSPECIFIED
        if len(conditions) > 1 and policy.combiner == unspecified:
            raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                  "a policy with more than one condition needs a combiner")
        for channel in policy.notification_channels:
            m = _CHANNEL.fullmatch(channel)
            if m is None or m.group(1) != project:
                raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                      f"invalid notification channel {channel!r}: must be "
                                      f"projects/{project}/notificationChannels/<id>")

    def ListAlertPolicies(self, req: monitoring_v3.ListAlertPoliciesRequest, repeat: bool) -> Any:
        self._project(req.name)
        if req.filter or req.order_by:
            raise MonitoringAbort(grpc.StatusCode.UNIMPLEMENTED,
                                  "the keyplane sandbox does not evaluate filter or order_by")
        with self._lock:
            items = [p for n, p in sorted(self._policies.items())
                     if n.startswith(f"{req.name}/alertPolicies/")]
        page, nxt = _page(items, req.page_token, req.page_size)
        return monitoring_v3.ListAlertPoliciesResponse(
            alert_policies=page, next_page_token="1" if repeat else nxt, total_size=len(items))

    def GetAlertPolicy(self, req: monitoring_v3.GetAlertPolicyRequest, repeat: bool) -> Any:
        self._project(req.name)
        with self._lock:
            policy = self._policies.get(req.name)
        if policy is None:
            raise MonitoringAbort(grpc.StatusCode.NOT_FOUND, f"{req.name} not found")
        return policy

    def CreateAlertPolicy(self, req: monitoring_v3.CreateAlertPolicyRequest, repeat: bool) -> Any:
        project = self._project(req.name)
        policy = monitoring_v3.AlertPolicy(req.alert_policy)
        self._valid_policy(project, policy)
        with self._lock:
            policy.name = f"projects/{project}/alertPolicies/{10**18 + next(self._ids)}"
            for cond in policy.conditions:
                cond.name = f"{policy.name}/conditions/{10**18 + next(self._ids)}"
            if policy.enabled is None:  # "on write, unset means enabled"
                policy.enabled = True
            policy.creation_record = policy.mutation_record = monitoring_v3.MutationRecord(
                mutate_time=self._now())
            self._policies[policy.name] = policy
            return policy

    def UpdateAlertPolicy(self, req: monitoring_v3.UpdateAlertPolicyRequest, repeat: bool) -> Any:
        name = req.alert_policy.name
        project = self._project(name)
        with self._lock:
            old = self._policies.get(name)
            if old is None:
                raise MonitoringAbort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
            paths = list(req.update_mask.paths)
            if paths:
                updated = monitoring_v3.AlertPolicy(old)
                for path in paths:
                    if path not in monitoring_v3.AlertPolicy.pb().DESCRIPTOR.fields_by_name or \
                            path in ("name", "creation_record", "mutation_record"):
                        raise MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT,
                                              f"cannot update {path}")
                    setattr(updated, path, getattr(req.alert_policy, path))
            else:  # no mask: the given policy replaces the stored one
                updated = monitoring_v3.AlertPolicy(req.alert_policy)
            self._valid_policy(project, updated)
            updated.name = name
            updated.creation_record = old.creation_record
            updated.mutation_record = monitoring_v3.MutationRecord(mutate_time=self._now())
            if updated.enabled is None:
                updated.enabled = True
            self._policies[name] = updated
            return updated

    def DeleteAlertPolicy(self, req: monitoring_v3.DeleteAlertPolicyRequest, repeat: bool) -> Any:
        self._project(req.name)
        with self._lock:
            if self._policies.pop(req.name, None) is None:
                raise MonitoringAbort(grpc.StatusCode.NOT_FOUND, f"{req.name} not found")
        return empty_pb2.Empty()


def _empty(message: Any) -> bytes:
    return bytes(message.SerializeToString())


_METRICS_METHODS: dict[str, tuple[Any, Callable[[Any], bytes]]] = {
    "ListLogMetrics": (lm.ListLogMetricsRequest, lm.ListLogMetricsResponse.serialize),
    "GetLogMetric": (lm.GetLogMetricRequest, lm.LogMetric.serialize),
    "CreateLogMetric": (lm.CreateLogMetricRequest, lm.LogMetric.serialize),
    "UpdateLogMetric": (lm.UpdateLogMetricRequest, lm.LogMetric.serialize),
    "DeleteLogMetric": (lm.DeleteLogMetricRequest, _empty),
}
_POLICY_METHODS: dict[str, tuple[Any, Callable[[Any], bytes]]] = {
    "ListAlertPolicies": (monitoring_v3.ListAlertPoliciesRequest,
                          monitoring_v3.ListAlertPoliciesResponse.serialize),
    "GetAlertPolicy": (monitoring_v3.GetAlertPolicyRequest, monitoring_v3.AlertPolicy.serialize),
    "CreateAlertPolicy": (monitoring_v3.CreateAlertPolicyRequest,
                          monitoring_v3.AlertPolicy.serialize),
    "UpdateAlertPolicy": (monitoring_v3.UpdateAlertPolicyRequest,
                          monitoring_v3.AlertPolicy.serialize),
    "DeleteAlertPolicy": (monitoring_v3.DeleteAlertPolicyRequest, _empty),
}


def monitoring_handlers(wrap: Callable[[str], Any]) -> tuple[grpc.GenericRpcHandler, ...]:
    """The gRPC handlers of both services; `wrap(method)` gives the endpoint's handler for a
    method of the fake (latency, fault rules, status codes)."""
    def table(methods: dict[str, tuple[Any, Callable[[Any], bytes]]]
              ) -> dict[str, grpc.RpcMethodHandler]:
        return {m: grpc.unary_unary_rpc_method_handler(
            wrap(m), request_deserializer=req.deserialize, response_serializer=ser)
            for m, (req, ser) in methods.items()}
    return (grpc.method_handlers_generic_handler(METRICS_SERVICE, table(_METRICS_METHODS)),
            grpc.method_handlers_generic_handler(ALERT_POLICY_SERVICE, table(_POLICY_METHODS)))
