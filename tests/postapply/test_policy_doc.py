"""Semantic key-policy comparison."""

from __future__ import annotations

from keyplane.policy.policydoc import compare
from keyplane.postapply.synth import UNRESOLVED

ADMIN = {"Sid": "Admin", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
         "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"}


def test_order_sid_case_and_single_values_do_not_matter() -> None:
    same = {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:role/admin"]},
            "Action": ["KMS:describekey", "kms:putkeypolicy"], "Resource": ["*"], "Sid": "Other"}
    assert not compare({"Statement": [ADMIN]}, {"Statement": same})


def test_an_added_statement_is_reported_by_principal() -> None:
    extra = {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    diff = compare({"Statement": [ADMIN]}, {"Statement": [ADMIN, extra]})
    assert diff.describe() == "1 statement(s) added (*)"


def test_a_removed_condition_is_a_difference() -> None:
    cond = {**ADMIN, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
    diff = compare({"Statement": [cond]}, {"Statement": [ADMIN]})
    assert diff.describe() == "1 statement(s) missing (Admin); 1 statement(s) added (Admin)"


def test_values_unknown_until_apply_match_any_value() -> None:
    exp = {**ADMIN, "Principal": {"AWS": f"arn:aws:iam::{UNRESOLVED}:role/admin"}}
    assert not compare({"Statement": [exp]}, {"Statement": [ADMIN]})
    other = {**ADMIN, "Principal": {"AWS": "arn:aws:iam::111122223333:role/intruder"}}
    assert compare({"Statement": [exp]}, {"Statement": [other]})
