"""The `ca` tier's CloudHSM cluster (its own stack) and the key store lookup of `<env>-aws`.

The cluster and its HSMs are the `<env>-aws-hsm` stack: they exist before the cluster is
initialized and activated (the ceremony), and before `keyplane keystore connect` creates
the custom key store on them. The custom key store is not a Terraform resource: the kmsuser
password would be an argument of it, kept in state and plan files (the provider has no
write-only argument for it). The ca keys in `<env>-aws` find the store by name through
`data.aws_kms_custom_key_store`.

The Terraform AWS provider has no argument for the cluster's backup retention
policy, so the retention (from the filled model) is written as the tag
`keyplane:backup-retention-in-days`; the post-apply job compares it with
`DescribeClusters` and sets it through `ModifyCluster`.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_provider_aws.cloudhsm_v2_cluster import CloudhsmV2Cluster
from cdktn_provider_aws.cloudhsm_v2_hsm import CloudhsmV2Hsm
from cdktn_provider_aws.data_aws_kms_custom_key_store import DataAwsKmsCustomKeyStore
from constructs import Construct

from keyplane.constructs.aws.provider import AwsProviders
from keyplane.constructs.aws.rendered import Rendered, child_id, lifecycle
from keyplane.desired.aws import CloudHsmPlan, HsmStackPlan, KeyStoreLookupPlan


class CloudHsmCluster(Construct):
    """The `<env>-aws-hsm` stack's content: provider, `aws_cloudhsm_v2_cluster`, its HSMs."""

    def __init__(self, scope: Construct, id_: str, *, plan: HsmStackPlan) -> None:
        super().__init__(scope, id_)
        rendered = Rendered()
        self.providers = AwsProviders(self, "providers", plan=(plan.provider,), rendered=rendered)
        hsm: CloudHsmPlan = plan.cloudhsm
        holder = Construct(self, "cloudhsm")
        cluster = hsm.cluster
        self.cluster = rendered.add(cluster.path, CloudhsmV2Cluster(
            holder, child_id("cloudhsm", cluster.path), hsm_type=cluster.hsm_type,
            mode=cluster.mode, subnet_ids=list(cluster.subnet_ids), tags=dict(cluster.tags),
            lifecycle=lifecycle(cluster.prevent_destroy)))
        self.hsms = [
            rendered.add(h.path, CloudhsmV2Hsm(holder, child_id("cloudhsm", h.path),
                                               cluster_id=rendered.resolve(h.cluster_id),
                                               subnet_id=h.subnet_id))
            for h in hsm.hsms
        ]


class KeyStoreLookup(Construct):
    """`data.aws_kms_custom_key_store` by name: the ca keys' `custom_key_store_id`; and one
    per other store an adopted key lives in (`adopted`, default: none)."""

    def __init__(self, scope: Construct, id_: str, *, plan: KeyStoreLookupPlan,
                 rendered: Rendered, adopted: Sequence[KeyStoreLookupPlan] = ()) -> None:
        super().__init__(scope, id_)
        self.key_store = rendered.add(plan.path, DataAwsKmsCustomKeyStore(
            self, child_id(id_, plan.path), custom_key_store_name=plan.name))
        for other in adopted:
            rendered.add(other.path, DataAwsKmsCustomKeyStore(
                self, child_id(id_, other.path), custom_key_store_name=other.name))

    @property
    def key_store_id(self) -> str:
        """The custom key store id (known at plan time once the store exists)."""
        return str(self.key_store.id)
