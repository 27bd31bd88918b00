"""The escrow drill: the escrow copy of an imported key can really re-create it.

The wrapped copy (keyplane's envelope: a data key encrypted under the environment's
backup key, the PKCS#8 private key sealed with it by AES-GCM) is fetched, unwrapped in
memory only, its public key compared with the deployed key's, and a digest signed with
it locally is verified through the KMS API. The material never reaches a file, a log,
an event or the evidence: only fingerprints of public keys do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyplane.cloudcall import CloudCallError
from keyplane.drills.base import DrillContext, DrillVerdict, classify
from keyplane.drills.crypto import public_der, sign_locally, signing_algorithms
from keyplane.drills.ports import EscrowPort, KmsDrillPort
from keyplane.model.environment import KeyDecl

ESCROW_FORMAT = "keyplane-escrow-v1"


def escrow_context(key_name: str) -> dict[str, str]:
    """The encryption context binding a wrapped data key to its key."""
    return {"keyplane:escrow": key_name}


def unwrap(blob: bytes, key_name: str, kms: KmsDrillPort, wrapping_ref: str
           ) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """The private key in an escrow envelope, in memory; ValueError when it is not one."""
    doc = json.loads(blob)
    if doc.get("format") != ESCROW_FORMAT or doc.get("key") != key_name:
        raise ValueError(f"not a {ESCROW_FORMAT} envelope of {key_name}")
    data_key = kms.decrypt(wrapping_ref, base64.b64decode(doc["wrapped_data_key"]),
                           escrow_context(key_name))
    der = AESGCM(data_key).decrypt(base64.b64decode(doc["nonce"]),
                                   base64.b64decode(doc["sealed_key"]), key_name.encode())
    priv = serialization.load_der_private_key(der, password=None)
    if not isinstance(priv, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"escrow of {key_name} holds an unsupported key type")
    return priv


def seal(private_der: bytes, key_name: str, kms: KmsDrillPort, wrapping_ref: str) -> bytes:
    """An escrow envelope for `private_der` (used by the sandbox seed and tests)."""
    data_key = os.urandom(32)
    nonce = os.urandom(12)
    sealed = AESGCM(data_key).encrypt(nonce, private_der, key_name.encode())
    wrapped = kms.encrypt(wrapping_ref, data_key, escrow_context(key_name))
    return json.dumps({"format": ESCROW_FORMAT, "key": key_name,
                       "wrapped_data_key": base64.b64encode(wrapped).decode(),
                       "nonce": base64.b64encode(nonce).decode(),
                       "sealed_key": base64.b64encode(sealed).decode()}).encode()


def escrow_drill(ctx: DrillContext, key: KeyDecl, kms: KmsDrillPort, escrow: EscrowPort, *,
                 alias: str | None, wrapping_alias: str) -> DrillVerdict:
    """Fetch, unwrap in memory, compare public keys, sign locally, verify through KMS."""
    assert key.escrow is not None
    where = key.escrow.location
    try:
        target = kms.describe(alias or key.name)
        if target.spec in ("SYMMETRIC_DEFAULT", "GOOGLE_SYMMETRIC_ENCRYPTION"):
            return DrillVerdict(outcome="SKIPPED", generation=key.generation,
                                reason="escrow drill covers asymmetric keys; symmetric imported "
                                       "material cannot be compared without exporting it")
        blob = escrow.fetch(where)
        ctx.step("escrow.fetch", where, bytes=len(blob))
        try:
            priv = unwrap(blob, key.name, kms, wrapping_alias)
        except (ValueError, KeyError) as exc:
            ctx.step("escrow.unwrap", where, outcome="failed", reason=type(exc).__name__)
            return DrillVerdict(outcome="FAILED", generation=key.generation,
                                reason=f"escrow copy at {where} cannot be unwrapped "
                                       f"({type(exc).__name__})")
        deployed = public_der(kms.public_key(target.ref))
        escrowed = priv.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        fp = {"deployed_public_key_sha256": hashlib.sha256(deployed).hexdigest()[:16],
              "escrowed_public_key_sha256": hashlib.sha256(escrowed).hexdigest()[:16]}
        if deployed != escrowed:
            ctx.step("escrow.compare", target.ref, outcome="failed", **fp)
            return DrillVerdict(outcome="INTEGRITY_ALARM", generation=key.generation, details=fp,
                                reason=f"escrow copy of {key.name} does not match the deployed key")
        algorithms = signing_algorithms(kms.cloud, target.spec)
        if not algorithms:
            return DrillVerdict(outcome="SKIPPED", generation=key.generation, details=fp,
                                reason=f"escrow copy matches; no signing check for {target.spec}")
        for alg in algorithms:
            digest = os.urandom(alg.digest_size)
            signature = sign_locally(priv, alg, digest)
            ok = kms.verify(target.ref, digest, signature, alg.name)
            ctx.step("escrow.verify", target.ref, outcome="ok" if ok is not False else "failed",
                     algorithm=alg.name)
            if ok is False:
                return DrillVerdict(outcome="INTEGRITY_ALARM", generation=key.generation, details=fp,
                                    reason=f"kms rejected a signature made with the escrow copy of "
                                           f"{key.name} ({alg.name})")
        del priv  # drop the only reference as soon as it is no longer needed
        return DrillVerdict(outcome="PASSED", generation=key.generation, details=fp,
                            reason="escrow copy unwrapped in memory, matches the deployed key, and "
                                   "its signature verifies through kms")
    except CloudCallError as exc:
        return classify(exc, f"escrow drill of {key.name}")
