"""The `ca` tier's CloudHSM cluster and the KMS custom key store on top of it, from the plan.

The key store password and the cluster's trust anchor certificate come from SSM
Parameter Store data sources named in the YAML; neither is ever a literal here.

The Terraform AWS provider has no argument for the cluster's backup retention
policy, so the retention (from the filled model) is written as the tag
`keyplane:backup-retention-in-days`; the post-apply job compares it with
`DescribeClusters` and sets it through `ModifyCluster`.
"""

from __future__ import annotations

from cdktn_provider_aws.cloudhsm_v2_cluster import CloudhsmV2Cluster
from cdktn_provider_aws.cloudhsm_v2_hsm import CloudhsmV2Hsm
from cdktn_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktn_provider_aws.kms_custom_key_store import KmsCustomKeyStore
from constructs import Construct

from keyplane.constructs.aws.rendered import Rendered, child_id, lifecycle
from keyplane.desired.aws import CloudHsmPlan


class CloudHsmKeyStore(Construct):
    """`aws_cloudhsm_v2_cluster`, its HSMs and the `aws_kms_custom_key_store` for ca keys."""

    def __init__(self, scope: Construct, id_: str, *, plan: CloudHsmPlan,
                 rendered: Rendered) -> None:
        super().__init__(scope, id_)
        cluster = plan.cluster
        self.cluster = rendered.add(cluster.path, CloudhsmV2Cluster(
            self, child_id(id_, cluster.path), hsm_type=cluster.hsm_type, mode=cluster.mode,
            subnet_ids=list(cluster.subnet_ids), tags=dict(cluster.tags),
            lifecycle=lifecycle(cluster.prevent_destroy)))
        self.hsms = [
            rendered.add(hsm.path, CloudhsmV2Hsm(self, child_id(id_, hsm.path),
                                                 cluster_id=rendered.resolve(hsm.cluster_id),
                                                 subnet_id=hsm.subnet_id))
            for hsm in plan.hsms
        ]
        for param in plan.ssm_parameters:
            rendered.add(param.path, DataAwsSsmParameter(self, child_id(id_, param.path),
                                                         name=param.name,
                                                         with_decryption=param.with_decryption))
        store = plan.key_store
        self.key_store = rendered.add(store.path, KmsCustomKeyStore(
            self, child_id(id_, store.path), custom_key_store_name=store.name,
            custom_key_store_type=store.store_type,
            cloud_hsm_cluster_id=rendered.resolve(store.cluster_id),
            key_store_password=rendered.resolve(store.key_store_password),
            trust_anchor_certificate=rendered.resolve(store.trust_anchor_certificate),
            depends_on=rendered.depends(store.depends_on),
            lifecycle=lifecycle(store.prevent_destroy)))

    @property
    def key_store_id(self) -> str:
        """The custom key store id (a token until apply)."""
        return str(self.key_store.id)
