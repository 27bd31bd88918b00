"""Several stacks in one cdktf.out reuse Terraform addresses; each is judged on its own."""

from __future__ import annotations

import json
from pathlib import Path

from keyplane.policy.api import check
from tests.policy.policy_support import AS_OF

ACCOUNT = "210987654321"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def _policy(window: int, extra: list[dict[str, object]] | None = None) -> str:
    admin = f"arn:aws:iam::{ACCOUNT}:role/keyplane-x-key-admin"
    statements = [
        {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": admin},
         "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
        {"Sid": "DenyShortDeletionWindow", "Effect": "Deny", "Principal": {"AWS": ROOT},
         "Action": ["kms:ScheduleKeyDeletion"], "Resource": "*",
         "Condition": {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays":
                                           str(window)}}},
        *(extra or []),
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _stack(out: Path, name: str, tier: str, policy: str, tags: dict[str, str] | None = None
           ) -> None:
    doc = {"resource": {"aws_kms_key": {"audit_key": {
        "policy": policy, "deletion_window_in_days": 30, "enable_key_rotation": True,
        "tags": {"keyplane:env": name, "keyplane:tier": tier, **(tags or {})},
        "//": {"metadata": {"path": f"{name}/aws/audit/key"}}}}}}
    path = out / "stacks" / name / "cdk.tf.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))


def _status(report, rule_id: str) -> dict[str, str]:
    return {f.source.split("/stacks/")[1].split("/")[0]: f.status.value
            for f in report.findings if f.rule_id == rule_id}


def test_same_address_in_two_stacks_is_judged_per_stack(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    # read in this order, a cache keyed by address alone would judge prod by dev's policy
    _stack(out, "dev", "production", _policy(30))
    _stack(out, "prod", "production", _policy(7))
    report = check([out], on=AS_OF)
    assert _status(report, "aws_kms_key_policy_deletion_window_floor") == {
        "dev": "PASS", "prod": "FAIL"}


def test_cross_account_principal_passes_only_when_declared(tmp_path: Path) -> None:
    copy = {"Sid": "CrossAccountCopy", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::987654321098:root"},
            "Action": ["kms:Decrypt"], "Resource": "*"}
    out = tmp_path / "cdktf.out"
    _stack(out, "prod", "production", _policy(30, [copy]),
           {"keyplane:declared-accounts": "987654321098"})
    _stack(out, "staging", "production", _policy(30, [copy]))
    report = check([out], on=AS_OF)
    assert _status(report, "aws_kms_key_policy_grants_declared") == {
        "prod": "PASS", "staging": "FAIL"}
