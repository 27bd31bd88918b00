"""What the hashicorp/aws provider sets when a configuration leaves an argument out.

A plan marks such an argument "known after apply" even when the provider's documented
default decides it at create time. The plan reader gives an argument that is unknown
*and absent from the configuration* the value below, so a guardrail (multi-Region,
key spec, rotation) is judged on what will exist instead of failing closed on a value
nobody computes. Arguments set in the configuration never come from here; values
computed from other resources stay UNKNOWN.

Source: the provider's resource documentation (registry.terraform.io/providers/hashicorp/
aws, r/kms_key, r/kms_external_key, r/kms_replica_key, r/cloudtrail), the same in 5.100
and 6.x.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_KMS_COMMON: dict[str, Any] = {
    "bypass_policy_lockout_safety_check": False,  # "Defaults to false"
    "deletion_window_in_days": 30,                # "If you do not specify a value, it defaults to 30"
}

PROVIDER_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "aws_kms_key": MappingProxyType({
        **_KMS_COMMON,
        "customer_master_key_spec": "SYMMETRIC_DEFAULT",  # "Defaults to SYMMETRIC_DEFAULT"
        "key_usage": "ENCRYPT_DECRYPT",                    # "Defaults to ENCRYPT_DECRYPT"
        "enable_key_rotation": False,                      # "Defaults to false"
        "is_enabled": True,                                # "Defaults to true"
        "multi_region": False,                             # "Defaults to false"
    }),
    "aws_kms_external_key": MappingProxyType({
        **_KMS_COMMON,
        "multi_region": False,
    }),
    "aws_kms_replica_key": MappingProxyType({
        **_KMS_COMMON,
        "enabled": True,
    }),
    "aws_cloudtrail": MappingProxyType({
        "enable_logging": True,                 # "Defaults to true"
        "enable_log_file_validation": False,    # "Defaults to false"
        "include_global_service_events": True,  # "Defaults to true"
        "is_multi_region_trail": False,         # "Defaults to false"
        "is_organization_trail": False,         # "Defaults to false"
    }),
})


def provider_default(rtype: str, attribute: str) -> tuple[bool, Any]:
    """(True, value) when the provider documents a default for `rtype.attribute`."""
    table = PROVIDER_DEFAULTS.get(rtype)
    if table is None or attribute not in table:
        return False, None
    return True, table[attribute]
