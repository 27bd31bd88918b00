"""Which deployed key is the compromised generation: the inventory names it, the key's own
tags prove it (AWS), the version order maps it (Cloud KMS). Never an alias alone.

The rules are the certificate requests' (`keyplane.certs.identity`) without their demand
that the key be usable: an incident acts on a generation in any state (a verify-only one,
one already disabled by an interrupted run). An alias that disagrees with the tags is
reported, not followed: whoever can call UpdateAlias must not be able to steer the incident
away from the compromised key. Pure: the command fetches, this decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from keyplane.certs.errors import KeyRefError
from keyplane.certs.identity import label, parse_key_ref
from keyplane.desired import names
from keyplane.drills.canary import map_generations
from keyplane.drills.ports import KeyTarget
from keyplane.incident.errors import (
    GenerationError,
    IdentityMismatchError,
    IncidentInputError,
    JournalConflictError,
    NotDeployedError,
)
from keyplane.model.environment import Environment, Generation, GenerationState, KeyDecl
from keyplane.model.tiers import RotationMode


@dataclass(frozen=True)
class Located:
    """The deployed key of the generation, and what the aliases said about it."""

    target: KeyTarget
    warnings: tuple[str, ...] = ()


def describe_generations(key: KeyDecl) -> str:
    """`g4 (current), g3 (verify-only until 2026-12-16)`."""
    parts = []
    for g in sorted(key.generations, key=lambda g: -g.generation):
        state = key.generation_state(g)
        until = f" until {g.verify_until}" if state is GenerationState.VERIFY_ONLY \
            and g.verify_until else ""
        parts.append(f"g{g.generation} ({state.value}{until})")
    return ", ".join(parts) or "none"


def resolve(env: Environment, text: str) -> tuple[KeyDecl, Generation]:
    """The declared key and generation `KEY@gN` names; refusals name what is declared."""
    try:
        ref = parse_key_ref(text)
    except KeyRefError as exc:
        raise IncidentInputError(exc.message) from None
    try:
        key = env.key(ref.name)
    except KeyError:
        declared = ", ".join(f"{k.name}@g{k.generation}" if k.generation else k.name
                             for k in env.keys) or "none"
        raise GenerationError(f"key {ref.name} is not declared in environment {env.name}; "
                              f"declared: {declared}") from None
    if key.rotation_mode is RotationMode.AUTOMATIC or key.generation is None:
        raise GenerationError(
            f"key {key.name} rotates automatically every {key.rotation_period_in_days} days and "
            "has no generations: its old key material stays usable for decryption, so "
            "`keyplane incident` (which disables one generation) does not apply; declare a new "
            "key, re-encrypt, then retire this one")
    if ref.generation is None:
        raise IncidentInputError(f"name the compromised generation: {key.name}@gN (declared: "
                                 f"{describe_generations(key)}); an incident never defaults "
                                 "to the current generation")
    gen = next((g for g in key.generations if g.generation == ref.generation), None)
    if gen is None:
        raise GenerationError(f"generation {ref.generation} of {key.name} is not declared "
                              f"(declared: {describe_generations(key)})")
    return key, gen


def generation_alias(key: KeyDecl, generation: int) -> str | None:
    """The alias the stack points at the generation's key (AWS): `<alias>/g<N>`."""
    if key.alias is None:
        return None
    return names.generation_alias(key.alias, generation)


def aliases_to_check(key: KeyDecl, generation: int) -> list[str]:
    """The aliases that should resolve to the generation's key: `<alias>/g<N>`, and the
    key's own alias when the generation is the current one."""
    out = [a for a in (generation_alias(key, generation),) if a]
    if key.alias is not None and generation == key.generation:
        out.insert(0, key.alias)
    return out


def locate(key: KeyDecl, generation: int, targets: Iterable[KeyTarget], *,
           aliases: Mapping[str, str | None], account_id: str | None = None) -> Located:
    """The deployed key of `key@g<generation>`.

    AWS: the one key tagged `keyplane:key`/`keyplane:generation` as the generation, in the
    environment's account (NotDeployedError when none is, IdentityMismatchError when two
    are); `aliases` (where each of `aliases_to_check` resolves) only add warnings.
    Cloud KMS: the version the inventory's generations map to, in version order.
    """
    name = label(key, generation)
    targets = list(targets)
    if targets and all(t.ref.startswith("arn:") for t in targets):
        claims = [t for t in targets if t.tagged and t.tag_key == key.name
                  and t.tag_generation == generation]
        deployed = sorted({t.tag_generation for t in targets if t.tag_generation is not None})
    else:
        mapped = map_generations(key, targets)
        claims = [t for t in mapped if t.generation == generation]
        deployed = sorted({t.generation for t in mapped if t.generation is not None})
    if not claims:
        listed = ", ".join(f"g{g}" for g in deployed) or "none"
        raise NotDeployedError(f"{name} is not deployed (deployed generations of {key.name}: "
                               f"{listed}); nothing was changed")
    if len(claims) > 1:
        refs = ", ".join(sorted(t.ref for t in claims))
        raise IdentityMismatchError(f"{len(claims)} keys claim to be {name} ({refs}); keyplane "
                                    "does not disable on a guess: find the compromised key by "
                                    "its key id, nothing was changed")
    target = claims[0]
    warnings: list[str] = []
    if target.ref.startswith("arn:"):
        arn_account = target.ref.split(":")[4]
        if account_id is not None and arn_account != account_id:
            raise NotDeployedError(f"{target.ref}, tagged as {name}, is in account "
                                   f"{arn_account}, the environment's account is {account_id}: "
                                   "use the environment's credentials; nothing was changed")
        for alias in aliases_to_check(key, generation):
            got = aliases.get(alias)
            if got is None:
                warnings.append(f"alias {alias} does not exist")
            elif got != target.ref:
                warnings.append(f"alias {alias} resolves to {got}, not to {target.ref}, the key "
                                f"tagged as {name}: the incident acts on the tagged key; find "
                                "out who moved the alias (UpdateAlias in the audit trail)")
    return Located(target=target, warnings=tuple(warnings))


def locate_journaled(key: KeyDecl, generation: int, targets: Iterable[KeyTarget], *,
                     journaled: Sequence[str], incident_id: str) -> Located:
    """The Cloud KMS version an open incident acts on: the one its first run journaled.

    The version order can no longer name the generation once the incident's own rotate
    step has declared g<N+1> in the inventory (the inventory is then ahead of the cloud:
    the version that is g<N> maps onto g<N+1>), and a verify-only generation the incident
    retired is no longer live there either. So a resumed incident is not located again from
    the inventory; the journaled version must still be one of the crypto key's versions
    (`targets`, read from the desired state's crypto key), else JournalConflictError:
    keyplane does not act on a version it cannot see.
    """
    name = label(key, generation)
    listed = {t.ref: t for t in targets}
    if len(journaled) != 1:
        refs = ", ".join(journaled) or "no key"
        raise JournalConflictError(f"the open incident {incident_id} on {name} journaled "
                                   f"{refs}, not one crypto key version: check the journal, "
                                   "then move it aside to start a new incident")
    ref = journaled[0]
    target = listed.get(ref)
    if target is None:
        versions = ", ".join(f"{t.ref} ({t.state})" for t in listed.values()) or "none"
        raise JournalConflictError(f"the open incident {incident_id} on {name} acted on "
                                   f"{ref}, which Cloud KMS no longer lists as an enabled or "
                                   f"disabled version of {key.name} (listed: {versions}); "
                                   "resuming could act on the wrong version: check the "
                                   "version, then move the incident's journal aside to start "
                                   "a new one")
    return Located(target=replace(target, generation=generation))
