"""Facts rules derive from resources: key spec, family, origin, eligibility, durations.

Every decision of substance is delegated to keyplane.model (specs, rotation
eligibility, tiers, limits); this module only reads Terraform attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from keyplane.model.specs import (
    AWS_KEY_SPECS,
    GCP_ALGORITHMS,
    Cloud,
    Eligibility,
    Origin,
    SpecInfo,
    rotation_eligibility,
)
from keyplane.policy.index import Index
from keyplane.policy.model import UNKNOWN, Resource

AWS_KEY_TYPES = ("aws_kms_key", "aws_kms_external_key", "aws_kms_replica_key",
                 "aws_kms_replica_external_key")
AWS_REPLICA_TYPES = ("aws_kms_replica_key", "aws_kms_replica_external_key")
AWS_EXTERNAL_TYPES = ("aws_kms_external_key", "aws_kms_replica_external_key")
GCP_KEY_TYPES = ("google_kms_crypto_key",)
SECONDS_PER_DAY = 86_400
SECONDS_PER_HOUR = 3_600
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True)
class AwsKeyFacts:
    """What an AWS KMS key resource is: spec, family, origin, key store, replica."""

    spec: Any  # str or UNKNOWN
    info: SpecInfo | None
    origin: Origin
    custom_key_store: Any  # bool or UNKNOWN
    replica: bool
    usage: Any = None  # str or UNKNOWN (a replica's is its primary's)
    primary: Resource | None = None  # a replica's primary, when it is in the input


def aws_key_facts(res: Resource, index: Index) -> AwsKeyFacts:
    """Read spec, origin and key store of an AWS key; a replica reads its primary's spec."""
    memo_key = ("aws_key_facts", res.uid)
    found = index.memo.get(memo_key)
    if found is None:
        found = index.memo[memo_key] = _aws_key_facts(res, index)
    assert isinstance(found, AwsKeyFacts)
    return found


def _aws_key_facts(res: Resource, index: Index) -> AwsKeyFacts:
    src = res
    if res.type in AWS_REPLICA_TYPES:
        primaries = index.targets(res, "primary_key_arn", types=AWS_KEY_TYPES)
        if primaries:
            src = primaries[0]
    # aws_kms_key names it customer_master_key_spec; aws_kms_external_key names it key_spec.
    spec = src.get("key_spec" if src.type in AWS_EXTERNAL_TYPES else "customer_master_key_spec",
                   default="SYMMETRIC_DEFAULT")
    usage = src.get("key_usage", default="ENCRYPT_DECRYPT")
    if src is res and res.type in AWS_REPLICA_TYPES:
        spec = usage = UNKNOWN  # the primary is outside this input
    store = src.is_set("custom_key_store_id")
    xks = src.is_set("xks_key_id")
    custom: Any = UNKNOWN if store is None or xks is None else bool(store or xks)
    origin = Origin.EXTERNAL if res.type in AWS_EXTERNAL_TYPES else (
        Origin.CLOUDHSM if custom is True else Origin.KMS)
    info = AWS_KEY_SPECS.get(spec) if isinstance(spec, str) else None
    return AwsKeyFacts(spec=spec, info=info, origin=origin, custom_key_store=custom,
                       replica=res.type in AWS_REPLICA_TYPES, usage=usage,
                       primary=src if src is not res else None)


def aws_eligibility(res: Resource, index: Index) -> Eligibility | Any:
    """The model's rotation eligibility for an AWS key, or UNKNOWN when its inputs are."""
    f = aws_key_facts(res, index)
    if f.custom_key_store is UNKNOWN:
        return UNKNOWN
    if f.info is None:
        return UNKNOWN if f.spec is UNKNOWN else None
    return rotation_eligibility(cloud=Cloud.AWS, family=f.info.family, origin=f.origin,
                                custom_key_store=f.custom_key_store is True,
                                multi_region_replica=f.replica)


def gcp_algorithm(res: Resource) -> Any:
    """The crypto key's `version_template.algorithm` (default: by purpose)."""
    algo = res.get("version_template", "algorithm")
    if algo is None:
        purpose = res.get("purpose", default="ENCRYPT_DECRYPT")
        if purpose is UNKNOWN:
            return UNKNOWN
        return "GOOGLE_SYMMETRIC_ENCRYPTION" if purpose == "ENCRYPT_DECRYPT" else None
    return algo


def gcp_eligibility(res: Resource) -> Eligibility | Any:
    """The model's rotation eligibility for a Cloud KMS crypto key."""
    algo = gcp_algorithm(res)
    if algo is UNKNOWN:
        return UNKNOWN
    info = GCP_ALGORITHMS.get(algo) if isinstance(algo, str) else None
    if info is None:
        return None
    level = res.get("version_template", "protection_level")
    origin = Origin.EXTERNAL if level in ("EXTERNAL", "EXTERNAL_VPC") else Origin.KMS
    return rotation_eligibility(cloud=Cloud.GCP, family=info.family, origin=origin)


def seconds(value: Any) -> float | None:
    """A Cloud KMS duration (`"7776000s"`) in seconds; None when it is not one."""
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m:
            return float(m.group(1))
    return None


def as_int(value: Any) -> int | None:
    """An integer attribute (plans give numbers, synth JSON sometimes strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def as_bool(value: Any) -> bool | None:
    """A boolean attribute (`true`, or the string "true" from synth JSON)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def member(res: Resource, attr: str = "member") -> Any:
    """An IAM member; `serviceAccount:${...}` keeps its literal kind, so it is never public."""
    value = res.get(attr)
    if value is not UNKNOWN:
        return value
    raw = res.raw(attr)
    if isinstance(raw, str) and re.match(r"^[a-zA-Z]+:[^$]*\$\{", raw):
        return raw  # a named principal whose id is known after apply; the raw text identifies it
    return UNKNOWN


def members(res: Resource) -> Any:
    """The members of a `*_iam_member` or `*_iam_binding` resource, or UNKNOWN."""
    if res.type.endswith("_member"):
        one = member(res)
        return UNKNOWN if one is UNKNOWN else [one]
    value = res.get("members")
    if value is not UNKNOWN:
        return value if isinstance(value, list) else []
    raw = res.raw("members")
    if isinstance(raw, list) and all(isinstance(m, str) and re.match(
            r"^[a-zA-Z]+:", m) for m in raw):
        return raw
    return UNKNOWN
