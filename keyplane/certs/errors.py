"""Errors of certificate requests (codes KP900-KP909).

Every refusal names what was given and what is allowed. Bad input and a generation
that may not sign exit 2; a deployed key that is not the one the inventory and the
drill evidence say it is exits 1 (an integrity finding: nothing was signed or written);
a KMS that is throttled or unavailable exits 3 (try again).
"""

from __future__ import annotations

from keyplane.errors import KeyplaneError

SUBJECT_INVALID = "KP900"
SAN_INVALID = "KP901"
KEY_REF_INVALID = "KP902"
KEY_CANNOT_SIGN = "KP903"
GENERATION_REFUSED = "KP904"
ALGORITHM_INVALID = "KP905"
DEPLOYED_KEY_UNUSABLE = "KP906"
IDENTITY_NOT_PINNED = "KP907"
IDENTITY_MISMATCH = "KP908"
KMS_CALL_FAILED = "KP909"


class CsrError(KeyplaneError):
    """Base of the certificate-request errors (exit 2 unless a subclass says otherwise)."""

    code = SUBJECT_INVALID


class SubjectError(CsrError):
    """`--subject` is not an RFC 4514 distinguished name keyplane can encode."""

    code = SUBJECT_INVALID


class SanError(CsrError):
    """A `--san` is malformed or of an unknown type."""

    code = SAN_INVALID


class KeyRefError(CsrError):
    """`KEY[@gN]` is malformed or names no declared key."""

    code = KEY_REF_INVALID


class KeyCannotSignError(CsrError):
    """The key is not a signing key, or its spec has no certificate-request support."""

    code = KEY_CANNOT_SIGN


class GenerationRefusedError(CsrError):
    """The generation is not the current one (verify-only, disabled) or is not declared."""

    code = GENERATION_REFUSED


class AlgorithmError(CsrError):
    """`--algorithm` is not a signing algorithm of the key's spec."""

    code = ALGORITHM_INVALID


class DeployedKeyError(CsrError):
    """The generation is not deployed, not enabled, or deployed with another spec or usage."""

    code = DEPLOYED_KEY_UNUSABLE


class NotPinnedError(CsrError):
    """The tier requires a public key recorded by a passing sign canary, and none is."""

    code = IDENTITY_NOT_PINNED


class IdentityMismatchError(CsrError):
    """The deployed key is not provably the generation's: alias, tags, recorded public key
    or the returned signature disagree. An integrity finding (exit 1); nothing is written."""

    code = IDENTITY_MISMATCH
    exit_code = 1


class KmsCallError(CsrError):
    """A KMS call failed: denied or refused (exit 2), throttled or unavailable (exit 3)."""

    code = KMS_CALL_FAILED

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
        self.exit_code = 3 if transient else 2
