"""Which deployed key signs a certificate request, and why it is provably that generation.

The rules are the sign canary's (`keyplane.drills.canary`), made strict: a request is only
ever signed by the key that is tagged as the generation (`keyplane:key`,
`keyplane:generation`, as the synthesized stack tags it), that no other key claims to be,
that the stack's aliases (the key's alias for the current generation, and `<alias>/g<N>`)
resolve to, in the environment's account, enabled and of the declared spec, and whose
public key is the one recorded at the generation's first passing sign canary. An alias
alone is never trusted: whoever can call UpdateAlias could otherwise get a certificate
for a key of their own. Only the current generation signs; a verify-only or disabled
generation is refused before any cloud call. Pure: the command fetches, this decides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from keyplane.audit.evidence import DrillResult
from keyplane.certs.errors import (
    DeployedKeyError,
    GenerationRefusedError,
    IdentityMismatchError,
    KeyCannotSignError,
    KeyRefError,
    NotPinnedError,
)
from keyplane.desired import names
from keyplane.drills.canary import map_generations
from keyplane.drills.ports import KeyTarget
from keyplane.model.environment import Environment, GenerationState, KeyDecl
from keyplane.model.specs import AWS_KEY_USAGE, Cloud, KeyUsage
from keyplane.model.tiers import Tier

# The tiers whose requests need the generation's public key on record from a passing sign
# canary: their certificates are trusted in production and their keys are never used by
# people, so an unrecorded key is refused (fail closed). Non-production and ephemeral
# keys are re-issuable; their requests say on stderr and in JSON that nothing pinned them.
PIN_REQUIRED: frozenset[Tier] = frozenset({Tier.CA, Tier.PRODUCTION})

_ENABLED = ("Enabled", "ENABLED")
_KEY_REF = re.compile(r"(?P<name>[^@\s]+)(@g(?P<generation>[1-9][0-9]{0,5}))?")


@dataclass(frozen=True)
class KeyRef:
    """`KEY` or `KEY@gN` from the command line."""

    name: str
    generation: int | None = None


def parse_key_ref(text: str) -> KeyRef:
    """`code-signing` or `code-signing@g4`; KeyRefError for anything else."""
    m = _KEY_REF.fullmatch(text)
    if m is None:
        raise KeyRefError(f"key {text!r} must be KEY or KEY@gN (e.g. code-signing or "
                          "code-signing@g4)")
    gen = m.group("generation")
    return KeyRef(m.group("name"), int(gen) if gen else None)


def label(key: KeyDecl, generation: int | None) -> str:
    """`code-signing@g4` (or the bare name of a key without generations)."""
    return f"{key.name}@g{generation}" if generation is not None else key.name


def signing_key(env: Environment, name: str) -> KeyDecl:
    """The declared key `name`, when it can sign; KeyRefError naming the declared keys,
    KeyCannotSignError naming the signing keys."""
    signers = [k.name for k in env.keys if k.usage is KeyUsage.SIGN]
    try:
        key = env.key(name)
    except KeyError:
        raise KeyRefError(f"key {name} is not declared in environment {env.name}; declared: "
                          f"{', '.join(k.name for k in env.keys) or 'none'} (signing keys: "
                          f"{', '.join(signers) or 'none'})") from None
    if key.usage is not KeyUsage.SIGN:
        native = AWS_KEY_USAGE[key.usage] if key.cloud is Cloud.AWS else key.usage.value
        raise KeyCannotSignError(f"key {name} has usage {key.usage.value} ({native}); a "
                                 f"certificate request needs a signing key (SIGN_VERIFY); "
                                 f"signing keys of {env.name}: {', '.join(signers) or 'none'}")
    return key


def _describe(key: KeyDecl) -> str:
    parts = []
    for g in sorted(key.generations, key=lambda g: -g.generation):
        state = key.generation_state(g)
        until = f" until {g.verify_until}" if state is GenerationState.VERIFY_ONLY \
            and g.verify_until else ""
        parts.append(f"g{g.generation} ({state.value}{until})")
    return ", ".join(parts) or "none"


def generation_to_sign(key: KeyDecl, requested: int | None) -> int | None:
    """The generation that signs: the current one. GenerationRefusedError for a verify-only,
    disabled or undeclared generation, saying which generation is current."""
    if key.generation is None:
        if requested is not None:
            raise GenerationRefusedError(f"key {key.name} has no generations; give it without "
                                         f"@g{requested}")
        return None
    if requested is None:
        return key.generation
    gen = next((g for g in key.generations if g.generation == requested), None)
    current = f"the current generation is {key.generation} ({key.name}@g{key.generation})"
    if gen is None:
        raise GenerationRefusedError(f"generation {requested} of {key.name} is not declared "
                                     f"(declared: {_describe(key)}); {current}")
    state = key.generation_state(gen)
    if state is GenerationState.VERIFY_ONLY:
        until = f" (verify until {gen.verify_until})" if gen.verify_until else ""
        raise GenerationRefusedError(
            f"{key.name}@g{requested} is a verify-only generation{until}: it verifies what it "
            f"signed before, it never signs a new request; {current}")
    if state is GenerationState.DISABLED:
        raise GenerationRefusedError(f"{key.name}@g{requested} is a disabled generation: it "
                                     f"signs nothing; {current}")
    return requested


def expected_aliases(key: KeyDecl, generation: int | None) -> list[str]:
    """The aliases the stack points at the generation's key (AWS): the key's own alias
    (it follows the current generation) and, for a generation, `<alias>/g<N>`."""
    if key.cloud is not Cloud.AWS or key.alias is None:
        return []
    out = [key.alias]
    if generation is not None:
        out.append(names.generation_alias(key.alias, generation))
    return out


def pin_target(key: KeyDecl, generation: int | None, targets: Iterable[KeyTarget], *,
               aliases: Mapping[str, str | None], account_id: str | None = None
               ) -> KeyTarget:
    """The deployed key of `generation`, once everything agrees it is that generation.

    `targets`: what the KMS holds for the key (`KmsDrillPort.targets`); `aliases`: where each
    of `expected_aliases` resolves (None: missing). DeployedKeyError when the generation is
    not deployed or not usable; IdentityMismatchError when two keys claim it, an alias
    points elsewhere, or it is not the version in use.
    """
    name = label(key, generation)
    targets = list(targets)
    if targets and all(t.ref.startswith("arn:") for t in targets):
        # AWS: a key is a generation by its own tags, never by what an alias points to (a
        # key an alias was moved to is reported by the alias check below)
        mapped = targets
        claims = [t for t in targets if t.tagged and t.tag_key == key.name
                  and t.tag_generation == generation]
    else:
        mapped = map_generations(key, targets)
        claims = [t for t in mapped if (t.current if generation is None
                                        else t.generation == generation)]
    if not claims:
        deployed = sorted({g for t in mapped if (g := t.tag_generation if t.ref.startswith("arn:")
                                                 else t.generation) is not None})
        listed = ", ".join(f"g{g}" for g in deployed) or "none"
        raise DeployedKeyError(f"{name} is not deployed (deployed generations of {key.name}: "
                               f"{listed}); apply the environment's stack first")
    if len(claims) > 1:
        refs = ", ".join(sorted(t.ref for t in claims))
        raise IdentityMismatchError(f"{len(claims)} keys claim to be {name} ({refs}); nothing "
                                    "was signed")
    target = claims[0]
    if target.ref.startswith("arn:"):
        arn_account = target.ref.split(":")[4]
        if account_id is not None and arn_account != account_id:
            raise DeployedKeyError(f"{target.ref} is in account {arn_account}, the environment's "
                                   f"account is {account_id}: use the environment's credentials")
        for alias in expected_aliases(key, generation):
            got = aliases.get(alias)
            if got is None:
                raise DeployedKeyError(f"alias {alias} of {name} does not exist; apply the "
                                       "environment's stack first")
            if got != target.ref:
                raise IdentityMismatchError(f"{alias} resolves to {got}, not to {target.ref}, the "
                                            f"key tagged as {name}; nothing was signed")
    elif not target.current:
        current = next((t.ref for t in mapped if t.current), "none")
        raise IdentityMismatchError(f"{target.ref}, mapped to {name}, is not the version in use "
                                    f"({current}); nothing was signed")
    if target.state not in _ENABLED:
        raise DeployedKeyError(f"{name} ({target.ref}) is {target.state}; only an enabled key "
                               "signs")
    if key.spec is not None and target.spec != key.spec:
        raise DeployedKeyError(f"{name} is deployed as {target.spec}, the inventory declares "
                               f"{key.spec}; apply the stack or correct the inventory")
    return target


def fingerprint(public_key: bytes) -> str:
    """The sign canary's `public_key_sha256`: the first 16 hex digits of SHA-256 over the
    DER SubjectPublicKeyInfo, as the KMS returned it."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def recorded_fingerprint(history: Iterable[DrillResult], key: str, generation: int | None
                         ) -> str | None:
    """The public key recorded by the generation's first passing sign canary (None: never)."""
    for r in sorted(history, key=lambda r: r.started_at):
        if r.kind == "sign-canary" and r.key == key and r.generation == generation \
                and r.passed and isinstance(r.details.get("public_key_sha256"), str):
            return str(r.details["public_key_sha256"])
    return None


def check_pin(key: KeyDecl, generation: int | None, now: str, recorded: str | None, *,
              env: str, evidence: str) -> bool:
    """Whether the public key is pinned by a drill record (False: none, allowed for the
    tier). IdentityMismatchError when it differs from the record; NotPinnedError when the
    tier requires a record and there is none."""
    name = label(key, generation)
    if recorded is None:
        if key.tier in PIN_REQUIRED:
            raise NotPinnedError(
                f"{name} ({key.tier.value} tier) has no passing sign canary in the evidence at "
                f"{evidence}, so nothing recorded its public key ({now}); run `keyplane drill "
                f"{env} --key {key.name} --kind sign-canary` first, then request again")
        return False
    if recorded != now:
        raise IdentityMismatchError(f"the public key of {name} changed since its first drill "
                                    f"(recorded {recorded}, now {now}); nothing was signed")
    return True
