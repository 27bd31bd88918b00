"""A key without keyplane's tier is judged by the full rule set as production.

A third-party plan's KMS key carries no keyplane tags. Judging it only by "no tier" let one
waiver of that finding pass a key with rotation off and a 7-day deletion window.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from keyplane.policy.api import check
from keyplane.policy.model import Status

AS_OF = dt.date(2026, 11, 29)
POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "Everything", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*",
    "Resource": "*"}]}


def _stack(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps({"resource": {"aws_kms_key": {"third_party": {
        "enable_key_rotation": False, "deletion_window_in_days": 7,
        "policy": json.dumps(POLICY)}}}}))
    return path


def _waivers(tmp_path: Path) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text("- rule: inventory_tier_context_present\n"
                    "  resource: aws_kms_key.third_party\n  owner: platform@acme.example\n"
                    "  reason: not ours\n  expires: 2027-01-31\n")
    return path


def test_an_untagged_key_gets_every_key_rule_as_production(tmp_path: Path) -> None:
    report = check([_stack(tmp_path)], on=AS_OF)
    failing = {f.rule_id for f in report.findings if f.status is Status.FAIL}
    assert {"inventory_tier_context_present", "aws_kms_key_rotation_enabled",
            "aws_kms_key_deletion_window", "aws_kms_key_policy_no_public_principal",
            "aws_kms_key_policy_no_wildcard_actions"} <= failing
    rotation = next(f for f in report.findings if f.rule_id == "aws_kms_key_rotation_enabled")
    assert rotation.tier is not None and rotation.tier.value == "production"
    assert rotation.reason.endswith("(no keyplane tier: judged as production)")
    assert rotation.gate is True


def test_waiving_the_missing_tier_hides_nothing_else(tmp_path: Path) -> None:
    report = check([_stack(tmp_path)], waivers=_waivers(tmp_path), on=AS_OF)
    tier = next(f for f in report.findings if f.rule_id == "inventory_tier_context_present")
    assert tier.waived_by is not None and tier.gate is False
    still = {f.rule_id for f in report.findings if f.gate}
    assert {"aws_kms_key_rotation_enabled", "aws_kms_key_deletion_window"} <= still
    assert report.failed


def test_an_untagged_bucket_is_not_held_to_a_key_tier(tmp_path: Path) -> None:
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps({"resource": {"aws_s3_bucket": {"b": {"bucket": "x"}}}}))
    assert not check([path], on=AS_OF).failed
