"""The inventory: one `Environment` per `environments/<env>.yaml`, with its keys.

These models check structure (types, allowed values, patterns). What depends on
several fields, on the tier table or on other environments is checked in
`keyplane.model.checks`, which reports every problem of a file in one run.
After loading, every implied value is filled in (deletion window, rotation
period, origin, alias, replicas, protection level), so consumers never repeat
the defaults of the tier table.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from keyplane.model.specs import Cloud, KeyUsage, Origin
from keyplane.model.tiers import EnvironmentKind, RotationMode, Tier

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
AWS_ACCOUNT_PATTERN = r"^[0-9]{12}$"
AWS_REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$"
# An IAM role ARN: partition, 12-digit account, optional path, name of 1-64 characters
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
AWS_ROLE_ARN_PATTERN = (r"^arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/(/|/?[\x21-\x7e]{1,510}/)?"
                        r"[A-Za-z0-9_+=,.@-]{1,64}$")
_ROLE_ARN = re.compile(AWS_ROLE_ARN_PATTERN)
# sts:AssumeRole's RoleSessionName and ExternalId
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
AWS_SESSION_NAME_PATTERN = r"^[A-Za-z0-9_+=,.@-]{2,64}$"
AWS_EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Oidc(_Model):
    """A federated workload identity: the token's issuer, audience and exact subject."""

    provider: str = Field(description="issuer host, e.g. token.actions.githubusercontent.com")
    audience: str
    subject: str = Field(description="the exact `sub` claim; wildcards are refused")


class AwsIdentity(_Model):
    """Who may assume a workload's key-user role: an OIDC subject or an existing role."""

    oidc: Oidc | None = None
    role_arn: str | None = None


class GcpIdentity(_Model):
    """A Cloud IAM member, e.g. `serviceAccount:signer@project.iam.gserviceaccount.com`."""

    member: str


class Workload(_Model):
    """A named machine (or, in non-production, human) identity that uses keys."""

    name: str
    description: str = ""
    human: bool = Field(default=False, description="default: a machine identity")
    aws: AwsIdentity | None = None
    gcp: GcpIdentity | None = None


class PrincipalSet(_Model):
    """The people or systems allowed to take one separation-of-duties role."""

    aws: tuple[str, ...] = ()  # IAM principal ARNs allowed to assume the keyplane role
    gcp: tuple[str, ...] = ()  # Cloud IAM members granted the role


class Principals(_Model):
    """The separation-of-duties roles of an environment."""

    key_admins: PrincipalSet
    backup_operators: PrincipalSet
    auditors: PrincipalSet
    break_glass: PrincipalSet
    ceremony: PrincipalSet | None = Field(
        default=None, description="required when the environment holds `ca` keys")


class S3Backend(_Model):
    """Terraform state in S3 with native locking."""

    bucket: str
    key: str
    region: str = Field(pattern=AWS_REGION_PATTERN)
    use_lockfile: bool = True
    dynamodb_table: str | None = None


class GcsBackend(_Model):
    """Terraform state in a Cloud Storage bucket (locks natively)."""

    bucket: str
    prefix: str


class StateBackend(_Model):
    """Where Terraform keeps this environment's state; default: a local file."""

    s3: S3Backend | None = None
    gcs: GcsBackend | None = None


class CloudHsmHsm(_Model):
    """One HSM of the cluster; a key store needs two in distinct Availability Zones."""

    availability_zone: str
    subnet_id: str = Field(pattern=r"^subnet-[0-9a-f]{8,17}$")


class CloudHsm(_Model):
    """The CloudHSM cluster behind the `ca` tier's custom key store."""

    hsms: tuple[CloudHsmHsm, ...]
    backup_retention_in_days: int | None = Field(
        default=None, description="default: the tier's floor")
    key_store_password_ssm_parameter: str = Field(
        pattern=r"^/[A-Za-z0-9_./-]+$",
        description="SSM SecureString holding the kmsuser password; never the password")
    trust_anchor_certificate_ssm_parameter: str = Field(pattern=r"^/[A-Za-z0-9_./-]+$")


class BackedUpResource(_Model):
    """A resource the environment's backup plan protects (CA database, inventory...)."""

    name: str
    arn: str = Field(pattern=r"^arn:aws[a-z-]*:[a-z0-9-]+:")


class AwsBackup(_Model):
    """What AWS Backup protects, where copies go, and where restore drills run."""

    resources: tuple[BackedUpResource, ...] = ()
    copy_to_account_id: str | None = Field(default=None, pattern=AWS_ACCOUNT_PATTERN)
    drill_account_id: str | None = Field(default=None, pattern=AWS_ACCOUNT_PATTERN)


class AwsAccount(_Model):
    """The AWS account and Regions of an environment."""

    account_id: str = Field(pattern=AWS_ACCOUNT_PATTERN)
    region: str = Field(pattern=AWS_REGION_PATTERN)
    replica_regions: tuple[str, ...] = ()
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    role_arn: str | None = Field(
        default=None, description="default: none; the role keyplane assumes in account_id for "
                                   "every read and drill (the credentials' own identity if unset)")
    external_id: str | None = Field(
        default=None, pattern=AWS_EXTERNAL_ID_PATTERN,
        description="default: none; the ExternalId the role's trust policy requires")
    session_name: str | None = Field(
        default=None, pattern=AWS_SESSION_NAME_PATTERN,
        description="default: keyplane-<env> (shown in CloudTrail as the assumed-role session)")
    cloudhsm: CloudHsm | None = None
    backup: AwsBackup | None = None

    @field_validator("role_arn")
    @classmethod
    def _role_in_this_account(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A role is assumed to act in the environment's account: one in another account
        would read (or drill) somewhere else than the account the environment declares."""
        if value is None:
            return None
        match = _ROLE_ARN.match(value)
        if match is None:
            raise PydanticCustomError(
                "role_arn_format", "must be an iam role arn, arn:<partition>:iam::<12-digit "
                                   "account>:role/[<path>/]<name>")
        account = info.data.get("account_id")
        if account is not None and match.group(2) != account:
            raise PydanticCustomError(
                "role_account_mismatch",
                "the role is in account {role_account}, but account_id is {account_id}; the "
                "role keyplane assumes must be in the environment's own account",
                {"role_account": match.group(2), "account_id": account})
        return value

    @field_validator("external_id", "session_name")
    @classmethod
    def _only_with_a_role(cls, value: str | None, info: ValidationInfo) -> str | None:
        """An external id or session name without a role would be silently ignored."""
        # role_arn is absent from info.data when it was invalid (already reported), None when
        # it was not given
        if value is not None and info.data.get("role_arn", "") is None and info.field_name:
            raise PydanticCustomError(
                "needs_role_arn", "{field} applies only when role_arn names a role to assume",
                {"field": info.field_name})
        return value


class GcpProject(_Model):
    """The GCP project and default key-ring location of an environment."""

    project_id: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    location: str
    key_ring: str | None = Field(default=None, description="default: keyplane-<env>")


class GenerationState(StrEnum):
    """Where a generation of a signing key is in its life."""

    CURRENT = "current"  # the alias / primary version points here
    VERIFY_ONLY = "verify-only"  # enabled for verification until `verify_until`
    DISABLED = "disabled"  # past its window; leaves the config next to enter deletion


class Generation(_Model):
    """One generation of a key that cannot rotate in place."""

    generation: int = Field(ge=1)
    created_on: dt.date
    verify_until: dt.date | None = None
    enabled: bool = True


# Who answers for a key: a team name or an address, one line without surrounding blanks.
OWNER_PATTERN = r"^\S(.{0,126}\S)?$"


class AcmCertificates(_Model):
    """ACM certificates of a key: named by ARN, or every certificate carrying all `tags`."""

    arns: tuple[str, ...] = Field(default=(), description="arn:<partition>:acm:<region>:"
                                  "<account>:certificate/<id>; default: none")
    tags: dict[str, str] = Field(default_factory=dict, description="tag key -> value; every "
                                 "certificate carrying all of them; default: none")
    regions: tuple[str, ...] = Field(default=(), description="where `tags` are looked up; "
                                     "default: the environment's region")


class AcmPcaCertificates(_Model):
    """An ACM Private CA: its own certificate, and the certificates it issued for the key
    (ACM PCA cannot list what it issued, so they are named by ARN)."""

    authority_arn: str = Field(description="arn:<partition>:acm-pca:<region>:<account>:"
                               "certificate-authority/<id>")
    issued: tuple[str, ...] = Field(default=(), description="<authority_arn>/certificate/<id> "
                                    "of each certificate issued for the key; default: none")


class GcpCasCertificates(_Model):
    """A Google Certificate Authority Service pool (`keyplane certs` reads its CAs and what it
    issued)."""

    ca_pool: str = Field(description="projects/<p>/locations/<l>/caPools/<pool>")


class Certificates(_Model):
    """Where a key's certificates live; `keyplane certs` finds them and matches each to a
    generation by its public key."""

    acm: AcmCertificates | None = None
    acm_pca: tuple[AcmPcaCertificates, ...] = ()
    gcp_cas: tuple[GcpCasCertificates, ...] = ()
    files: tuple[str, ...] = Field(default=(), description="PEM or DER files, or directories "
                                   "of them, relative to the environment file and inside the "
                                   "repository; default: none")

    def __bool__(self) -> bool:
        """Whether any source is declared."""
        return bool(self.acm and (self.acm.arns or self.acm.tags)) or bool(
            self.acm_pca or self.gcp_cas or self.files)


class Escrow(_Model):
    """The encrypted escrow copy required for imported (`origin: external`) keys."""

    location: str = Field(description="s3:// or gs:// URI of the wrapped key material")
    wrapping_key: str = Field(description="name of the backup key that wraps the copy")


# An AWS KMS key id: a UUID, or `mrk-` and 32 hex digits for a multi-Region key (moto, behind
# the sandbox, writes `mrk-` and a UUID: accepted too, it cannot be mistaken for anything else).
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
AWS_KEY_ID_PATTERN = rf"^(mrk-[0-9a-f]{{32}}|(mrk-)?{_UUID})$"


class KeyAdopt(_Model):
    """The existing cloud key an entry takes over (`keyplane adopt`): what its first plan
    imports instead of creating. Checked against the entry in `keyplane.model.checks`."""

    aws_key_id: str | None = Field(default=None, pattern=AWS_KEY_ID_PATTERN,
                                   description="the aws key imported into the entry's key")
    aliases: tuple[str, ...] = Field(default=(), description="existing aliases keyplane "
                                     "manages from now on (home region); default: none")
    replicas: dict[str, str] = Field(default_factory=dict,
                                     description="region -> key id of each existing replica")
    replica_aliases: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="region -> existing aliases of a replica")
    custom_key_store: str | None = Field(
        default=None, description="the custom key store's name; default: keyplane-<env>")
    gcp_crypto_key: str | None = Field(default=None, description="projects/.../cryptoKeys/K")
    key_ring: str | None = Field(default=None, description="projects/.../keyRings/R, when "
                                 "the key ring is imported too; default: keyplane's own")
    crypto_key_version: str | None = Field(
        default=None, description="the existing version imported as the adopted generation")
    generation: int | None = Field(default=None, ge=1, description="the generation the "
                                   "existing key became (keys that cannot rotate)")
    tags: dict[str, str] = Field(default_factory=dict,
                                 description="the key's own aws tags, kept beside keyplane's")
    labels: dict[str, str] = Field(default_factory=dict,
                                   description="the key's own gcp labels, kept beside keyplane's")


class EnvironmentAdopt(_Model):
    """keyplane's own resources that already exist in the account (`keyplane adopt`)."""

    aws_roles: tuple[str, ...] = Field(default=(), description="roles imported, by name")
    aws_role_policies: tuple[str, ...] = Field(
        default=(), description="roles whose existing `keyplane` inline policy is imported")


class KeyDecl(_Model):
    """One declared key; after loading, every implied value is filled in."""

    name: str
    tier: Tier
    cloud: Cloud
    usage: KeyUsage
    description: str = ""
    owner: str | None = Field(
        default=None, pattern=OWNER_PATTERN,
        description="the team or address answerable for the key (required for ca and "
                    "production; default: none)")
    spec: str | None = Field(default=None, description="default: per cloud and usage")
    origin: Origin | None = Field(default=None, description="default: cloudhsm for aws ca")
    alias: str | None = Field(default=None, description="default: alias/<name> (aws)")
    key_ring: str | None = Field(default=None, description="default: the environment's")
    location: str | None = Field(default=None, description="default: the environment's")
    protection_level: str | None = Field(default=None, description="default: the tier's")
    users: tuple[str, ...] = ()
    rotation_period_in_days: int | None = Field(
        default=None, description="default: the tier's maximum, where rotation is possible")
    deletion_window_in_days: int | None = Field(default=None, description="default: the tier's")
    max_key_age_in_days: int | None = Field(default=None, description="default: the tier's")
    replica_regions: tuple[str, ...] | None = Field(
        default=None, description="default: the environment's, for production keys")
    generation: int | None = Field(default=None, ge=1)
    generations: tuple[Generation, ...] = ()
    certificates: Certificates | None = Field(
        default=None, description="where the key's certificates live; default: none")
    escrow: Escrow | None = None
    backed_up: bool = Field(default=False, description="default: not in the backup plan")
    adopt: KeyAdopt | None = Field(default=None, description="default: a key keyplane creates")
    review: bool = Field(default=False, description="true: a person still has to confirm the "
                         "tier `keyplane adopt` chose")

    @property
    def multi_region(self) -> bool:
        """Whether the key is a multi-Region primary with replicas."""
        return bool(self.replica_regions)

    @property
    def rotation_mode(self) -> RotationMode:
        """Automatic rotation, generations, or ceremony (filled at load)."""
        if self.rotation_period_in_days is not None:
            return RotationMode.AUTOMATIC
        return RotationMode.CEREMONY if self.tier is Tier.CA else RotationMode.GENERATIONS

    def current_generation(self) -> Generation | None:
        """The generation the alias or primary version points to."""
        return next((g for g in self.generations if g.generation == self.generation), None)

    def generation_state(self, gen: Generation) -> GenerationState:
        """The state of `gen`, from the YAML alone (never from today's date)."""
        if gen.generation == self.generation:
            return GenerationState.CURRENT
        return GenerationState.VERIFY_ONLY if gen.enabled else GenerationState.DISABLED

    def next_rotation_due(self) -> dt.date | None:
        """When the current generation reaches its maximum age; None for automatic keys."""
        cur = self.current_generation()
        if cur is None or self.max_key_age_in_days is None:
            return None
        return cur.created_on + dt.timedelta(days=self.max_key_age_in_days)


class Environment(_Model):
    """One environment: its accounts, principals, workloads and keys."""

    name: str
    kind: EnvironmentKind
    description: str = ""
    aws: AwsAccount | None = None
    gcp: GcpProject | None = None
    state_backend: StateBackend | None = None
    evidence_location: str | None = Field(
        default=None, description="default: ./evidence/<env> (restore-drill evidence)")
    principals: Principals
    workloads: tuple[Workload, ...] = ()
    keys: tuple[KeyDecl, ...] = ()
    adopt: EnvironmentAdopt | None = None
    source_file: str | None = Field(default=None, exclude=True)

    def aws_session_name(self) -> str:
        """The session name of the role keyplane assumes (`aws.session_name`; default
        `keyplane-<env>`, cut to STS's 64 characters), so CloudTrail names the environment."""
        if self.aws is not None and self.aws.session_name is not None:
            return self.aws.session_name
        return f"keyplane-{self.name}"[:64]

    def key(self, name: str) -> KeyDecl:
        """The key called `name`; KeyError when it is not declared."""
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)

    def workload(self, name: str) -> Workload:
        """The workload called `name`; KeyError when it is not declared."""
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(name)

    def keys_on(self, cloud: Cloud) -> tuple[KeyDecl, ...]:
        """The keys of this environment that live on `cloud`."""
        return tuple(k for k in self.keys if k.cloud is cloud)

    def tiers(self) -> list[Tier]:
        """The tiers this environment's keys belong to."""
        return sorted({k.tier for k in self.keys}, key=lambda t: t.rank)
