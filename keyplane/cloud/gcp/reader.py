"""The read-only GCP adapter: implements `keyplane.postapply.ports.GcpProjectReader`.

List*, Get* and GetIamPolicy only: Cloud KMS through google-cloud-kms, the project's
log-based metrics through google-cloud-logging (MetricsServiceV2) and its alert policies
through google-cloud-monitoring (AlertPolicyService). Pages are walked explicitly so a
repeated page token is caught (the generated pagers would follow it forever); every call
has the run's Retry and a per-attempt timeout. google-api-core errors become the one error
tree of cloud calls (`keyplane.cloudcall`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core.exceptions import RetryError
from google.cloud import kms_v1
from google.iam.v1 import iam_policy_pb2

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloudcall import (
    AccessDenied,
    CloudCallError,
    CredentialsExpired,
    NotFound,
    Throttled,
)
from keyplane.errors import KeyplaneError
from keyplane.postapply.ports import (
    AlertPolicy,
    CryptoKey,
    CryptoKeyVersion,
    IamBinding,
    LogMetric,
)

MAX_PAGES = 10_000


def translate(exc: Exception, operation: str) -> Exception:
    """The ports' error for a google-api-core exception."""
    if isinstance(exc, RetryError):
        cause = exc.cause if isinstance(exc.cause, Exception) else None
        if isinstance(cause, gexc.ResourceExhausted):
            return Throttled(operation, "RESOURCE_EXHAUSTED", str(cause.message)[:300])
        return CloudCallError(operation, "RETRY_EXHAUSTED", str(exc)[:300])
    if isinstance(exc, gexc.ResourceExhausted):
        return Throttled(operation, "RESOURCE_EXHAUSTED", str(exc.message)[:300])
    if isinstance(exc, gexc.PermissionDenied):
        return AccessDenied(operation, "PERMISSION_DENIED", str(exc.message)[:300])
    if isinstance(exc, gexc.Unauthenticated):
        return CredentialsExpired(operation, "UNAUTHENTICATED", str(exc.message)[:300])
    if isinstance(exc, gexc.NotFound):
        return NotFound(operation, "NOT_FOUND", str(exc.message)[:300])
    if isinstance(exc, gexc.GoogleAPIError):
        return CloudCallError(operation, type(exc).__name__, str(exc)[:300])
    return exc


def _dt(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime) and value.timestamp() > 0:
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def _seconds(value: Any) -> int | None:
    if isinstance(value, dt.timedelta):
        secs = int(value.total_seconds())
        return secs or None
    return None


def version_of(v: Any) -> CryptoKeyVersion:
    """A CryptoKeyVersion record from the proto-plus message."""
    return CryptoKeyVersion(name=v.name, state=v.state.name, algorithm=v.algorithm.name,
                            protection_level=v.protection_level.name,
                            create_time=_dt(v.create_time), destroy_time=_dt(v.destroy_time))


def crypto_key_of(k: Any) -> CryptoKey:
    """A CryptoKey record from the proto-plus message."""
    primary = version_of(k.primary) if k.primary and k.primary.name else None
    return CryptoKey(name=k.name, purpose=k.purpose.name,
                     algorithm=k.version_template.algorithm.name,
                     protection_level=k.version_template.protection_level.name,
                     labels=dict(k.labels), rotation_period_seconds=_seconds(k.rotation_period),
                     next_rotation_time=_dt(k.next_rotation_time), primary=primary,
                     create_time=_dt(k.create_time),
                     destroy_scheduled_duration_seconds=_seconds(k.destroy_scheduled_duration),
                     import_only=bool(k.import_only))


def log_metric_of(m: Any) -> LogMetric:
    """A LogMetric record from the proto-plus message."""
    return LogMetric(name=m.name, filter=m.filter, disabled=bool(m.disabled),
                     description=m.description)


# The condition kinds of a Cloud Monitoring AlertPolicy.Condition, and the field holding
# the filter or query each evaluates.
_CONDITION_TEXT = (("condition_threshold", "filter"), ("condition_absent", "filter"),
                   ("condition_matched_log", "filter"),
                   ("condition_monitoring_query_language", "query"),
                   ("condition_prometheus_query_language", "query"), ("condition_sql", "query"))


def alert_policy_of(p: Any) -> AlertPolicy:
    """An AlertPolicy record from the proto-plus message (`enabled` unset stays None: the
    API asks readers to assume nothing of a policy whose state is not populated)."""
    texts = []
    for cond in p.conditions:
        kind = next((k for k, _ in _CONDITION_TEXT if k in cond), None)
        if kind is not None:
            texts.append(str(getattr(getattr(cond, kind), dict(_CONDITION_TEXT)[kind])))
    return AlertPolicy(name=p.name, display_name=p.display_name,
                       enabled=None if p.enabled is None else bool(p.enabled),
                       notification_channels=tuple(p.notification_channels),
                       conditions=tuple(texts), user_labels=dict(p.user_labels))


def call(config: GcpConfig, operation: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """One Google API call with the run's Retry and per-attempt timeout; its failure as the
    one error tree of cloud calls."""
    try:
        return fn(**kwargs, retry=config.retry(), timeout=config.call_timeout)
    except Exception as exc:
        raise translate(exc, operation) from None


def pages(config: GcpConfig, operation: str, fn: Callable[..., Any], request: Any,
          items: str) -> Iterator[Any]:
    """The `items` of every page of a list call, walked explicitly: a repeated page token
    (which the generated pager would follow forever) or more than MAX_PAGES pages fails."""
    pager = call(config, operation, fn, request=request)
    seen: set[str] = set()
    walked = iter(pager.pages)
    for n in range(MAX_PAGES):
        try:
            page = next(walked)
        except StopIteration:
            return
        except Exception as exc:
            raise translate(exc, operation) from None
        yield from getattr(page, items)
        token = page.next_page_token
        if not token:
            return
        if token in seen:  # the generated pager would follow it forever
            raise CloudCallError(operation, "RepeatedPageToken",
                                 f"the same page token was received twice after {n + 1} pages")
        seen.add(token)
    raise CloudCallError(operation, "TooManyPages", f"more than {MAX_PAGES} pages")


class GcpReader:
    """Read-only view of one project's Cloud KMS, log-based metrics and alert policies.

    `metrics` (a MetricsServiceV2Client) and `alert_policies` (an AlertPolicyServiceClient)
    are built from `config` on their first use when not given, so a run that reads no alert
    never imports google-cloud-logging.
    """

    def __init__(self, client: Any, config: GcpConfig, *, metrics: Any = None,
                 alert_policies: Any = None, projects: Any = None) -> None:
        self._client = client
        self._config = config
        self._logging = metrics
        self._monitoring = alert_policies
        self._projects = projects
        self._lock = threading.Lock()
        self.project = config.project

    def _metrics_client(self, operation: str) -> Any:
        with self._lock:
            if self._logging is None:
                from keyplane.cloud.gcp.monitoring import build_metrics_client

                try:
                    self._logging = build_metrics_client(self._config)
                except KeyplaneError as exc:
                    raise CloudCallError(operation, "ClientSetup", exc.message) from None
            return self._logging

    def _alert_policy_client(self, operation: str) -> Any:
        with self._lock:
            if self._monitoring is None:
                from keyplane.cloud.gcp.monitoring import build_alert_policy_client

                try:
                    self._monitoring = build_alert_policy_client(self._config)
                except KeyplaneError as exc:
                    raise CloudCallError(operation, "ClientSetup", exc.message) from None
            return self._monitoring

    def _call(self, operation: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return call(self._config, operation, fn, **kwargs)

    def _pages(self, operation: str, fn: Callable[..., Any], request: Any, items: str
               ) -> Iterator[Any]:
        return pages(self._config, operation, fn, request, items)

    def check_project(self, location: str) -> None:
        """One ListKeyRings page of the project: proves the credentials reach it."""
        req = kms_v1.ListKeyRingsRequest(parent=f"projects/{self.project}/locations/{location}",
                                         page_size=1)
        self._call("ListKeyRings", self._client.list_key_rings, request=req)

    def key_rings(self, location: str) -> list[str]:
        """ListKeyRings."""
        req = kms_v1.ListKeyRingsRequest(parent=f"projects/{self.project}/locations/{location}",
                                         page_size=1000)
        return [r.name for r in self._pages("ListKeyRings", self._client.list_key_rings, req,
                                            "key_rings")]

    def crypto_keys(self, key_ring: str) -> list[CryptoKey]:
        """ListCryptoKeys."""
        req = kms_v1.ListCryptoKeysRequest(parent=key_ring, page_size=1000)
        return [crypto_key_of(k) for k in self._pages(
            "ListCryptoKeys", self._client.list_crypto_keys, req, "crypto_keys")]

    def versions(self, crypto_key: str) -> list[CryptoKeyVersion]:
        """ListCryptoKeyVersions."""
        req = kms_v1.ListCryptoKeyVersionsRequest(parent=crypto_key, page_size=1000)
        return [version_of(v) for v in self._pages(
            "ListCryptoKeyVersions", self._client.list_crypto_key_versions, req,
            "crypto_key_versions")]

    def iam_policy(self, resource: str) -> list[IamBinding]:
        """GetIamPolicy."""
        pol = self._call("GetIamPolicy", self._client.get_iam_policy,
                         request=iam_policy_pb2.GetIamPolicyRequest(resource=resource))
        return [IamBinding(role=b.role, members=tuple(b.members),
                           condition=b.condition.expression or None) for b in pol.bindings]

    def _projects_client(self, operation: str) -> Any:
        with self._lock:
            if self._projects is None:
                from keyplane.cloud.gcp.resourcemanager import build_clients

                try:
                    self._projects = build_clients(self._config.endpoint)[1]
                except KeyplaneError as exc:
                    raise CloudCallError(operation, "ClientSetup", exc.message) from None
            return self._projects

    def project_iam_policy(self) -> list[IamBinding]:
        """GetIamPolicy of the project (Resource Manager): the grants made at project level."""
        projects = self._projects_client("GetIamPolicy")
        pol = self._call("GetIamPolicy", projects.get_iam_policy,
                         request=iam_policy_pb2.GetIamPolicyRequest(
                             resource=f"projects/{self.project}"))
        return [IamBinding(role=b.role, members=tuple(b.members),
                           condition=b.condition.expression or None) for b in pol.bindings]

    def log_metrics(self) -> list[LogMetric]:
        """ListLogMetrics of the project."""
        from google.cloud.logging_v2.types import ListLogMetricsRequest

        req = ListLogMetricsRequest(parent=f"projects/{self.project}", page_size=1000)
        logging = self._metrics_client("ListLogMetrics")
        return [log_metric_of(m) for m in self._pages(
            "ListLogMetrics", logging.list_log_metrics, req, "metrics")]

    def alert_policies(self) -> list[AlertPolicy]:
        """ListAlertPolicies of the project."""
        from google.cloud.monitoring_v3 import ListAlertPoliciesRequest

        req = ListAlertPoliciesRequest(name=f"projects/{self.project}", page_size=1000)
        monitoring = self._alert_policy_client("ListAlertPolicies")
        return [alert_policy_of(p) for p in self._pages(
            "ListAlertPolicies", monitoring.list_alert_policies, req, "alert_policies")]
