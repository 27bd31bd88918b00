"""Tier rules of `keyplane adopt`: what decides a key's tier, and when a person must review it."""

from __future__ import annotations

import pytest

from keyplane.adopt.errors import AdoptInputError
from keyplane.adopt.rules import AliasPrefixRule, TagRule, TierRules, parse_escrow
from keyplane.model.tiers import EnvironmentKind, Tier

GUESS = (Tier.NON_PRODUCTION, "in a non-production environment")
NONPROD, PROD = EnvironmentKind.NON_PRODUCTION, EnvironmentKind.PRODUCTION


def test_a_tag_rule_decides_and_is_sure() -> None:
    rules = TierRules.parse(["team=release:production"])
    choice = rules.choose(tags={"team": "release"}, aliases=[], suggested=GUESS, kind=PROD)
    assert (choice.tier, choice.sure, choice.why) == (
        Tier.PRODUCTION, True, "tag team=release -> production")


def test_an_alias_prefix_decides_and_names_the_alias() -> None:
    rules = TierRules.parse(alias_prefixes=["ci-:ephemeral"])
    choice = rules.choose(tags={}, aliases=["alias/app", "alias/ci-cache"], suggested=GUESS,
                          kind=NONPROD)
    assert (choice.tier, choice.sure, choice.alias) == (Tier.EPHEMERAL, True, "alias/ci-cache")
    assert choice.why == "alias prefix alias/ci- (alias/ci-cache) -> ephemeral"


def test_rules_that_disagree_take_the_stricter_tier_for_review() -> None:
    rules = TierRules.parse(["env=ci:ephemeral"], ["alias/pki-:non-production"])
    choice = rules.choose(tags={"env": "ci"}, aliases=["alias/pki-root"], suggested=GUESS,
                          kind=NONPROD)
    assert (choice.tier, choice.sure) == (Tier.NON_PRODUCTION, False)
    assert choice.why == ("rules disagree (tag env=ci -> ephemeral; alias prefix alias/pki- "
                          "(alias/pki-root) -> non-production); took the stricter non-production")


def test_no_rule_takes_the_default_tier_or_else_the_suggestion_for_review() -> None:
    assert TierRules.parse(default="ephemeral").choose(
        tags={}, aliases=[], suggested=GUESS, kind=NONPROD).sure is True
    guess = TierRules().choose(tags={"team": "x"}, aliases=[], suggested=GUESS, kind=NONPROD)
    assert (guess.tier, guess.sure, guess.why) == (
        Tier.NON_PRODUCTION, False, "suggested: in a non-production environment; no rule matched")


def test_a_tier_the_environment_cannot_hold_falls_back_to_its_kind_for_review() -> None:
    choice = TierRules.parse(["kind=root:ca"]).choose(
        tags={"kind": "root"}, aliases=[], suggested=GUESS, kind=NONPROD)
    assert (choice.tier, choice.sure) == (Tier.NON_PRODUCTION, False)
    assert choice.why == ("tag kind=root -> ca; but ca keys cannot live in a non-production "
                          "environment: took non-production")
    prod = TierRules.parse(default="non-production").choose(
        tags={}, aliases=[], suggested=GUESS, kind=PROD)
    assert (prod.tier, prod.sure) == (Tier.PRODUCTION, False)


def test_tag_values_may_hold_equals_and_colons() -> None:
    rule = TagRule.parse("owner=team:pki=a:production")
    assert (rule.tag, rule.value, rule.tier) == ("owner", "team:pki=a", Tier.PRODUCTION)
    assert AliasPrefixRule.parse("alias/ci/:ephemeral").prefix == "alias/ci/"


@pytest.mark.parametrize(("tags", "prefixes", "default", "message"), [
    (["team:production"], [], None,
     "--tier-rule 'team:production' must be TAG=VALUE:TIER, e.g. "
     "data-class=restricted:production; tiers: ca, production, non-production, ephemeral"),
    (["team=release"], [], None,
     "--tier-rule 'team=release' must be TAG=VALUE:TIER, e.g. "
     "data-class=restricted:production; tiers: ca, production, non-production, ephemeral"),
    (["team=release:prod"], [], None,
     "--tier-rule: unknown tier 'prod'; allowed: ca, production, non-production, ephemeral"),
    ([], ["alias/:ephemeral"], None,
     "--alias-prefix 'alias/:ephemeral' must be PREFIX:TIER, e.g. alias/ci-:ephemeral; tiers: "
     "ca, production, non-production, ephemeral"),
    ([], [], "weak", "--default-tier: unknown tier 'weak'; allowed: ca, production, "
                     "non-production, ephemeral"),
])
def test_fails_unreadable_rules_with_kp201(tags: list[str], prefixes: list[str],
                                           default: str | None, message: str) -> None:
    with pytest.raises(AdoptInputError) as exc:
        TierRules.parse(tags, prefixes, default)
    assert (exc.value.code, exc.value.message, exc.value.exit_code) == ("KP201", message, 2)


def test_escrow_copies_are_read_per_key() -> None:
    got = parse_escrow(["legacy=s3://escrow/legacy/material:wrap-key"])
    assert (got["legacy"].location, got["legacy"].wrapping_key) == (
        "s3://escrow/legacy/material", "wrap-key")


@pytest.mark.parametrize("text", ["legacy", "legacy=s3://escrow/x", "legacy=escrow:wrap",
                                  "=s3://escrow/x:wrap"])
def test_fails_unreadable_escrow_with_kp202(text: str) -> None:
    with pytest.raises(AdoptInputError) as exc:
        parse_escrow([text])
    assert exc.value.code == "KP202"
    assert exc.value.message == (f"--escrow '{text}' must be KEY=LOCATION:WRAPPING_KEY, e.g. "
                                 "legacy-import=s3://acme-escrow/legacy-import:backup-wrap "
                                 "(KEY: the entry name or the key id)")
