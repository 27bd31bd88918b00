"""The `ca` tier's CloudHSM cluster and the KMS custom key store on top of it.

The key store password and the cluster's trust anchor certificate come from SSM
Parameter Store data sources named in the YAML; neither is ever a literal here.

The Terraform AWS provider has no argument for the cluster's backup retention
policy, so the retention (from the filled model) is written as the tag
`keyplane:backup-retention-in-days`; the post-apply job compares it with
`DescribeClusters` and sets it through `ModifyCluster`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_aws.cloudhsm_v2_cluster import CloudhsmV2Cluster
from cdktn_provider_aws.cloudhsm_v2_hsm import CloudhsmV2Hsm
from cdktn_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktn_provider_aws.kms_custom_key_store import KmsCustomKeyStore
from constructs import Construct

from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.model import limits
from keyplane.model.environment import CloudHsm
from keyplane.model.tags import aws_tags
from keyplane.model.tiers import Tier, policy_for

HSM_TYPES = ("hsm2m.medium", "hsm1.medium")
AWS_TAG_BACKUP_RETENTION = "keyplane:backup-retention-in-days"


@dataclass(frozen=True, kw_only=True)
class CloudHsmKeyStoreConfig:
    """A CloudHSM cluster with one HSM per declared Availability Zone, and its key store.

    `hsm_type` (default: hsm2m.medium, in FIPS mode) may be hsm1.medium for older
    clusters. `cloudhsm` is the environment's filled-in `aws.cloudhsm` section.
    """

    env_name: str
    cloudhsm: CloudHsm
    hsm_type: str = HSM_TYPES[0]

    def __post_init__(self) -> None:
        hsm = self.cloudhsm
        if self.hsm_type not in HSM_TYPES:
            raise ConstructConfigError(f"hsm_type must be one of {', '.join(HSM_TYPES)}, got "
                                       f"'{self.hsm_type}'", code="KP307")
        zones = {h.availability_zone for h in hsm.hsms}
        need = limits.CLOUDHSM_MIN_HSMS_FOR_KEY_STORE
        if len(zones) < need:
            raise ConstructConfigError(
                f"a custom key store needs at least {need} hsms in distinct availability "
                f"zones, got {len(hsm.hsms)} in {len(zones)}", code="KP307")
        retention = hsm.backup_retention_in_days
        lim = limits.CLOUDHSM_BACKUP_RETENTION
        floor = policy_for(Tier.CA).cloudhsm_backup_retention_in_days or lim.minimum
        if retention is None or not lim.contains(retention) or retention < floor:
            raise ConstructConfigError(
                f"backup_retention_in_days must be between {floor} and {lim.maximum} days for "
                f"the ca tier, got {retention}", code="KP307")
        for name in (hsm.key_store_password_ssm_parameter,
                     hsm.trust_anchor_certificate_ssm_parameter):
            if not name.startswith("/"):
                raise ConstructConfigError(f"ssm parameter names must start with '/', got "
                                           f"'{name}'", code="KP307")

    def hsms(self) -> list[tuple[str, str]]:
        """(availability zone, subnet) of the HSMs to create: the first declared per zone."""
        seen: dict[str, str] = {}
        for h in self.cloudhsm.hsms:
            seen.setdefault(h.availability_zone, h.subnet_id)
        return sorted(seen.items())


class CloudHsmKeyStore(Construct):
    """`aws_cloudhsm_v2_cluster`, its HSMs and the `aws_kms_custom_key_store` for ca keys."""

    def __init__(self, scope: Construct, id_: str, *, config: CloudHsmKeyStoreConfig) -> None:
        super().__init__(scope, id_)
        hsm = config.cloudhsm
        tags = aws_tags(config.env_name, Tier.CA)
        keep = TerraformResourceLifecycle(prevent_destroy=True)
        self.cluster = CloudhsmV2Cluster(
            self, "cluster", hsm_type=config.hsm_type,
            mode="FIPS" if config.hsm_type == "hsm2m.medium" else None,
            subnet_ids=sorted({h.subnet_id for h in hsm.hsms}),
            tags={**tags, AWS_TAG_BACKUP_RETENTION: str(hsm.backup_retention_in_days)},
            lifecycle=keep)
        # The provider takes the HSM's placement as a subnet *or* a zone, never both; the
        # subnet is the precise one (its zone is the declared one, checked at load).
        self.hsms = [
            CloudhsmV2Hsm(self, f"hsm-{zone}", cluster_id=self.cluster.cluster_id,
                          subnet_id=subnet)
            for zone, subnet in config.hsms()
        ]
        password = DataAwsSsmParameter(self, "key-store-password",
                                       name=hsm.key_store_password_ssm_parameter,
                                       with_decryption=True)
        anchor = DataAwsSsmParameter(self, "trust-anchor-certificate",
                                     name=hsm.trust_anchor_certificate_ssm_parameter,
                                     with_decryption=True)
        self.key_store = KmsCustomKeyStore(
            self, "key-store", custom_key_store_name=f"keyplane-{config.env_name}",
            custom_key_store_type="AWS_CLOUDHSM", cloud_hsm_cluster_id=self.cluster.cluster_id,
            key_store_password=password.value, trust_anchor_certificate=anchor.value,
            depends_on=list(self.hsms), lifecycle=keep)

    @property
    def key_store_id(self) -> str:
        """The custom key store id (a token until apply)."""
        return self.key_store.id
