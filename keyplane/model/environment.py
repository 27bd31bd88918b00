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
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from keyplane.model.specs import Cloud, KeyUsage, Origin
from keyplane.model.tiers import EnvironmentKind, RotationMode, Tier

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
AWS_ACCOUNT_PATTERN = r"^[0-9]{12}$"
AWS_REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$"


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
    cloudhsm: CloudHsm | None = None
    backup: AwsBackup | None = None


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


class Escrow(_Model):
    """The encrypted escrow copy required for imported (`origin: external`) keys."""

    location: str = Field(description="s3:// or gs:// URI of the wrapped key material")
    wrapping_key: str = Field(description="name of the backup key that wraps the copy")


class KeyDecl(_Model):
    """One declared key; after loading, every implied value is filled in."""

    name: str
    tier: Tier
    cloud: Cloud
    usage: KeyUsage
    description: str = ""
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
    escrow: Escrow | None = None
    backed_up: bool = Field(default=False, description="default: not in the backup plan")

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
    source_file: str | None = Field(default=None, exclude=True)

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
