"""Refusals of the desired state: a declaration keyplane will not plan.

Each is raised before any resource exists, with a stable code and a message that says
what was given and what is allowed.
"""

from __future__ import annotations

from keyplane.errors import KeyplaneError


class AwsDeclarationError(KeyplaneError):
    """An AWS key, role or environment setting keyplane cannot plan; the code names the rule.

    Codes: KP301 key material/spec, KP302 rotation, KP303 deletion window, KP304 replicas,
    KP305 generations, KP306 principals, KP307 cloudhsm, KP308 audit, KP309 backup,
    KP310 provider/regions, KP311 alarms, KP312 adopted resources (imported, not created).
    """

    code = "KP300"


class GcpDeclarationError(KeyplaneError):
    """A GCP key, key ring or environment setting that Cloud KMS would refuse or keyplane forbids."""

    code = "KP320"


class HsmUnavailableError(GcpDeclarationError):
    """A key asks for protection level HSM in a location known not to offer it."""

    code = "KP321"


class GcpIdError(GcpDeclarationError):
    """A Cloud KMS id (key ring, crypto key, import job) outside `[a-zA-Z0-9_-]{1,63}`."""

    code = "KP322"


class GcpIamMemberError(GcpDeclarationError):
    """A Cloud IAM member or role keyplane never grants on keys (public, primitive, malformed)."""

    code = "KP323"


class GcpLocationError(GcpDeclarationError):
    """A location that cannot hold what keyplane must put there (audit or escrow bucket)."""

    code = "KP324"


class GcpEscrowError(GcpDeclarationError):
    """An imported key whose escrow copy cannot be kept in a locked, CMEK-encrypted bucket."""

    code = "KP325"


class GcpRotationError(GcpDeclarationError):
    """A rotation or destroy-scheduled setting Cloud KMS does not accept for this key."""

    code = "KP326"


class GcpAdoptError(GcpDeclarationError):
    """Adopted GCP resources (`adopt` blocks) that cannot be imported as declared."""

    code = "KP327"
