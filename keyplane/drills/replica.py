"""The replica drill: a multi-Region key works in each replica Region as it does at home.

Signing keys: sign in the replica Region, verify with the primary's public key (offline)
and through the primary's API. Encryption keys: decrypt in the replica what the primary
encrypted. A replica that is missing, disabled or not a replica of this primary fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from keyplane.cloudcall import CloudCallError, KeyMissingError
from keyplane.drills.base import DrillContext, DrillVerdict, classify
from keyplane.drills.canary import sign_and_verify
from keyplane.drills.ports import KmsDrillPort
from keyplane.model.environment import KeyDecl
from keyplane.model.specs import KeyUsage


def replica_arn(primary_arn: str, region: str) -> str:
    """The ARN of a multi-Region key's replica: same key id, other Region."""
    parts = primary_arn.split(":")
    parts[3] = region
    return ":".join(parts)


def replica_drill(ctx: DrillContext, key: KeyDecl, primary: KmsDrillPort,
                  replica_port: Callable[[str], KmsDrillPort], *, alias: str | None
                  ) -> list[DrillVerdict]:
    """One outcome per replica Region of `key`."""
    out: list[DrillVerdict] = []
    try:
        home = primary.describe(alias or key.name)
    except CloudCallError as exc:
        return [classify(exc, f"primary of {key.name}")]
    for region in key.replica_regions or ():
        start = ctx.now()
        port = replica_port(region)
        arn = replica_arn(home.ref, region)
        what = f"replica of {key.name} in {region}"
        try:
            rep = port.describe(arn)
        except KeyMissingError:
            ctx.step("replica.describe", arn, outcome="failed", reason="missing")
            out.append(DrillVerdict(outcome="FAILED", generation=key.generation,
                                    reason=f"{what} is missing", details={"region": region},
                                    target=f"{key.name}@{region}"))
            continue
        except CloudCallError as exc:
            failed = classify(exc, what)
            failed.generation, failed.target = key.generation, f"{key.name}@{region}"
            failed.details["region"] = region
            out.append(failed)
            continue
        if rep.state != "Enabled":
            ctx.step("replica.describe", arn, outcome="failed", reason=rep.state)
            out.append(DrillVerdict(outcome="KEY_STATE", generation=key.generation,
                                    reason=f"{what} is {rep.state}", details={"region": region},
                                    target=f"{key.name}@{region}"))
            continue
        if rep.multi_region_primary and rep.multi_region_primary != home.ref:
            out.append(DrillVerdict(outcome="FAILED", generation=key.generation,
                                    reason=f"{what} replicates {rep.multi_region_primary}, not "
                                           f"{home.ref}", details={"region": region},
                                    target=f"{key.name}@{region}"))
            continue
        try:
            if key.usage is KeyUsage.SIGN:
                o = sign_and_verify(ctx, port, rep, public_from=primary, public_ref=home.ref,
                                    verify_api=primary)
            else:
                context = {"keyplane:drill": ctx.run_id, "keyplane:key": key.name}
                value = os.urandom(32)
                ciphertext = primary.encrypt(home.ref, value, context)
                back = port.decrypt(rep.ref, ciphertext, context)
                ok = back == value
                ctx.step("replica.decrypt", rep.ref, outcome="ok" if ok else "failed")
                o = DrillVerdict(outcome="PASSED" if ok else "INTEGRITY_ALARM",
                                 reason=("replica decrypted what the primary encrypted" if ok else
                                         f"{what} decrypted to different plaintext"))
        except CloudCallError as exc:
            o = classify(exc, what)
        o.generation = key.generation
        o.target = f"{key.name}@{region}"
        o.rto_seconds = round(ctx.now() - start, 3)
        o.details.update(region=region, replica=rep.ref, primary=home.ref)
        out.append(o)
    return out
