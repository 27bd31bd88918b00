"""The sign canary: prove each generation of a key still does what it is for.

Signing keys: sign a fresh random digest with the current generation, verify it through
the KMS API and offline against the public key from GetPublicKey. A signature either
check rejects is an integrity alarm. Verify-only generations must still verify.
Encryption keys: encrypt and decrypt a random value bound to an encryption context (and
the wrong context must be refused). MAC keys: GenerateMac, VerifyMac, and a tampered
message must be refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from dataclasses import replace

from keyplane.cloudcall import CloudCallError
from keyplane.drills.base import DrillContext, DrillVerdict, classify
from keyplane.drills.crypto import AWS_MAC, signing_algorithms, verify_offline
from keyplane.drills.ports import KeyTarget, KmsDrillPort
from keyplane.model.environment import KeyDecl
from keyplane.model.specs import KeyUsage

_ENABLED = ("Enabled", "ENABLED")
SYMMETRIC_SPECS = frozenset({"SYMMETRIC_DEFAULT", "GOOGLE_SYMMETRIC_ENCRYPTION"})


def _short(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def sign_and_verify(ctx: DrillContext, kms: KmsDrillPort, target: KeyTarget, *,
                    public_from: KmsDrillPort | None = None, public_ref: str | None = None,
                    verify_api: KmsDrillPort | None = None) -> DrillVerdict:
    """Sign a random digest per algorithm of the spec; verify through the API and offline.

    `public_from`/`public_ref` (default: the signer) give the key whose public key the
    offline check uses, and `verify_api` the KMS that verifies (the replica drill signs
    in one Region and verifies with the primary).
    """
    algorithms = signing_algorithms(kms.cloud, target.spec)
    if not algorithms:
        return DrillVerdict(outcome="SKIPPED", reason=f"no offline verification for {target.spec}",
                            generation=target.generation)
    pub_port, pub_ref = public_from or kms, public_ref or target.ref
    api = verify_api or kms
    public = pub_port.public_key(pub_ref)
    checks = []
    for alg in algorithms:
        digest = os.urandom(alg.digest_size)
        signature = kms.sign(target.ref, digest, alg.name)
        api_ok = api.verify(pub_ref, digest, signature, alg.name)
        offline_ok = verify_offline(public, alg, digest, signature)
        checks.append({"algorithm": alg.name, "digest": base64.b64encode(digest).decode(),
                       "signature": base64.b64encode(signature).decode(),
                       "api_verified": api_ok, "offline_verified": offline_ok})
        ctx.step("sign-canary.verify", target.ref,
                 outcome="ok" if api_ok is not False and offline_ok else "failed",
                 algorithm=alg.name, api_verified=api_ok, offline_verified=offline_ok,
                 public_key_sha256=_short(public))
        if api_ok is False or not offline_ok:
            which = " and ".join(w for w, ok in (("the kms api", api_ok is not False),
                                                 ("offline verification", offline_ok)) if not ok)
            return DrillVerdict(outcome="INTEGRITY_ALARM", generation=target.generation,
                                reason=f"signature of {target.key} with {alg.name} rejected by {which}",
                                details={"checks": checks, "ref": target.ref})
    note = "" if all(c["api_verified"] is not None for c in checks) else \
        " (cloud kms has no verify api: offline only)"
    return DrillVerdict(outcome="PASSED", generation=target.generation,
                        reason=f"signed and verified with {', '.join(a.name for a in algorithms)}"
                               f"{note}",
                        details={"checks": checks, "ref": target.ref,
                                 "public_key_sha256": _short(public)})


def _pinned(ctx: DrillContext, key: KeyDecl, target: KeyTarget, result: DrillVerdict) -> DrillVerdict:
    """`result`, unless the generation's public key differs from the one first recorded."""
    now = result.details.get("public_key_sha256")
    if result.outcome != "PASSED" or not isinstance(now, str):
        return result
    first = _first_fingerprint(ctx, key, target.generation)
    if first is not None and first != now:
        ctx.step("sign-canary.identity", target.ref, outcome="failed",
                 reason=f"public key {now} != {first}")
        return DrillVerdict(outcome="INTEGRITY_ALARM", generation=target.generation,
                            reason=f"the public key of {key.name} generation {target.generation} "
                                   f"changed since its first drill (recorded {first}, now {now})",
                            details={**result.details, "public_key_first_sha256": first})
    return result


def _verify_only(ctx: DrillContext, kms: KmsDrillPort, target: KeyTarget) -> DrillVerdict:
    """A verify-only generation: its public key and Verify still work for its signatures."""
    try:
        out = sign_and_verify(ctx, kms, target)
    except CloudCallError as exc:
        if exc.code not in ("AccessDeniedException", "PERMISSION_DENIED"):
            raise
        # the key policy forbids Sign, as it should: re-verify the last signature the canary
        # made with this generation while it was current
        return _reverify_stored(ctx, kms, target)
    out.reason = f"verify-only generation: {out.reason}"
    return out


def _reverify_stored(ctx: DrillContext, kms: KmsDrillPort, target: KeyTarget) -> DrillVerdict:
    previous = [r for r in ctx.history() if r.kind == "sign-canary" and r.key == target.key
                and r.generation == target.generation and r.passed and r.details.get("checks")]
    if not previous:
        return DrillVerdict(outcome="SKIPPED", generation=target.generation,
                            reason="verify-only generation: signing is refused and no earlier "
                                   "signature of it is in the evidence")
    public = kms.public_key(target.ref)
    algs = {a.name: a for a in signing_algorithms(kms.cloud, target.spec)}
    for check in previous[-1].details["checks"]:
        alg = algs.get(check["algorithm"])
        if alg is None:
            continue
        digest, sig = base64.b64decode(check["digest"]), base64.b64decode(check["signature"])
        api_ok = kms.verify(target.ref, digest, sig, alg.name)
        if api_ok is False or not verify_offline(public, alg, digest, sig):
            return DrillVerdict(outcome="INTEGRITY_ALARM", generation=target.generation,
                                reason=f"stored signature of {target.key} generation "
                                       f"{target.generation} no longer verifies")
    return DrillVerdict(outcome="PASSED", generation=target.generation,
                        reason="verify-only generation: stored signature still verifies")


def _round_trip(ctx: DrillContext, kms: KmsDrillPort, key: KeyDecl, target: KeyTarget
                ) -> DrillVerdict:
    context = {"keyplane:drill": ctx.run_id, "keyplane:key": key.name}
    plaintext = os.urandom(32)
    ciphertext = kms.encrypt(target.ref, plaintext, context)
    back = kms.decrypt(target.ref, ciphertext, context)
    ctx.step("sign-canary.round-trip", target.ref, outcome="ok" if back == plaintext else "failed")
    if back != plaintext:
        return DrillVerdict(outcome="INTEGRITY_ALARM", generation=target.generation,
                            reason=f"decrypt of {key.name} returned different plaintext")
    try:
        kms.decrypt(target.ref, ciphertext, {**context, "keyplane:drill": "wrong-context"})
    except CloudCallError:
        pass
    else:
        return DrillVerdict(outcome="INTEGRITY_ALARM", generation=target.generation,
                            reason=f"decrypt of {key.name} accepted a wrong encryption context")
    return DrillVerdict(outcome="PASSED", generation=target.generation,
                        reason="encrypt/decrypt round trip with encryption context; wrong context "
                               "refused", details={"ref": target.ref})


def _mac(ctx: DrillContext, kms: KmsDrillPort, key: KeyDecl, target: KeyTarget) -> DrillVerdict:
    alg = AWS_MAC.get(target.spec, target.spec)
    message = os.urandom(32)
    mac = kms.generate_mac(target.ref, message, alg)
    ok = kms.verify_mac(target.ref, message, mac, alg)
    tampered = kms.verify_mac(target.ref, message + b"!", mac, alg)
    ctx.step("sign-canary.mac", target.ref, outcome="ok" if ok and not tampered else "failed")
    if not ok or tampered:
        return DrillVerdict(outcome="INTEGRITY_ALARM", generation=target.generation,
                            reason=f"mac of {key.name}: "
                                   + ("valid tag rejected" if not ok else "tampered message accepted"))
    return DrillVerdict(outcome="PASSED", generation=target.generation,
                        reason=f"GenerateMac/VerifyMac with {alg}; tampered message refused",
                        details={"ref": target.ref})


def map_generations(key: KeyDecl, targets: list[KeyTarget]) -> list[KeyTarget]:
    """Name targets by the inventory's generations: the current one is `key.generation`;
    Cloud KMS versions map in order onto the live generations when their counts agree."""
    live = sorted(g.generation for g in key.generations
                  if g.enabled or g.generation == key.generation)
    if all(t.generation is None or t.ref.startswith("arn:") for t in targets):
        return [replace(t, generation=key.generation) if t.current and t.generation is None
                else t for t in targets]
    ordered = sorted(targets, key=lambda t: t.generation or 0)
    if len(live) == len(ordered):
        names = {t.ref: g for t, g in zip(ordered, live, strict=True)}
        return [replace(t, generation=names[t.ref]) for t in targets]
    return [replace(t, generation=key.generation if t.current else None) for t in targets]


def _not_this_key(key: KeyDecl, target: KeyTarget) -> str | None:
    """Why the key the alias resolves to is not the deployed current generation of `key`
    (None when it is). Only AWS keys carry the tags this reads (`tagged`)."""
    if not target.ref.startswith("arn:") or not target.current:
        return None
    if not target.tagged:
        return f"{target.ref} carries no keyplane:key tag"
    if target.tag_key != key.name:
        return f"{target.ref} is tagged as key {target.tag_key}"
    if key.generation is not None and target.tag_generation not in (None, key.generation):
        return f"{target.ref} is generation {target.tag_generation}, not {key.generation}"
    return None


def _first_fingerprint(ctx: DrillContext, key: KeyDecl, generation: int | None) -> str | None:
    """The public key fingerprint recorded at this generation's first passing canary."""
    for r in sorted(ctx.history(), key=lambda r: r.started_at):
        if r.kind == "sign-canary" and r.key == key.name and r.generation == generation \
                and r.passed and isinstance(r.details.get("public_key_sha256"), str):
            return str(r.details["public_key_sha256"])
    return None


def _retired(ctx: DrillContext, key: KeyDecl, target: KeyTarget) -> tuple[bool, str]:
    """(past its overlap window, a description) for a generation that is not current."""
    gen = next((g for g in key.generations if g.generation == target.generation), None)
    until = gen.verify_until if gen is not None else None
    today = dt.datetime.fromtimestamp(ctx.now(), tz=dt.UTC).date()
    if until is None or until < today:
        return True, f"past its overlap window ({until or 'no verify_until'})"
    return False, f"inside its overlap window (verify until {until})"


def sign_canary(ctx: DrillContext, key: KeyDecl, kms: KmsDrillPort, *, alias: str | None,
                crypto_key: str | None) -> list[DrillVerdict]:
    """One outcome per deployed generation of `key` (current first).

    Identity is pinned: the key the alias resolves to must be tagged as this key's current
    generation, and a generation's public key must be the one recorded at its first passing
    drill; either failing is an INTEGRITY_ALARM, never a canary signed with whatever the
    alias points to.
    """
    try:
        targets = kms.targets(key.name, alias, crypto_key)
    except CloudCallError as exc:
        return [classify(exc, f"finding {key.name}")]
    if not targets:
        return [DrillVerdict(outcome="KEY_STATE", generation=key.generation,
                             reason=f"no deployed key found for {key.name}")]
    targets = map_generations(key, targets)
    out = []
    claims: dict[int, list[str]] = {}
    for t in targets:
        if t.ref.startswith("arn:") and t.tag_generation is not None:
            claims.setdefault(t.tag_generation, []).append(t.ref)
    twice = {g: refs for g, refs in claims.items() if len(refs) > 1}
    for gen, refs in sorted(twice.items()):
        ctx.step("sign-canary.identity", key.name, outcome="failed",
                 reason=f"generation {gen} claimed by {len(refs)} keys")
        out.append(DrillVerdict(outcome="INTEGRITY_ALARM", generation=gen,
                                reason=f"{len(refs)} keys are tagged as generation {gen} of "
                                       f"{key.name} ({', '.join(sorted(refs))}); nothing was signed",
                                details={"refs": sorted(refs)}))
    targets = [t for t in targets if t.tag_generation not in twice]
    for target in targets:
        foreign = _not_this_key(key, target)
        if foreign is not None:
            ctx.step("sign-canary.identity", target.ref, outcome="failed", reason=foreign)
            # generation None: the alarm is about the alias; the tagged generations are still
            # drilled below, each under its own number
            out.append(DrillVerdict(outcome="INTEGRITY_ALARM", generation=None,
                                    reason=f"{alias or key.name} does not resolve to the deployed "
                                           f"generation of {key.name}: {foreign}; nothing was signed",
                                    details={"ref": target.ref}))
            continue
        if not target.current and target.state not in _ENABLED:
            past, when = _retired(ctx, key, target)
            if past:
                ctx.step("sign-canary.retired", target.ref, outcome="skipped",
                         reason=f"generation {target.generation} {target.state}, {when}")
                continue  # a retirement on schedule: nothing to prove
            out.append(DrillVerdict(
                outcome="KEY_STATE", generation=target.generation,
                reason=f"verify-only generation {target.generation} of {key.name} is "
                       f"{target.state} {when}: signatures it made can no longer be verified",
                details={"ref": target.ref}))
            continue
        if target.state not in _ENABLED and (target.current or key.usage is KeyUsage.SIGN):
            ctx.step("sign-canary.state", target.ref, outcome="failed", reason=target.state)
            out.append(DrillVerdict(outcome="KEY_STATE", generation=target.generation,
                                    reason=f"{key.name} generation {target.generation} is "
                                           f"{target.state}", details={"ref": target.ref}))
            continue
        try:
            if key.usage is KeyUsage.SIGN:
                result = sign_and_verify(ctx, kms, target) if target.current \
                    else _verify_only(ctx, kms, target)
                out.append(_pinned(ctx, key, target, result))
            elif not target.current:
                continue  # older material of a symmetric key: the current one proves the key
            elif target.spec not in SYMMETRIC_SPECS and key.usage is KeyUsage.ENCRYPT:
                out.append(DrillVerdict(outcome="SKIPPED", generation=target.generation,
                                        reason=f"asymmetric decryption key ({target.spec}): "
                                               "no canary yet"))
            elif key.usage is KeyUsage.MAC:
                out.append(_mac(ctx, kms, key, target))
            else:
                out.append(_round_trip(ctx, kms, key, target))
        except CloudCallError as exc:
            o = classify(exc, f"{key.name} generation {target.generation}")
            o.generation = target.generation
            out.append(o)
    return out
