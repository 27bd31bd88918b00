"""GCP alerts: the expected state the checks compare against, and how the collector reads them.

The subjects `drift.gcp_alert_missing` / `drift.gcp_alert_disabled` report are in their
fixtures (tests/postapply/fixtures/checks/); these tests pin what the synthesized stack
declares (read through the gate's reader) and that a denied list is recorded as a failed
read of the GCP alerts facet, never as an empty project.
"""

from __future__ import annotations

from pathlib import Path

from keyplane.model import load_estate
from keyplane.postapply.collect import Collector, Facet
from keyplane.postapply.expected import ExpectedLogMetric, ExpectedState, expected_state
from keyplane.postapply.ports import (
    AccessDenied,
    AlertPolicy,
    CryptoKey,
    CryptoKeyVersion,
    IamBinding,
    LogMetric,
)
from keyplane.postapply.rules.drift.gcp_alert_missing import filter_matches
from keyplane.postapply.stack import load_environment_stacks
from tests.conftest import EXAMPLE_ENVIRONMENTS, Synthesized

PROJECT = "acme-pki-prod"


def _state(name: str, synth: Path) -> ExpectedState:
    env = load_estate([EXAMPLE_ENVIRONMENTS / f"{name}.yaml"]).get(name)
    return expected_state(env, load_environment_stacks(env, synth))


def test_expected_gcp_alerts_come_from_the_synthesized_stack(
        synthesized_estate: Synthesized) -> None:
    assert synthesized_estate.exit_code == 0, synthesized_estate.stderr[-2000:]
    state = _state("prod", Path(synthesized_estate.out))
    alerts = {a.display_name: a for a in state.gcp_alerts}
    assert len(alerts) == 7
    destroy = alerts["keyplane prod: crypto key version scheduled for destruction"]
    (metric,) = destroy.metrics
    assert (metric.name, metric.project, metric.filter) == (
        "keyplane-prod-destroy-crypto-key-version", PROJECT,
        'protoPayload.serviceName="cloudkms.googleapis.com" AND '
        'protoPayload.methodName="DestroyCryptoKeyVersion"')
    assert destroy.reads == ("logging.googleapis.com/user/keyplane-prod-destroy-crypto-key-version",)
    assert (destroy.project, destroy.combiner, destroy.enabled, destroy.notification_channels,
            destroy.user_labels) == (PROJECT, "OR", True, (), {"keyplane-env": "prod"})
    assert [c.kind for c in destroy.conditions] == ["condition_threshold"]
    assert destroy.address is not None and destroy.address.startswith(
        "google_monitoring_alert_policy.")
    assert destroy.resource == f"projects/{PROJECT}/metrics/keyplane-prod-destroy-crypto-key-version"
    # the sign-volume anomaly is PromQL: paired with its metric through the PromQL name
    volume = alerts["keyplane prod: sign volume anomaly on mesh-mtls-issuer"]
    assert [m.name for m in volume.metrics] == ["keyplane-prod-mesh-mtls-issuer-sign-volume"]
    assert volume.reads == ("logging_googleapis_com:user_keyplane_prod_mesh_mtls_issuer_sign_volume",)
    assert [c.kind for c in volume.conditions] == ["condition_prometheus_query_language"]
    assert _state("dev", Path(synthesized_estate.out)).gcp_alerts == ()


def test_a_metric_is_named_by_its_type_and_its_promql_name() -> None:
    metric = ExpectedLogMetric(name="keyplane-prod.a/b", project=PROJECT, filter="x")
    assert metric.references == {"logging.googleapis.com/user/keyplane-prod.a/b",
                                 "logging_googleapis_com:user_keyplane_prod_a_b"}
    assert metric.resource_name == f"projects/{PROJECT}/metrics/keyplane-prod.a/b"


def test_filters_compare_whitespace_aside_and_unresolved_values_as_any() -> None:
    assert filter_matches('a="1" AND b="2"', 'a="1"\n  AND   b="2"')
    assert not filter_matches('a="1" AND b="2"', 'a="1" OR b="2"')
    assert filter_matches('resourceName:"projects/${?}/keys"', 'resourceName:"projects/p/keys"')


class _Reader:
    """A GcpProjectReader with no keys whose alert-policy list is denied."""

    project = PROJECT

    def __init__(self) -> None:
        self.calls: list[str] = []

    def check_project(self, location: str) -> None:
        self.calls.append("check_project")

    def key_rings(self, location: str) -> list[str]:
        self.calls.append("key_rings")
        return []

    def crypto_keys(self, key_ring: str) -> list[CryptoKey]:
        raise AssertionError("no key ring was listed")

    def versions(self, crypto_key: str) -> list[CryptoKeyVersion]:
        raise AssertionError("no key was listed")

    def iam_policy(self, resource: str) -> list[IamBinding]:
        raise AssertionError("no key was listed")

    def log_metrics(self) -> list[LogMetric]:
        self.calls.append("log_metrics")
        return [LogMetric(name="keyplane-prod-destroy-crypto-key-version", filter="x")]

    def alert_policies(self) -> list[AlertPolicy]:
        self.calls.append("alert_policies")
        raise AccessDenied("ListAlertPolicies", "PERMISSION_DENIED", "denied")


def test_a_denied_policy_list_is_a_failed_read_of_the_gcp_alerts_facet(
        synthesized_estate: Synthesized) -> None:
    state = _state("prod", Path(synthesized_estate.out))
    reader = _Reader()
    observed = Collector(state=state, aws=None, gcp=reader, needs={Facet.GCP_ALERTS}).run()
    assert [m.name for m in observed.gcp_log_metrics or []] == [
        "keyplane-prod-destroy-crypto-key-version"]
    assert observed.gcp_alert_policies is None  # not read: never an empty project
    assert [(u.resource, u.reason, u.facet) for u in observed.unknowns] == [
        (f"gcp:projects/{PROJECT}:alert-policies", "ListAlertPolicies denied (PERMISSION_DENIED)",
         "gcp-alerts")]


def test_alerts_are_read_only_when_a_check_needs_them_and_the_stack_declares_them(
        synthesized_estate: Synthesized) -> None:
    reader = _Reader()
    Collector(state=_state("prod", Path(synthesized_estate.out)), aws=None, gcp=reader,
              needs={Facet.TAGS}).run()
    Collector(state=_state("dev", Path(synthesized_estate.out)), aws=None, gcp=reader,
              needs={Facet.GCP_ALERTS}).run()
    assert "log_metrics" not in reader.calls and "alert_policies" not in reader.calls
    assert "key_rings" in reader.calls
