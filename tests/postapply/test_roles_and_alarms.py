"""The role and alarm checks' comparisons: what they name, beyond which subject fails.

The subjects each check reports are in its fixtures (tests/postapply/fixtures/checks/); these
tests pin the reasons (a wildcard principal, a removed MFA or OIDC condition, administrator
access) and the expected state the checks compare against (read from the synthesized stack).
"""

from __future__ import annotations

from pathlib import Path

from keyplane.model import load_estate
from keyplane.postapply.access import assumers
from keyplane.postapply.expected import expected_state
from keyplane.postapply.ports import IamRole
from keyplane.postapply.rules.access._roles import admin_reason, broad_grants, trust_changes
from keyplane.postapply.rules.drift.alarm_missing import pattern_matches
from keyplane.postapply.stack import load_environment_stacks, matches
from tests.conftest import EXAMPLE_ENVIRONMENTS, Synthesized

ACCT = "210987654321"
OIDC = f"arn:aws:iam::{ACCT}:oidc-provider/token.actions.githubusercontent.com"
SUB = "token.actions.githubusercontent.com:sub"
AUD = "token.actions.githubusercontent.com:aud"


def _doc(*stmts: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def _oidc(cond: dict) -> dict:
    return _doc({"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                 "Principal": {"Federated": OIDC}, "Condition": cond})


PINNED = {"StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/release:environment:prod"}}
BREAK_GLASS = _doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCT}:role/pki-break-glass"},
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}})


def test_the_same_trust_in_another_order_or_with_a_sid_is_no_change() -> None:
    same = _doc({"Sid": "Trust", "Principal": {"Federated": OIDC}, "Effect": "Allow",
                 "Condition": {"StringEquals": {SUB: "repo:acme/release:environment:prod",
                                                AUD: "sts.amazonaws.com"}},
                 "Action": ["sts:AssumeRoleWithWebIdentity"]})
    assert trust_changes(_oidc(PINNED), same) == []


def test_names_a_wildcard_principal_and_an_undeclared_one() -> None:
    opened = _doc(BREAK_GLASS["Statement"][0],
                  {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}},
                  {"Effect": "Allow", "Action": "sts:AssumeRole",
                   "Principal": {"AWS": "arn:aws:iam::999999999999:root"}})
    assert trust_changes(BREAK_GLASS, opened) == [
        "any principal (*) can assume the role",
        "undeclared principal arn:aws:iam::999999999999:root can assume the role"]


def test_names_a_removed_mfa_condition() -> None:
    no_mfa = _doc({**BREAK_GLASS["Statement"][0], "Condition": {}})
    assert trust_changes(BREAK_GLASS, no_mfa) == ["the mfa condition was removed"]
    off = _doc({**BREAK_GLASS["Statement"][0],
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}})
    assert trust_changes(BREAK_GLASS, off) == [
        "the mfa condition changed from bool true to bool false"]


def test_names_a_removed_or_loosened_oidc_subject() -> None:
    assert trust_changes(_oidc(PINNED), _oidc({"StringEquals": {AUD: "sts.amazonaws.com"}})) == [
        f"the oidc sub condition ({SUB}) was removed"]
    loose = {"StringEquals": {AUD: "sts.amazonaws.com"}, "StringLike": {SUB: "repo:acme/*"}}
    assert trust_changes(_oidc(PINNED), _oidc(loose)) == [
        f"the oidc sub condition ({SUB}) changed from stringequals "
        "repo:acme/release:environment:prod to stringlike repo:acme/*"]


def test_a_value_only_apply_knows_matches_any_value() -> None:
    declared = _oidc(PINNED)
    declared["Statement"][0]["Principal"] = {"Federated": f"arn:aws:iam::{ACCT}:${{?}}"}
    assert trust_changes(declared, _oidc(PINNED)) == []
    assert matches("arn:aws:kms:us-east-1:1:key/${?}", "arn:aws:kms:us-east-1:1:key/abc")
    assert not matches("arn:aws:kms:us-east-1:1:key/${?}", "arn:aws:kms:eu-west-1:1:key/abc")


def test_administrator_access_by_name_or_by_what_it_grants() -> None:
    assert admin_reason("arn:aws:iam::aws:policy/AdministratorAccess", None) == (
        "administrator access: AdministratorAccess is an aws managed administrator policy")
    assert admin_reason("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", None) is None
    # a customer policy named like an aws one is judged by its document
    assert admin_reason(f"arn:aws:iam::{ACCT}:policy/AdministratorAccess", _doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})) is None
    assert broad_grants(_doc({"Effect": "Allow", "Action": ["kms:*", "iam:*"], "Resource": "*"},
                             {"Effect": "Deny", "Action": "*", "Resource": "*"})) == [
        "iam:*", "kms:*"]
    assert broad_grants(_doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})) == ["*"]
    assert admin_reason(None, _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})) == (
        "administrator access: it allows *")


def test_filter_patterns_compare_whitespace_aside_and_key_arns_as_any() -> None:
    want = '{ ($.eventName = "Sign") && ($.resources[0].ARN = "${?}") }'
    assert pattern_matches(want, '{ ($.eventName = "Sign")  &&  ($.resources[0].ARN = "arn:k") }')
    assert not pattern_matches(want, '{ ($.eventName = "Verify") && ($.resources[0].ARN = "a") }')


def test_assumers_name_each_principal_with_its_mfa_and_oidc_subject() -> None:
    role = IamRole(name="r", arn="arn:r", trust_policy=_doc(
        BREAK_GLASS["Statement"][0], _oidc(PINNED)["Statement"][0],
        {"Effect": "Allow", "Action": "sts:TagSession", "Principal": {"AWS": "arn:x"}}))
    assert assumers(role) == [
        f"{OIDC} (sub repo:acme/release:environment:prod)",
        f"arn:aws:iam::{ACCT}:role/pki-break-glass (mfa)"]


def test_expected_roles_and_alarms_come_from_the_synthesized_stack(
        synthesized_estate: Synthesized) -> None:
    assert synthesized_estate.exit_code == 0, synthesized_estate.stderr[-2000:]
    env = load_estate([EXAMPLE_ENVIRONMENTS / "prod.yaml"]).get("prod")
    state = expected_state(env, load_environment_stacks(env, Path(synthesized_estate.out)))
    roles = {r.name: r for r in state.all_roles}
    assert [r.name for r in state.service_roles] == ["keyplane-prod-backup-service",
                                                     "keyplane-prod-cloudtrail-logs"]
    release = roles["keyplane-prod-user-release-pipeline"]
    assert release.trust_policy is not None
    (stmt,) = release.trust_policy["Statement"]
    assert stmt["Principal"] == {"Federated": OIDC}  # the provider's ARN, resolved before apply
    assert list(release.inline_policies) == ["keyplane"] and release.managed_policy_arns == ()
    assert "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup" in \
        roles["keyplane-prod-backup-service"].managed_policy_arns
    alarms = {a.name: a for a in state.alarms}
    disable = alarms["keyplane-prod-DisableKey"]
    assert disable.actions == (f"arn:aws:sns:us-east-1:{ACCT}:keyplane-prod-alarms",)
    assert disable.metrics == ("keyplane/prod/DisableKey",)
    assert [(f.name, f.log_group_name) for f in disable.filters] == [
        ("keyplane-DisableKey", "/keyplane/prod/cloudtrail")]
    volume = alarms["keyplane-prod-SignVolume-code-signing"]
    assert volume.metrics == ("keyplane/prod/SignVolume-code-signing",) and volume.filters
    assert state.alarm_log_groups == ("/keyplane/prod/cloudtrail",)


def test_the_access_table_says_who_can_assume_each_role_that_can_use_a_key(
        synthesized_estate: Synthesized) -> None:
    from keyplane.postapply.access import table
    from keyplane.postapply.match import match
    from tests.postapply.checks_support import observed_for

    env = load_estate([EXAMPLE_ENVIRONMENTS / "prod.yaml"]).get("prod")
    state = expected_state(env, load_environment_stacks(env, Path(synthesized_estate.out)))
    observed, _ = observed_for("prod", [{"role": "keyplane-prod-user-release-pipeline", "set": {
        "trust_policy.Statement.0.Principal": {"AWS": "*"}}}])
    rows = {r["key"]: r for r in table(state, observed, match(state, observed))}
    release = f"arn:aws:iam::{ACCT}:role/keyplane-prod-user-release-pipeline"
    row = rows["code-signing@g4"]
    assert row["use"] == [release]
    assert row["assumed_by"][release] == [  # what was read, not what the stack declares
        "* (sub repo:acme/release-tooling:environment:production)"]
    assert rows["pki-root-ca@g1"]["assumed_by"][f"arn:aws:iam::{ACCT}:role/keyplane-prod-ceremony"] \
        == [f"arn:aws:iam::{ACCT}:role/aws-reserved/sso.amazonaws.com/"
            "AWSReservedSSO_PKICeremony_3e4f5a6b7c8d9e01 (mfa)"]


def test_text_and_markdown_show_who_can_assume_the_key_roles() -> None:
    import datetime as dt

    from keyplane.postapply.report import Report, render_markdown, render_text

    role = "arn:aws:iam::210987654321:role/keyplane-prod-user-docsign-service"
    report = Report(command="access-review", environment="prod",
                    started_at=dt.datetime(2026, 11, 29, tzinfo=dt.UTC),
                    access=[{"key": "document-signing@g2", "resource": "arn:k", "use": [role],
                             "administer": [], "assumed_by": {
                                 role: ["arn:aws:iam::210987654321:root (mfa)"]}}])
    text = render_text(report)
    assert (f"    {role} assumed by arn:aws:iam::210987654321:root (mfa)\n") in text
    md = render_markdown(report)
    assert ("| `document-signing@g2` | " + role + " | - | keyplane-prod-user-docsign-service: "
            "arn:aws:iam::210987654321:root (mfa) |") in md
