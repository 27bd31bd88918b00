"""Policy documents as data: semantic comparison, and who a key policy lets do what."""

from __future__ import annotations

from keyplane.policy.policydoc import (
    UNRESOLVED,
    compare,
    identity_access,
    key_access,
    parse,
)

ADMIN = {"Sid": "Admin", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111122223333:role/admin"},
         "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"}
ACCT = "111122223333"
ROOT = f"arn:aws:iam::{ACCT}:root"
USER = f"arn:aws:iam::{ACCT}:role/user"
BREAK = f"arn:aws:iam::{ACCT}:role/break-glass"


# --- comparing a deployed policy with the synthesized one ---------------------------------------

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


# --- who can use or administer a key ------------------------------------------------------------

def _allow(principal: object, actions: list[str], sid: str | None = None,
           condition: dict | None = None) -> dict:
    stmt: dict = {"Effect": "Allow", "Principal": principal, "Action": actions, "Resource": "*"}
    if sid:
        stmt["Sid"] = sid
    if condition:
        stmt["Condition"] = condition
    return stmt


def _deny(principal: object, actions: list[str], condition: dict | None = None) -> dict:
    return {**_allow(principal, actions, condition=condition), "Effect": "Deny"}


def test_root_pinned_by_principal_arn_counts_for_the_pinned_principals_only() -> None:
    pinned = {"ArnEquals": {"aws:PrincipalArn": [USER]}}
    got = key_access(parse({"Statement": [
        _allow({"AWS": ROOT}, ["kms:Decrypt", "kms:DescribeKey"], condition=pinned)]}), ACCT)
    assert (got.allowed, got.wildcards) == ({USER: {"kms:decrypt"}}, ())


def test_wildcards_are_named_by_sid_unless_a_condition_scopes_the_caller() -> None:
    org = {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}
    got = key_access(parse({"Statement": [
        _allow("*", ["kms:Sign"], sid="Open"), _allow({"AWS": ACCT}, ["kms:Sign"]),
        _allow("*", ["kms:Sign"], sid="Org", condition=org)]}), ACCT)
    assert got.wildcards == ("Open", "no sid")
    assert got.allowed == {"*": {"kms:sign"}}


def test_not_action_and_not_principal_are_read_as_what_they_allow() -> None:
    doc = {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": USER}, "NotAction": ["kms:Decrypt"],
         "Resource": "*"},
        {"Effect": "Allow", "NotPrincipal": {"AWS": USER}, "Action": "kms:Sign",
         "Resource": "*", "Sid": "AllButUser"}]}
    got = key_access(parse(doc), ACCT)
    assert "kms:decrypt" not in got.allowed[USER] and "kms:sign" in got.allowed[USER]
    assert (got.allowed["*"], got.wildcards) == ({"kms:sign"}, ("AllButUser",))


def test_a_deny_takes_away_only_what_it_always_denies() -> None:
    admins = {"ArnEquals": {"aws:PrincipalArn": [USER]}}
    doc = {"Statement": [
        _allow({"AWS": USER}, ["kms:Decrypt", "kms:DisableKey"]),
        _allow({"AWS": BREAK}, ["kms:ScheduleKeyDeletion"],
               condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
        _deny({"AWS": ROOT}, ["kms:Decrypt"], condition=admins),
        # denies everyone but break-glass: break-glass keeps it
        _deny({"AWS": ROOT}, ["kms:ScheduleKeyDeletion"],
              condition={"ArnNotEquals": {"aws:PrincipalArn": BREAK}}),
        # only short windows are denied: scheduling stays possible
        _deny({"AWS": ROOT}, ["kms:ScheduleKeyDeletion"],
              condition={"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}),
        # a deny naming another principal does not apply to the user
        _deny({"AWS": BREAK}, ["kms:DisableKey"])]}
    got = key_access(parse(doc), ACCT)
    assert got.allowed == {USER: {"kms:disablekey"}, BREAK: {"kms:schedulekeydeletion"}}


def test_a_conditional_deny_of_use_leaves_the_use_possible() -> None:
    doc = {"Statement": [
        _allow({"AWS": USER}, ["kms:Sign"]),
        _deny({"AWS": ROOT}, ["kms:Sign"], condition={
            "ArnEquals": {"aws:PrincipalArn": USER}, "Bool": {"aws:ViaAWSService": "false"}})]}
    assert key_access(parse(doc), ACCT).allowed == {USER: {"kms:sign"}}


def test_identity_policies_count_allows_on_the_key() -> None:
    key = "arn:aws:kms:us-east-1:111122223333:key/k1"
    doc = {"Statement": [
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "arn:aws:kms:*:111122223333:key/*"},
        {"Effect": "Allow", "Action": ["kms:Sign"], "Resource": "arn:aws:kms:us-east-1:111122223333:key/k2"},
        {"Effect": "Deny", "Action": ["kms:Encrypt"], "Resource": "*"}]}
    assert identity_access(parse(doc), key) == {"kms:decrypt"}
