"""What the GCP half of an environment consists of, decided from the model alone.

`plan_environment(env)` validates the environment's GCP declarations eagerly and
returns plain records (key rings, crypto keys, versions, grants, audit trail, alerts)
that `keyplane.constructs.gcp.GcpEnvironment` turns into resources one to one. No cdktn
here: the plan is cheap to build and to test, and every refusal happens before any
resource exists. Names come from `keyplane.desired.names`.

Every number comes from the tier table (`keyplane.model.tiers`) or the provider
limits (`keyplane.model.limits`); rotation is decided by `rotation_eligibility`.

A record with an `import_id` stands for a resource that already exists (an adopted crypto
key, its key ring, the version that became its generation: the inventory's `adopt` blocks);
the construct renders a Terraform `import` block for it instead of a create.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from keyplane.desired.errors import (
    GcpAdoptError,
    GcpDeclarationError,
    GcpEscrowError,
    GcpIamMemberError,
    GcpIdError,
    GcpLocationError,
    GcpRotationError,
    HsmUnavailableError,
)
from keyplane.desired.names import (
    GCP_AUDIT_KEY_NAME,
    gcp_alert_prefix,
    gcp_audit_bucket_name,
    gcp_audit_sink_name,
    gcp_default_key_ring_name,
)
from keyplane.model import limits
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.gcp_locations import (
    hsm_available,
    hsm_source,
    is_region,
    storage_location,
)
from keyplane.model.specs import (
    DEFAULT_SPEC,
    GCP_ALGORITHMS,
    Cloud,
    KeyFamily,
    KeyUsage,
    Origin,
    gcp_purpose,
    rotation_eligibility,
)
from keyplane.model.tags import (
    GCP_LABEL_CREATED_ON,
    GCP_LABEL_ENV,
    GCP_LABEL_GENERATION,
    gcp_labels,
)
from keyplane.model.tiers import (
    DESTRUCTIVE_EVENTS,
    POLICY_EVENTS,
    SIGN_OUTSIDE_CEREMONY,
    TIERS,
    Tier,
    TierPolicy,
    highest,
)

SECONDS_PER_DAY = 86_400
KMS_SERVICE = "cloudkms.googleapis.com"
AUDIT_LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
AUDIT_KEY_NAME = GCP_AUDIT_KEY_NAME
# Wraps imported material for transport; 3072-bit RSA-OAEP with SHA-256 and an AES-256
# layer carries keys of any size (https://cloud.google.com/kms/docs/key-wrapping).
IMPORT_METHOD = "RSA_OAEP_3072_SHA256_AES_256"

# Roles keyplane grants: permissions are data.
ROLE_ADMIN = "roles/cloudkms.admin"
ROLE_VIEWER = "roles/cloudkms.viewer"
ROLE_ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
ROLE_DECRYPTER = "roles/cloudkms.cryptoKeyDecrypter"
ROLE_SIGNER_VERIFIER = "roles/cloudkms.signerVerifier"
ROLE_PUBLIC_KEY_VIEWER = "roles/cloudkms.publicKeyViewer"
ROLE_OBJECT_CREATOR = "roles/storage.objectCreator"
ROLE_OBJECT_VIEWER = "roles/storage.objectViewer"

# What each usage needs on its own key, and nothing more. MAC keys sign and verify
# tags with the signer/verifier role (https://cloud.google.com/kms/docs/create-validate-mac-signatures).
USAGE_ROLES: dict[str, tuple[str, ...]] = {
    "ENCRYPT_DECRYPT": (ROLE_ENCRYPTER_DECRYPTER,),
    "ASYMMETRIC_DECRYPT": (ROLE_DECRYPTER, ROLE_PUBLIC_KEY_VIEWER),
    "ASYMMETRIC_SIGN": (ROLE_SIGNER_VERIFIER,),
    "MAC": (ROLE_SIGNER_VERIFIER,),
}

PUBLIC_MEMBERS = frozenset({"allusers", "allauthenticatedusers"})
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
_MEMBER = re.compile(r"^(user|serviceAccount|group|domain|principal|principalSet):\S+$")
_GCP_ID = re.compile(limits.GCP_ID_PATTERN)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")

# The sign-volume anomaly alert of tiers with `sign_volume_anomaly_alarm`: the last
# hour's AsymmetricSign rate against the same key's hourly average over a week. The
# tier table holds the switch; these are the detector's shape, not a tier control.
SIGN_VOLUME_WINDOW = "1h"
SIGN_VOLUME_BASELINE = "7d"
SIGN_VOLUME_FACTOR = 3

# The Cloud KMS methods that use key material, for the ca tier's ceremony-only alert.
CRYPTO_USE_METHODS = ("AsymmetricSign", "AsymmetricDecrypt", "Decrypt", "Encrypt",
                      "MacSign", "RawDecrypt", "RawEncrypt")


@dataclass(frozen=True)
class RingPlan:
    """One `google_kms_key_ring`."""

    construct_id: str
    name: str
    location: str
    import_id: str | None = None  # projects/.../keyRings/R, when the ring exists already


@dataclass(frozen=True)
class VersionPlan:
    """One `google_kms_crypto_key_version`: a live generation of a key that cannot rotate."""

    construct_id: str
    generation: int
    state: str  # ENABLED | DISABLED
    current: bool
    import_id: str | None = None  # .../cryptoKeyVersions/N, the version adopted as this one


@dataclass(frozen=True)
class ImportJobPlan:
    """One `google_kms_key_ring_import_job` for an imported (`origin: external`) key."""

    construct_id: str
    import_job_id: str
    protection_level: str
    import_method: str = IMPORT_METHOD


@dataclass(frozen=True)
class Grant:
    """One additive IAM member on a key ring, crypto key or bucket."""

    construct_id: str
    role: str
    member: str


@dataclass(frozen=True)
class KeyPlan:
    """One `google_kms_crypto_key` and what hangs off it."""

    construct_id: str
    name: str
    ring: RingPlan
    tier: Tier
    purpose: str
    algorithm: str
    protection_level: str
    destroy_scheduled_duration: str
    prevent_destroy: bool
    labels: dict[str, str]
    rotation_period: str | None = None
    skip_initial_version_creation: bool = False
    import_only: bool = False
    versions: tuple[VersionPlan, ...] = ()
    import_job: ImportJobPlan | None = None
    grants: tuple[Grant, ...] = ()
    output_name: str | None = None
    usage: KeyUsage = KeyUsage.ENCRYPT
    import_id: str | None = None  # projects/.../cryptoKeys/K, when the key exists (adopted)

    @property
    def current_version(self) -> VersionPlan | None:
        """The version workloads are told to use."""
        return next((v for v in self.versions if v.current), None)

    def resource_name(self, project: str) -> str:
        """`projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>`, for log filters."""
        return (f"projects/{project}/locations/{self.ring.location}/keyRings/"
                f"{self.ring.name}/cryptoKeys/{self.name}")


@dataclass(frozen=True)
class BucketPlan:
    """A locked, versioned, CMEK-encrypted Cloud Storage bucket (audit trail or escrow)."""

    construct_id: str
    name: str
    location: str
    retention_in_days: int
    kms_key: str  # construct id of the crypto key that encrypts it
    labels: dict[str, str]
    prevent_destroy: bool
    readers: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class AlertPlan:
    """A log-based metric and the alert policy on it."""

    construct_id: str
    metric_name: str
    display_name: str
    log_filter: str
    severity: str
    description: str
    volume_anomaly: bool = False  # PromQL baseline comparison instead of "any occurrence"


@dataclass(frozen=True)
class AuditPlan:
    """The environment's shared audit trail, sized by the highest tier among its GCP keys."""

    tier: Tier
    data_access_log_types: tuple[str, ...]
    bucket: BucketPlan | None
    audit_key: KeyPlan | None
    sink_name: str | None
    sink_filter: str | None


@dataclass(frozen=True)
class GcpPlan:
    """Everything the GCP half of one environment creates."""

    project: str
    region: str | None
    rings: tuple[RingPlan, ...]
    keys: tuple[KeyPlan, ...]
    ring_grants: dict[str, tuple[Grant, ...]]
    audit: AuditPlan | None
    escrow_buckets: tuple[BucketPlan, ...]
    alerts: tuple[AlertPlan, ...]
    default_labels: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> KeyPlan:
        """The planned crypto key called `name`."""
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)


# ---- helpers ----

def slug(text: str) -> str:
    """A construct-id-safe form of a member or name: letters, digits and '-'."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def duration(days: int) -> str:
    """Days as a Cloud KMS duration string (`"2592000s"`)."""
    return f"{days * SECONDS_PER_DAY}s"


def check_gcp_id(kind: str, value: str) -> None:
    """Refuse a Cloud KMS id outside `[a-zA-Z0-9_-]{1,63}`."""
    if not _GCP_ID.match(value):
        raise GcpIdError(f"{kind} '{value}' must match {limits.GCP_ID_PATTERN}")


def check_member(member: str, where: str) -> None:
    """Refuse public, malformed or deleted-principal members before they reach a binding."""
    if member.strip().lower() in PUBLIC_MEMBERS:
        raise GcpIamMemberError(
            f"{where}: member '{member}' is public; keyplane never grants key access to "
            "allUsers or allAuthenticatedUsers")
    if not _MEMBER.match(member):
        raise GcpIamMemberError(
            f"{where}: member '{member}' must be user:, serviceAccount:, group:, domain:, "
            "principal: or principalSet: followed by an identity")


def check_role(role: str, where: str) -> None:
    """Refuse primitive roles: they grant far more than any key duty needs."""
    if role in PRIMITIVE_ROLES or not role.startswith("roles/"):
        raise GcpIamMemberError(
            f"{where}: role '{role}' is not allowed; keyplane grants predefined cloudkms and "
            "storage roles only, never roles/owner, roles/editor or roles/viewer")


def _grant(scope_id: str, role: str, member: str, where: str) -> Grant:
    check_role(role, where)
    check_member(member, where)
    return Grant(grant_id(scope_id, role, slug(member)), role, member)


def grant_id(scope_id: str, role: str, who: str) -> str:
    """The construct id of one grant: `<scope>-<role>-<member>`, e.g. `key-x-cloudkms-signer-...`."""
    return f"{scope_id}-{slug(role.removeprefix('roles/'))}-{who}"


def _unique(grants: list[Grant]) -> tuple[Grant, ...]:
    """Drop repeated grants; refuse two members that would share one construct id."""
    seen: dict[str, Grant] = {}
    for g in grants:
        other = seen.setdefault(g.construct_id, g)
        if other != g:
            raise GcpIamMemberError(f"members '{other.member}' and '{g.member}' are too alike "
                                    f"to tell apart in construct id '{g.construct_id}'")
    return tuple(seen.values())


def _check_hsm(level: str, location: str, what: str) -> None:
    if level == "HSM" and hsm_available(location) is False:
        raise HsmUnavailableError(
            f"{what} asks for protection_level HSM in gcp location '{location}', which does "
            f"not offer cloud hsm; choose a regional or multi-regional location "
            f"({hsm_source(location)})")


def _family(key: KeyDecl) -> KeyFamily:
    assert key.spec is not None
    info = GCP_ALGORITHMS.get(key.spec)
    if info is None:
        allowed = ", ".join(GCP_ALGORITHMS)
        raise GcpDeclarationError(f"key '{key.name}': spec '{key.spec}' is not a cloud kms "
                                  f"algorithm; allowed: {allowed}")
    return info.family


def _filled(env: Environment, key: KeyDecl) -> KeyDecl:
    """The key with the implied values the loader fills, for hand-built environments."""
    assert env.gcp is not None
    pol = TIERS[key.tier]
    update: dict[str, object] = {}
    if key.spec is None:
        update["spec"] = DEFAULT_SPEC[(Cloud.GCP, key.usage)]
    if key.location is None:
        update["location"] = env.gcp.location
    if key.key_ring is None:
        update["key_ring"] = env.gcp.key_ring or gcp_default_key_ring_name(env.name)
    if key.protection_level is None:
        update["protection_level"] = pol.gcp_default_protection_level
    if key.deletion_window_in_days is None:
        update["deletion_window_in_days"] = pol.default_deletion_window_in_days
    if key.origin is None:
        update["origin"] = Origin.KMS
    return key.model_copy(update=update) if update else key


# ---- the plan ----

def _ring_id(name: str, location: str) -> str:
    return f"ring-{name}-{location}"


def _plan_key(env: Environment, key: KeyDecl, ring: RingPlan) -> KeyPlan:
    pol = TIERS[key.tier]
    check_gcp_id("gcp crypto key id", key.name)
    family = _family(key)
    purpose = gcp_purpose(key.usage, family)
    level = key.protection_level or pol.gcp_default_protection_level
    if level not in pol.gcp_protection_levels:
        allowed = ", ".join(sorted(pol.gcp_protection_levels))
        raise GcpDeclarationError(f"key '{key.name}': protection_level '{level}' is below the "
                                  f"{key.tier.value} tier; allowed: {allowed}")
    assert key.location is not None
    _check_hsm(level, key.location, f"key '{key.name}'")

    window = key.deletion_window_in_days
    if window is None:
        window = pol.default_deletion_window_in_days
    lim = limits.GCP_DESTROY_SCHEDULED_DURATION
    if not lim.contains(window) or window < pol.min_deletion_window_in_days:
        raise GcpRotationError(
            f"key '{key.name}': deletion_window_in_days must be {lim.describe()} and at least "
            f"{pol.min_deletion_window_in_days} for the {key.tier.value} tier, got {window}")

    origin = key.origin or Origin.KMS
    elig = rotation_eligibility(cloud=Cloud.GCP, family=family, origin=origin)
    rotation: str | None = None
    if elig:
        days = key.rotation_period_in_days
        if days is None:
            days = pol.max_rotation_period_in_days
        hours = days * 24
        rlim = limits.GCP_ROTATION_PERIOD_HOURS
        if not rlim.contains(hours) or days > pol.max_rotation_period_in_days:
            raise GcpRotationError(
                f"key '{key.name}': rotation_period_in_days must be between "
                f"{rlim.minimum // 24} and {pol.max_rotation_period_in_days} for the "
                f"{key.tier.value} tier on gcp, got {days} ({rlim.source})")
        rotation = duration(days)
    elif key.rotation_period_in_days is not None:
        raise GcpRotationError(f"key '{key.name}' cannot rotate automatically: {elig.reason}")

    key_id = f"key-{key.name}"
    adopt = key.adopt if key.adopt is not None and key.adopt.gcp_crypto_key else None
    # an adopted key keeps its own labels beside keyplane's (keyplane's win)
    labels = {**(adopt.labels if adopt else {}), **gcp_labels(env.name, key.tier, key.name)}
    versions: list[VersionPlan] = []
    import_job: ImportJobPlan | None = None
    output: str | None = None
    imported = origin is Origin.EXTERNAL
    if not elig:
        current = key.current_generation()
        if current is None:
            raise GcpDeclarationError(
                f"key '{key.name}' cannot rotate automatically, so it needs 'generation: N' "
                "and a matching entry in 'generations'")
        labels[GCP_LABEL_GENERATION] = str(current.generation)
        labels[GCP_LABEL_CREATED_ON] = current.created_on.isoformat()
        if imported:
            # Versions of an import-only key arrive through the import job, never from Terraform.
            job_id = f"{key.name}-gen-{current.generation}"
            check_gcp_id("gcp import job id", job_id)
            import_job = ImportJobPlan(f"{key_id}-import-gen-{current.generation}", job_id,
                                       level)
            output = f"gcp_{key.name.replace('-', '_')}_import_job"
        else:
            for gen in sorted(key.generations, key=lambda g: g.generation):
                is_current = gen.generation == current.generation
                adopted = adopt is not None and adopt.generation == gen.generation
                versions.append(VersionPlan(
                    f"{key_id}-gen-{gen.generation}", gen.generation,
                    "ENABLED" if (is_current or gen.enabled) else "DISABLED", is_current,
                    import_id=adopt.crypto_key_version if adopted and adopt else None))
            output = f"gcp_{key.name.replace('-', '_')}_current_version"

    grants: list[Grant] = []
    users = [(env.workload(u).gcp, u) for u in key.users]
    for identity, name in users:
        if identity is None:
            raise GcpIamMemberError(f"key '{key.name}': workload '{name}' has no gcp member")
        for role in USAGE_ROLES[purpose]:
            grants.append(_grant(key_id, role, identity.member, f"key '{key.name}'"))
    if key.tier is Tier.CA and env.principals.ceremony is not None:
        # ca keys are used only by the ceremony role.
        for member in env.principals.ceremony.gcp:
            for role in USAGE_ROLES[purpose]:
                grants.append(_grant(key_id, role, member, f"key '{key.name}' (ceremony)"))

    return KeyPlan(
        construct_id=key_id, name=key.name, ring=ring, tier=key.tier, purpose=purpose,
        algorithm=key.spec or "", protection_level=level,
        destroy_scheduled_duration=duration(window), prevent_destroy=pol.prevent_destroy,
        labels=labels, rotation_period=rotation,
        # an existing key has its versions: the creation-time flag would only force a new key
        skip_initial_version_creation=not elig and adopt is None, import_only=imported,
        versions=tuple(versions), import_job=import_job, grants=_unique(grants),
        output_name=output, usage=key.usage,
        import_id=adopt.gcp_crypto_key if adopt else None)


def _plan_audit_key(env: Environment, tier: Tier, ring: RingPlan) -> KeyPlan:
    pol = TIERS[tier]
    level = pol.gcp_default_protection_level
    _check_hsm(level, ring.location, "the audit trail's key")
    key_id = "audit-key"
    return KeyPlan(
        construct_id=key_id, name=AUDIT_KEY_NAME, ring=ring, tier=tier,
        purpose="ENCRYPT_DECRYPT", algorithm="GOOGLE_SYMMETRIC_ENCRYPTION",
        protection_level=level,
        destroy_scheduled_duration=duration(pol.default_deletion_window_in_days),
        # destroying this key would shred the locked audit trail it encrypts: never allow it
        prevent_destroy=True, labels=gcp_labels(env.name, tier),
        # keyplane's own key rotates as often as the strictest tier allows: a CMEK key's
        # older versions keep decrypting, so a short period costs nothing
        rotation_period=duration(min(p.max_rotation_period_in_days for p in TIERS.values())))


def _plan_audit(env: Environment, tier: Tier, rings: dict[tuple[str, str], RingPlan],
                keys: list[KeyPlan]) -> AuditPlan:
    assert env.gcp is not None
    pol = TIERS[tier]
    log_types = AUDIT_LOG_TYPES if pol.gcp_data_access_logs else ()
    if pol.gcp_sink_retention_in_days is None:
        return AuditPlan(tier, log_types, None, None, None, None)
    location = env.gcp.location
    bucket_location = storage_location(location)
    if bucket_location is None:
        raise GcpLocationError(
            f"gcp location '{location}' cannot hold the audit bucket's cmek key: cloud storage "
            "needs the key in the bucket's region or multi-region (us, europe, asia, nam4, eur4, "
            "asia1); set gcp.location to one of them")
    ring_name = env.gcp.key_ring or gcp_default_key_ring_name(env.name)
    check_gcp_id("key_ring", ring_name)
    ring = rings.setdefault((ring_name, location),
                            RingPlan(_ring_id(ring_name, location), ring_name, location))
    if any(k.name == AUDIT_KEY_NAME and k.ring == ring for k in keys):
        raise GcpDeclarationError(f"key name '{AUDIT_KEY_NAME}' is reserved for the audit "
                                  f"trail's key in key ring '{ring_name}'; rename the key")
    audit_key = _plan_audit_key(env, tier, ring)
    readers = _unique([_grant("audit-bucket", ROLE_OBJECT_VIEWER, m, "principals.auditors")
                       for m in env.principals.auditors.gcp])
    bucket = BucketPlan(
        construct_id="audit-bucket", name=gcp_audit_bucket_name(env.gcp.project_id),
        location=bucket_location, retention_in_days=pol.gcp_sink_retention_in_days,
        kms_key=audit_key.construct_id, labels=gcp_labels(env.name, tier),
        prevent_destroy=pol.prevent_destroy, readers=readers)
    sink_filter = (f'protoPayload.serviceName="{KMS_SERVICE}" AND '
                   'logName:"/logs/cloudaudit.googleapis.com%2F"')
    return AuditPlan(tier, log_types, bucket, audit_key, gcp_audit_sink_name(env.name),
                     sink_filter)


def _plan_escrow(env: Environment, decls: dict[str, KeyDecl], keys: list[KeyPlan]
                 ) -> tuple[BucketPlan, ...]:
    assert env.gcp is not None
    buckets: dict[str, BucketPlan] = {}
    for plan in keys:
        if not plan.import_only:
            continue
        key = decls[plan.name]
        if key.escrow is None:
            raise GcpEscrowError(f"key '{key.name}' has origin external but no escrow; an "
                                 "imported key needs an encrypted escrow copy")
        uri = key.escrow.location
        if not uri.startswith("gs://"):
            raise GcpEscrowError(f"key '{key.name}': escrow location of a gcp key must be a "
                                 f"gs:// uri, got '{uri}'")
        name = uri[len("gs://"):].split("/", 1)[0]
        if not _BUCKET.match(name):
            raise GcpEscrowError(f"key '{key.name}': escrow bucket '{name}' is not a valid "
                                 "cloud storage bucket name")
        wrap = next((k for k in keys if k.name == key.escrow.wrapping_key), None)
        if wrap is None or wrap.purpose != "ENCRYPT_DECRYPT" or wrap.import_only:
            raise GcpEscrowError(
                f"key '{key.name}': escrow wrapping_key '{key.escrow.wrapping_key}' must be a "
                "gcp symmetric encrypt key of this environment (it is the escrow bucket's cmek)")
        location = storage_location(wrap.ring.location)
        if location is None:
            raise GcpLocationError(
                f"key '{wrap.name}': gcp location '{wrap.ring.location}' cannot encrypt a cloud "
                "storage bucket; choose a region or multi-region")
        pol = TIERS[key.tier]
        # the escrow copy must outlive the key it restores
        retention = max(pol.max_key_age_in_days, key.max_key_age_in_days or 0)
        existing = buckets.get(name)
        if existing is not None:
            if existing.kms_key != wrap.construct_id:
                raise GcpEscrowError(f"escrow bucket '{name}' is wrapped by two keys; use one "
                                     "wrapping_key per bucket")
            retention = max(retention, existing.retention_in_days)
        buckets[name] = BucketPlan(
            construct_id=f"escrow-bucket-{name}", name=name, location=location,
            retention_in_days=retention, kms_key=wrap.construct_id,
            labels=gcp_labels(env.name, key.tier),
            prevent_destroy=True)  # the wrapped copy is the only way back; never destroy it
    return tuple(buckets.values())


def _alerts(env: Environment, tier: Tier, keys: list[KeyPlan]) -> tuple[AlertPlan, ...]:
    assert env.gcp is not None
    pol: TierPolicy = TIERS[tier]
    severity = "CRITICAL" if pol.prevent_destroy else "WARNING"
    base = f'protoPayload.serviceName="{KMS_SERVICE}"'
    prefix = gcp_alert_prefix(env.name)
    out: list[AlertPlan] = []
    # The tier table names AWS and GCP events together; each maps to one Cloud KMS signal.
    if pol.alarms & (DESTRUCTIVE_EVENTS - {"DisableKey"}):
        out.append(AlertPlan(
            "alert-destroy-crypto-key-version", f"{prefix}-destroy-crypto-key-version",
            f"keyplane {env.name}: crypto key version scheduled for destruction",
            f'{base} AND protoPayload.methodName="DestroyCryptoKeyVersion"', severity,
            "A Cloud KMS key version was scheduled for destruction. Restore it within the "
            "destroy-scheduled duration unless the change was a reviewed retirement."))
    if "DisableKey" in pol.alarms:
        out.append(AlertPlan(
            "alert-disable-crypto-key-version", f"{prefix}-disable-crypto-key-version",
            f"keyplane {env.name}: crypto key version disabled",
            f'{base} AND protoPayload.methodName="UpdateCryptoKeyVersion" AND '
            'protoPayload.request.cryptoKeyVersion.state="DISABLED"', severity,
            "A Cloud KMS key version was disabled outside a reviewed generation change."))
    if pol.alarms & POLICY_EVENTS:
        out.append(AlertPlan(
            "alert-kms-set-iam-policy", f"{prefix}-kms-set-iam-policy",
            f"keyplane {env.name}: iam policy changed on a key or key ring",
            f'{base} AND protoPayload.methodName="SetIamPolicy" AND '
            'resource.type=("cloudkms_cryptokey" OR "cloudkms_keyring")', severity,
            "The IAM policy of a Cloud KMS key or key ring changed."))
    # Evasion: the primary version moved (the alias hijack of Cloud KMS), rotation changed,
    # or the locked audit sink deleted or rewired.
    if "UpdateCryptoKeyPrimaryVersion" in pol.alarms:
        out.append(AlertPlan(
            "alert-primary-or-rotation-changed", f"{prefix}-primary-or-rotation-changed",
            f"keyplane {env.name}: primary version or rotation of a crypto key changed",
            f'{base} AND protoPayload.methodName=("UpdateCryptoKeyPrimaryVersion" OR '
            '"UpdateCryptoKey")', severity,
            "A crypto key's primary version or rotation schedule changed outside a reviewed "
            "generation change: check that the key still signs with the declared generation."))
    sink_methods = [m for m in ("DeleteSink", "UpdateSink") if m in pol.alarms]
    if sink_methods:
        methods = " OR ".join(f'"google.logging.v2.ConfigServiceV2.{m}"' for m in sink_methods)
        out.append(AlertPlan(
            "alert-audit-sink-changed", f"{prefix}-audit-sink-changed",
            f"keyplane {env.name}: a log sink was deleted or changed",
            f'protoPayload.serviceName="logging.googleapis.com" AND '
            f"protoPayload.methodName=({methods})", severity,
            "A log sink was deleted or changed: the Cloud KMS audit trail may no longer reach "
            "its locked bucket."))
    if SIGN_OUTSIDE_CEREMONY in pol.alarms and env.principals.ceremony is not None:
        ca_keys = [k for k in keys if k.tier is Tier.CA]
        if ca_keys:
            names = " OR ".join(f'"{k.resource_name(env.gcp.project_id)}/"' for k in ca_keys)
            methods = " OR ".join(f'"{m}"' for m in CRYPTO_USE_METHODS)
            # principalEmail names the person or service account, never a group: only
            # user: and serviceAccount: ceremony members can be excluded from the alert.
            emails = [m.split(":", 1)[1] for m in env.principals.ceremony.gcp
                      if m.startswith(("user:", "serviceAccount:"))]
            exclude = (" AND NOT protoPayload.authenticationInfo.principalEmail=(" +
                       " OR ".join(f'"{e}"' for e in emails) + ")") if emails else ""
            out.append(AlertPlan(
                "alert-use-outside-ceremony", f"{prefix}-use-outside-ceremony",
                f"keyplane {env.name}: ca key used outside the ceremony role",
                f"{base} AND protoPayload.methodName=({methods}) AND "
                f"protoPayload.resourceName:({names}){exclude}", "CRITICAL",
                "A ca key was used by a principal other than the ceremony role."))
    for k in keys:
        if TIERS[k.tier].sign_volume_anomaly_alarm and k.purpose == "ASYMMETRIC_SIGN":
            out.append(AlertPlan(
                f"alert-{k.name}-sign-volume", f"{prefix}-{k.name}-sign-volume",
                f"keyplane {env.name}: sign volume anomaly on {k.name}",
                f'{base} AND protoPayload.methodName="AsymmetricSign" AND '
                f'protoPayload.resourceName:"{k.resource_name(env.gcp.project_id)}/"',
                "CRITICAL" if TIERS[k.tier].prevent_destroy else "WARNING",
                f"AsymmetricSign calls on {k.name} in the last {SIGN_VOLUME_WINDOW} exceed "
                f"{SIGN_VOLUME_FACTOR}x the hourly average of the last {SIGN_VOLUME_BASELINE}.",
                volume_anomaly=True))
    return tuple(out)


def _adopted_rings(keys: Iterable[KeyDecl]) -> dict[tuple[str, str], str]:
    """(ring, location) -> the import id of each key ring an adopted key brings along; two
    keys naming one ring differently is refused (the import would be ambiguous)."""
    out: dict[tuple[str, str], str] = {}
    for key in keys:
        if key.adopt is None or key.adopt.key_ring is None:
            continue
        assert key.key_ring is not None and key.location is not None
        where = (key.key_ring, key.location)
        other = out.setdefault(where, key.adopt.key_ring)
        if other != key.adopt.key_ring:
            raise GcpAdoptError(f"key ring '{key.key_ring}' in {key.location} is adopted as "
                                f"both '{other}' and '{key.adopt.key_ring}'")
    return out


def plan_environment(env: Environment) -> GcpPlan:
    """Validate the GCP declarations of `env` and decide every resource of its GCP half."""
    if env.gcp is None:
        raise GcpDeclarationError(f"environment '{env.name}' has no 'gcp' section "
                                  "(project_id, location)")
    decls = {k.name: _filled(env, k) for k in env.keys_on(Cloud.GCP)}
    # who holds standing access to the rings
    for role_name, pset in (("key_admins", env.principals.key_admins),
                            ("auditors", env.principals.auditors)):
        for member in pset.gcp:
            check_member(member, f"principals.{role_name}")

    rings: dict[tuple[str, str], RingPlan] = {}
    keys: list[KeyPlan] = []
    ring_imports = _adopted_rings(decls.values())
    for key in decls.values():
        assert key.key_ring is not None and key.location is not None
        check_gcp_id("key_ring", key.key_ring)
        ring = rings.setdefault((key.key_ring, key.location),
                                RingPlan(_ring_id(key.key_ring, key.location), key.key_ring,
                                         key.location,
                                         import_id=ring_imports.get((key.key_ring, key.location))))
        keys.append(_plan_key(env, key, ring))

    tier = highest([k.tier for k in keys])
    audit = _plan_audit(env, tier, rings, keys) if tier is not None else None
    escrow = _plan_escrow(env, decls, keys)
    alerts = _alerts(env, tier, keys) if tier is not None else ()

    ring_grants: dict[str, tuple[Grant, ...]] = {}
    for ring in rings.values():
        grants = [_grant(ring.construct_id, ROLE_ADMIN, m, "principals.key_admins")
                  for m in env.principals.key_admins.gcp]
        grants += [_grant(ring.construct_id, ROLE_VIEWER, m, "principals.auditors")
                   for m in env.principals.auditors.gcp]
        ring_grants[ring.construct_id] = _unique(grants)

    # the provider's default region: the environment's location where it is a region
    region = env.gcp.location if is_region(env.gcp.location) else next(
        (r.location for r in rings.values() if is_region(r.location)), None)
    return GcpPlan(project=env.gcp.project_id, region=region, rings=tuple(rings.values()),
                   keys=tuple(keys), ring_grants=ring_grants, audit=audit,
                   escrow_buckets=escrow, alerts=alerts,
                   default_labels={GCP_LABEL_ENV: env.name})
