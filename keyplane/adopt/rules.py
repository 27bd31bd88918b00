"""Which tier an adopted key gets: rules the user passes, else a suggestion to review.

Rules are data: `--tier-rule TAG=VALUE:TIER` matches a key's tag (AWS) or label (GCP),
`--alias-prefix PREFIX:TIER` one of its aliases (AWS), `--default-tier TIER` every key no
rule matches. A key no rule decides gets keyplane's suggestion (`keyplane discover`'s: a
custom key store suggests ca, a CI-like name ephemeral, else the environment's kind) and is
marked for review; so is a key two rules disagree on (it gets the stricter tier: never the
weakest by accident) and a key whose tier cannot live in the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from keyplane.adopt.errors import ESCROW_INVALID, AdoptInputError
from keyplane.model.environment import Escrow
from keyplane.model.tiers import EnvironmentKind, Tier, policy_for

_TIERS = ", ".join(t.value for t in Tier)


def parse_tier(text: str, option: str) -> Tier:
    """`text` as a tier; KP201 naming the option and the allowed tiers otherwise."""
    try:
        return Tier(text.strip())
    except ValueError:
        raise AdoptInputError(f"{option}: unknown tier '{text.strip()}'; allowed: {_TIERS}"
                              ) from None


@dataclass(frozen=True)
class TagRule:
    """`TAG=VALUE:TIER`: keys tagged (labelled) TAG=VALUE get TIER."""

    tag: str
    value: str
    tier: Tier

    @classmethod
    def parse(cls, text: str) -> TagRule:
        """Read `TAG=VALUE:TIER` (the tier after the last ':', the value after the first '=')."""
        body, sep, tier = text.rpartition(":")
        tag, eq, value = body.partition("=")
        if not sep or not eq or not tag.strip():
            raise AdoptInputError(f"--tier-rule '{text}' must be TAG=VALUE:TIER, e.g. "
                                  f"data-class=restricted:production; tiers: {_TIERS}")
        return cls(tag.strip(), value.strip(), parse_tier(tier, "--tier-rule"))

    def matches(self, tags: Mapping[str, str]) -> bool:
        """Whether a key with `tags` carries TAG=VALUE."""
        return tags.get(self.tag) == self.value

    def describe(self) -> str:
        """`tag team=release`."""
        return f"tag {self.tag}={self.value}"


@dataclass(frozen=True)
class AliasPrefixRule:
    """`PREFIX:TIER`: keys with an alias starting with PREFIX (`alias/` implied) get TIER."""

    prefix: str
    tier: Tier

    @classmethod
    def parse(cls, text: str) -> AliasPrefixRule:
        """Read `PREFIX:TIER`."""
        prefix, sep, tier = text.rpartition(":")
        prefix = prefix.strip()
        if not sep or not prefix or prefix == "alias/":
            raise AdoptInputError(f"--alias-prefix '{text}' must be PREFIX:TIER, e.g. "
                                  f"alias/ci-:ephemeral; tiers: {_TIERS}")
        if not prefix.startswith("alias/"):
            prefix = f"alias/{prefix}"
        return cls(prefix, parse_tier(tier, "--alias-prefix"))

    def matching(self, aliases: Iterable[str]) -> list[str]:
        """The aliases this rule matches."""
        return [a for a in aliases if a.startswith(self.prefix)]

    def describe(self) -> str:
        """`alias prefix alias/ci-`."""
        return f"alias prefix {self.prefix}"


@dataclass(frozen=True)
class TierChoice:
    """The tier of an adopted key: `sure` when a rule (or the default tier) decided it."""

    tier: Tier
    sure: bool
    why: str
    alias: str | None = None  # the alias an alias-prefix rule matched (the declared alias)


@dataclass(frozen=True)
class TierRules:
    """The user's rules, in the order given; `default` for keys no rule matches."""

    tags: tuple[TagRule, ...] = ()
    alias_prefixes: tuple[AliasPrefixRule, ...] = ()
    default: Tier | None = None

    @classmethod
    def parse(cls, tags: Iterable[str] = (), alias_prefixes: Iterable[str] = (),
              default: str | None = None) -> TierRules:
        """The rules from the command line's texts; KP201 on the first unreadable one."""
        return cls(tuple(TagRule.parse(t) for t in tags),
                   tuple(AliasPrefixRule.parse(a) for a in alias_prefixes),
                   parse_tier(default, "--default-tier") if default is not None else None)

    def choose(self, *, tags: Mapping[str, str], aliases: Iterable[str],
               suggested: tuple[Tier, str], kind: EnvironmentKind) -> TierChoice:
        """The tier of a key with `tags` and `aliases`; `suggested` is keyplane's guess (tier,
        why) for when no rule decides, `kind` the environment's."""
        aliases = sorted(aliases)
        hits: list[tuple[Tier, str, str | None]] = [
            (r.tier, r.describe(), None) for r in self.tags if r.matches(tags)]
        for rule in self.alias_prefixes:
            hits += [(rule.tier, f"{rule.describe()} ({a})", a) for a in rule.matching(aliases)]
        if hits:
            tiers = {t for t, _, _ in hits}
            top = max(tiers, key=lambda t: t.rank)
            alias = next((a for t, _, a in hits if t is top and a), None)
            said = "; ".join(f"{why} -> {t.value}" for t, why, _ in hits)
            choice = (TierChoice(top, True, said, alias) if len(tiers) == 1 else
                      TierChoice(top, False, f"rules disagree ({said}); took the stricter "
                                             f"{top.value}", alias))
        elif self.default is not None:
            choice = TierChoice(self.default, True, "the default tier (--default-tier)")
        else:
            choice = TierChoice(suggested[0], False, f"suggested: {suggested[1]}; no rule "
                                                     "matched")
        if kind in policy_for(choice.tier).environment_kinds:
            return choice
        fallback = Tier.PRODUCTION if kind is EnvironmentKind.PRODUCTION else Tier.NON_PRODUCTION
        return TierChoice(fallback, False, f"{choice.why}; but {choice.tier.value} keys cannot "
                                           f"live in a {kind.value} environment: took "
                                           f"{fallback.value}", choice.alias)


def parse_escrow(texts: Iterable[str]) -> dict[str, Escrow]:
    """`--escrow KEY=LOCATION:WRAPPING_KEY` (KEY: the entry's name or the cloud key id or
    name) -> the escrow copy of each imported key; KP202 on an unreadable one."""
    out: dict[str, Escrow] = {}
    for text in texts:
        key, eq, rest = text.partition("=")
        location, sep, wrapping = rest.rpartition(":")
        if not eq or not sep or not key.strip() or "://" not in location or not wrapping.strip():
            raise AdoptInputError(f"--escrow '{text}' must be KEY=LOCATION:WRAPPING_KEY, e.g. "
                                  "legacy-import=s3://acme-escrow/legacy-import:backup-wrap "
                                  "(KEY: the entry name or the key id)", code=ESCROW_INVALID)
        if key.strip() in out:
            raise AdoptInputError(f"--escrow names '{key.strip()}' twice", code=ESCROW_INVALID)
        out[key.strip()] = Escrow(location=location.strip(), wrapping_key=wrapping.strip())
    return out
