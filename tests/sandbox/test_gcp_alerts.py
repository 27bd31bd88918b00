"""GCP alerts in the sandbox, end to end through the CLI.

`sandbox apply`'s writer creates the GCP stack's log-based metrics and alert policies through
google-cloud-logging and google-cloud-monitoring, next to its Cloud KMS keys; post-apply reads
them back through the same clients and judges a fresh environment CLEAN. Deleting, muting or
disabling an alert is found by `drift.gcp_alert_missing` / `drift.gcp_alert_disabled`, and a
denied list leaves the run INCOMPLETE (exit 3), never CLEAN.

Each test works on its own copy of the example prod environment (a new project) and reads
its GCP stack only (`--cloud gcp`), as the GCP job of a CI matrix does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import monitoring_v3
from google.cloud.logging_v2.types import LogMetric
from google.protobuf import field_mask_pb2

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.monitoring import build_alert_policy_client, build_metrics_client
from keyplane.commands.post_apply import one_cloud
from keyplane.model import load_estate
from keyplane.postapply.expected import ExpectedState, expected_state
from keyplane.postapply.stack import load_environment_stacks
from keyplane.sandbox.apply import apply_state
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import new_ids, prod_copy, run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def _state(envs: Path) -> ExpectedState:
    env = one_cloud(load_estate([envs / "prod.yaml"]).get("prod"), "gcp")
    return expected_state(env, load_environment_stacks(env, envs.parent / "cdktf.out"))


def applied_env(sb: Sandbox, tmp: Path) -> tuple[Path, str, str]:
    """A fresh prod copy whose GCP stack `sandbox apply`'s writer created; (environments dir,
    account, project)."""
    account, project = new_ids()
    envs = prod_copy(tmp, account, project)
    apply_state(_state(envs), aws_endpoint=None, gcp_endpoint=sb.gcp.target)
    return envs, account, project


def _clients(sb: Sandbox, project: str) -> tuple[Any, Any]:
    config = GcpConfig(project=project, endpoint=sb.gcp.target)
    return build_metrics_client(config), build_alert_policy_client(config)


def _drift(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path) -> tuple[int, dict]:
    code, out, err = run_cli(capsys, "drift", "prod", "-d", str(envs), "--format", "json",
                             "--cloud", "gcp", "--gcp-endpoint", sb.gcp.target)
    assert "Traceback" not in err
    return code, json.loads(out)


def _alert_findings(report: dict) -> set[tuple[str, str]]:
    return {(f["check"], f["resource"]) for f in report["findings"]
            if f["check"].startswith("drift.gcp_alert_")}


def test_apply_creates_every_declared_alert_and_post_apply_is_clean(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, project = applied_env(sb, tmp_path)
    state = _state(envs)
    metrics, policies = _clients(sb, project)
    assert len(state.gcp_alerts) == 7  # the prod stack's, with the copy's project
    assert {m.name for m in metrics.list_log_metrics(parent=f"projects/{project}")} == {
        m.name for a in state.gcp_alerts for m in a.metrics}
    listed = list(policies.list_alert_policies(name=f"projects/{project}"))
    assert sorted(p.display_name for p in listed) == sorted(a.display_name
                                                            for a in state.gcp_alerts)
    assert all(p.enabled and p.user_labels["keyplane-env"] == "prod" for p in listed)
    code, out, err = run_cli(capsys, "post-apply", "prod", "-d", str(envs), "--format", "json",
                             "--cloud", "gcp", "--gcp-endpoint", sb.gcp.target)
    report = json.loads(out)
    assert (code, report["outcome"], report["findings"], report["unknowns"]) == (
        0, "clean", [], []), err
    # a second apply creates nothing twice
    again = apply_state(state, aws_endpoint=None, gcp_endpoint=sb.gcp.target)
    assert again.gcp == []
    assert len(list(policies.list_alert_policies(name=f"projects/{project}"))) == 7


def test_deleted_muted_or_disabled_alerts_are_found(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, project = applied_env(sb, tmp_path)
    metrics, policies = _clients(sb, project)
    by_display = {p.display_name: p for p in policies.list_alert_policies(
        name=f"projects/{project}")}
    policies.delete_alert_policy(
        name=by_display["keyplane prod: crypto key version scheduled for destruction"].name)
    policies.update_alert_policy(
        alert_policy=monitoring_v3.AlertPolicy(
            name=by_display["keyplane prod: a log sink was deleted or changed"].name,
            enabled=False),
        update_mask=field_mask_pb2.FieldMask(paths=["enabled"]))
    metric = f"projects/{project}/metrics/keyplane-prod-kms-set-iam-policy"
    metrics.update_log_metric(metric_name=metric, metric=LogMetric(
        name="keyplane-prod-kms-set-iam-policy", filter='protoPayload.methodName="nothing"'))
    rotation = f"projects/{project}/metrics/keyplane-prod-primary-or-rotation-changed"
    kept = metrics.get_log_metric(metric_name=rotation)
    metrics.update_log_metric(metric_name=rotation, metric=LogMetric(
        name=kept.name, filter=kept.filter, disabled=True))

    code, report = _drift(capsys, sb, envs)
    base = f"projects/{project}/metrics/keyplane-prod-"
    assert (code, report["outcome"]) == (1, "findings")
    assert _alert_findings(report) == {
        ("drift.gcp_alert_missing", f"{base}destroy-crypto-key-version"),
        ("drift.gcp_alert_missing", f"{base}kms-set-iam-policy"),
        ("drift.gcp_alert_disabled", f"{base}audit-sink-changed"),
        ("drift.gcp_alert_disabled", f"{base}primary-or-rotation-changed")}
    reasons = {f["resource"]: f["reason"] for f in report["findings"]
               if f["check"] == "drift.gcp_alert_missing"}
    assert reasons == {
        f"{base}destroy-crypto-key-version": "alert policy 'keyplane prod: crypto key version "
                                             "scheduled for destruction' does not exist",
        f"{base}kms-set-iam-policy": f"the filter of log-based metric {base}kms-set-iam-policy "
                                     "changed"}


def test_denied_alert_policies_are_unknown_never_clean(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, project = applied_env(sb, tmp_path)
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="ListAlertPolicies",
                                      match=f"projects/{project}")]
    try:
        code, report = _drift(capsys, sb, envs)
    finally:
        sb.kms_fake.rules = []
    assert (code, report["outcome"], report["findings"]) == (3, "incomplete", [])
    unknown = {(u["check"], u["resource"], u["reason"]) for u in report["unknowns"]}
    where = f"gcp:projects/{project}:alert-policies"
    assert unknown == {
        ("drift.gcp_alert_missing", where, "ListAlertPolicies denied (PERMISSION_DENIED)"),
        ("drift.gcp_alert_disabled", where, "ListAlertPolicies denied (PERMISSION_DENIED)")}
