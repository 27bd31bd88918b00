"""Creating an environment's GCP stack in the local sandbox: Cloud KMS keys through
google-cloud-kms, log-based metrics through google-cloud-logging and the alert policies on
them through google-cloud-monitoring, each from the synthesized stack's expected state.

Used by `keyplane sandbox apply` only, against the sandbox's local endpoint; the
post-apply jobs never import it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import kms_v1
from google.iam.v1 import iam_policy_pb2, policy_pb2

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.policy.policydoc import UNRESOLVED
from keyplane.postapply.errors import SANDBOX_FAILED, HookSetupError
from keyplane.postapply.expected import GCP_ADMIN_ROLE, ExpectedGcpAlert, ExpectedState

# The duration fields of alert-policy condition blocks (Terraform writes them as "60s").
_DURATION_FIELDS = frozenset({"duration", "alignment_period", "evaluation_interval",
                              "auto_close", "forecast_horizon"})
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _proto_block(value: Any, key: str = "") -> Any:
    """A condition block as the stack states it, in the shape the proto-plus message takes
    (durations as timedelta)."""
    if isinstance(value, dict):
        return {k: _proto_block(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_proto_block(v, key) for v in value]
    if key in _DURATION_FIELDS and isinstance(value, str) and (m := _SECONDS.match(value)):
        return dt.timedelta(seconds=float(m.group(1)))
    return value


class GcpSandboxWriter:
    """Creates key rings, crypto keys (with versions per generation), IAM bindings, and the
    log-based metrics and alert policies of the environment's alerts.

    `metrics` and `alert_policies` (the Cloud Logging and Cloud Monitoring clients) are built
    for the same local endpoint when not given.
    """

    def __init__(self, client: Any, config: GcpConfig, *, metrics: Any = None,
                 alert_policies: Any = None) -> None:
        if not config.endpoint:
            raise HookSetupError("sandbox apply writes only to the local sandbox's cloud kms "
                                 "endpoint, got none", code=SANDBOX_FAILED)
        self._client = client
        self._config = config
        self._metrics = metrics
        self._policies = alert_policies

    def _kw(self) -> dict[str, Any]:
        return {"retry": self._config.retry(), "timeout": self._config.call_timeout}

    def apply(self, state: ExpectedState) -> list[str]:
        """Create every expected crypto key that does not exist yet; what was created."""
        created: list[str] = []
        env = state.env
        admins = set(env.principals.key_admins.gcp)
        for exp in state.gcp_keys:
            parent = f"projects/{exp.project}/locations/{exp.location}"
            try:
                self._client.create_key_ring(request={"parent": parent,
                                                      "key_ring_id": exp.key_ring}, **self._kw())
                created.append(f"key ring {exp.key_ring_name}")
                if admins:
                    self._bind(exp.key_ring_name, {GCP_ADMIN_ROLE: admins})
            except gexc.AlreadyExists:
                pass
            key = kms_v1.CryptoKey(
                purpose=kms_v1.CryptoKey.CryptoKeyPurpose[exp.purpose],
                version_template=kms_v1.CryptoKeyVersionTemplate(
                    algorithm=kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm[exp.algorithm],
                    protection_level=kms_v1.ProtectionLevel[exp.protection_level]),
                labels=exp.labels)
            if exp.rotation_period_seconds:
                key.rotation_period = dt.timedelta(seconds=exp.rotation_period_seconds)
                key.next_rotation_time = (dt.datetime.now(dt.UTC)
                                          + dt.timedelta(seconds=exp.rotation_period_seconds))
            try:
                self._client.create_crypto_key(request={
                    "parent": exp.key_ring_name, "crypto_key_id": exp.key.name,
                    "crypto_key": key}, **self._kw())
            except gexc.AlreadyExists:
                continue
            created.append(f"crypto key {exp.name}")
            # one version per further live generation (the first exists already)
            live = [g for g in exp.key.generations if g.enabled or g.generation
                    == exp.key.generation]
            for _ in range(max(0, len(live) - 1)):
                self._client.create_crypto_key_version(
                    request={"parent": exp.name, "crypto_key_version": {}}, **self._kw())
            if exp.members:
                self._bind(exp.name, {r: set(m) for r, m in exp.members.items()})
        if state.gcp_alerts:
            created += self._alerts(state.gcp_alerts)
        return created

    def _alerts(self, alerts: tuple[ExpectedGcpAlert, ...]) -> list[str]:
        """Every declared log-based metric and alert policy not there yet; what was created."""
        from google.cloud import monitoring_v3
        from google.cloud.logging_v2.types import LogMetric

        from keyplane.cloud.gcp.monitoring import build_alert_policy_client, build_metrics_client

        if self._metrics is None:
            self._metrics = build_metrics_client(self._config)
        if self._policies is None:
            self._policies = build_alert_policy_client(self._config)
        created: list[str] = []
        projects = sorted({a.project for a in alerts})
        metrics = {f"projects/{p}/metrics/{m.name}" for p in projects
                   for m in self._metrics.list_log_metrics(parent=f"projects/{p}", **self._kw())}
        policies = {(p, pol.display_name) for p in projects
                    for pol in self._policies.list_alert_policies(name=f"projects/{p}",
                                                                  **self._kw())}
        for alert in alerts:
            for m in alert.metrics:
                if m.resource_name in metrics:
                    continue
                self._metrics.create_log_metric(
                    parent=f"projects/{m.project}",
                    metric=LogMetric(name=m.name, filter=m.filter, description=m.description),
                    **self._kw())
                metrics.add(m.resource_name)
                created.append(f"log-based metric {m.resource_name}")
            if (alert.project, alert.display_name) in policies:
                continue
            try:
                policy = monitoring_v3.AlertPolicy(
                    display_name=alert.display_name, combiner=alert.combiner,
                    conditions=[monitoring_v3.AlertPolicy.Condition(
                        display_name=c.display_name, **{c.kind: _proto_block(c.spec)})
                        for c in alert.conditions],
                    notification_channels=[c for c in alert.notification_channels
                                           if UNRESOLVED not in c],
                    enabled=alert.enabled, user_labels=alert.user_labels)
            except (ValueError, TypeError, KeyError) as exc:
                raise HookSetupError(f"alert policy '{alert.display_name}' of the stack cannot be "
                                     f"created in the sandbox: {exc}", code=SANDBOX_FAILED) from None
            made = self._policies.create_alert_policy(name=f"projects/{alert.project}",
                                                      alert_policy=policy, **self._kw())
            policies.add((alert.project, alert.display_name))
            created.append(f"alert policy {made.name} ({alert.display_name})")
        return created

    def _bind(self, resource: str, roles: dict[str, set[str]]) -> None:
        pol = policy_pb2.Policy(version=1, bindings=[
            policy_pb2.Binding(role=r, members=sorted(m)) for r, m in sorted(roles.items())])
        self._client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=pol),
            **self._kw())
