"""One AWS provider per environment, plus an alias per replica Region."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdktn_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.model.environment import AWS_ACCOUNT_PATTERN, AWS_REGION_PATTERN
from keyplane.model.tags import AWS_TAG_ENV

_REGION = re.compile(AWS_REGION_PATTERN)
_ACCOUNT = re.compile(AWS_ACCOUNT_PATTERN)


def provider_alias(region: str) -> str:
    """The Terraform provider alias of a replica Region: `us_west_2`."""
    return region.replace("-", "_")


@dataclass(frozen=True, kw_only=True)
class AwsProvidersConfig:
    """Where an environment's AWS resources live.

    `replica_regions` (default: none) gets one aliased provider each, for the
    multi-Region replicas of keys; `allowed_account_ids` pins every provider to the
    environment's account so an apply with the wrong credentials fails before it acts.
    """

    env_name: str
    account_id: str
    region: str
    replica_regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _ACCOUNT.match(self.account_id):
            raise ConstructConfigError(
                f"account_id must be 12 digits, got '{self.account_id}'", code="KP310")
        for region in (self.region, *self.replica_regions):
            if not _REGION.match(region):
                raise ConstructConfigError(f"'{region}' is not an aws region name",
                                           code="KP310")
        if self.region in self.replica_regions:
            raise ConstructConfigError(
                f"replica region '{self.region}' is the primary region", code="KP310")
        if len(set(self.replica_regions)) != len(self.replica_regions):
            raise ConstructConfigError("replica regions must be distinct, got "
                                       f"{', '.join(self.replica_regions)}", code="KP310")


class AwsProviders(Construct):
    """The environment's default AWS provider and one alias per replica Region."""

    def __init__(self, scope: Construct, id_: str, *, config: AwsProvidersConfig) -> None:
        super().__init__(scope, id_)
        common = {
            "allowed_account_ids": [config.account_id],
            "default_tags": [AwsProviderDefaultTags(tags={AWS_TAG_ENV: config.env_name})],
        }
        self.primary = AwsProvider(self, "aws", region=config.region, **common)
        self.replicas: dict[str, AwsProvider] = {
            region: AwsProvider(self, f"aws-{region}", alias=provider_alias(region),
                                region=region, **common)
            for region in sorted(config.replica_regions)
        }
