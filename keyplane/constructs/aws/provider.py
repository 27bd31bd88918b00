"""One AWS provider per environment, plus an alias per replica Region."""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from keyplane.constructs.aws.rendered import Rendered, child_id
from keyplane.desired.aws import ProviderPlan


class AwsProviders(Construct):
    """The environment's default AWS provider and one alias per replica Region."""

    def __init__(self, scope: Construct, id_: str, *, plan: Sequence[ProviderPlan],
                 rendered: Rendered) -> None:
        super().__init__(scope, id_)
        self.replicas: dict[str, AwsProvider] = {}
        for p in plan:
            provider = AwsProvider(self, child_id(id_, p.path), alias=p.alias, region=p.region,
                                   allowed_account_ids=list(p.allowed_account_ids),
                                   default_tags=[AwsProviderDefaultTags(tags=dict(p.default_tags))])
            rendered.add(p.path, provider)
            if p.alias is None:
                self.primary = provider
            else:
                self.replicas[p.region] = provider
        rendered.replica_providers.update(self.replicas)
