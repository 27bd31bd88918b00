"""The plan reader resolves "known after apply" from the plan's own configuration block.

Real `terraform show -json` output of a new stack marks every Optional+Computed argument the
configuration leaves out as unknown, and every argument built from another resource's
attribute too. What the configuration decides (its recorded text, or the provider's
documented default for an argument it omits) is not unknown; the rest stays UNKNOWN.
"""

from __future__ import annotations

from typing import Any

from keyplane.policy.inputs.plan import fill_from_configuration, read_plan
from keyplane.policy.model import UNKNOWN

KEY = "aws_kms_key.k"
TEMPLATE = '{"Statement":[{"Effect":"Allow","Resource":"${aws_kms_key.k.arn}"}]}'


def _plan(after: dict[str, Any], after_unknown: dict[str, Any], expressions: dict[str, Any],
          after_sensitive: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "resource_changes": [{
            "address": KEY, "mode": "managed", "type": "aws_kms_key", "name": "k",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {"actions": ["create"], "before": None, "after": after,
                       "after_unknown": after_unknown,
                       "after_sensitive": after_sensitive or {}}}],
        "configuration": {"root_module": {"resources": [{
            "address": KEY, "mode": "managed", "type": "aws_kms_key", "name": "k",
            "expressions": expressions}]}},
    }


def _read(doc: dict[str, Any]):
    resources, _ = read_plan(doc, source="plan.json", secrets=set())
    return resources[0]


def test_an_argument_the_configuration_omits_takes_the_provider_default() -> None:
    res = _read(_plan({"enable_key_rotation": True}, {"multi_region": True, "arn": True},
                      {"enable_key_rotation": {"constant_value": True}}))
    assert res.get("multi_region") is False
    assert res.get("arn") is UNKNOWN  # computed by AWS: no default makes it known


def test_a_recorded_template_is_read_as_written() -> None:
    res = _read(_plan({}, {"policy": True}, {"policy": {
        "constant_value": TEMPLATE, "references": ["aws_kms_key.k.arn", "aws_kms_key.k"]}}))
    # as from synth: `get` calls a `${...}` value unknown, `raw` hands rules the text
    assert (res.raw("policy"), res.unknown) == (TEMPLATE, frozenset())


def test_a_reference_without_recorded_text_stays_unknown() -> None:
    # HCL configurations record only the references of a template: nothing to read
    res = _read(_plan({}, {"policy": True}, {"policy": {"references": ["aws_kms_key.k.arn"]}}))
    assert res.get("policy") is UNKNOWN


def test_nested_block_values_follow_the_block_index() -> None:
    values, unknown = fill_from_configuration(
        "aws_s3_bucket_server_side_encryption_configuration",
        {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]},
        frozenset({("rule", 0, "apply_server_side_encryption_by_default", 0,
                    "kms_master_key_id")}),
        {"rule": [{"apply_server_side_encryption_by_default": [{
            "kms_master_key_id": {"constant_value": "${aws_kms_key.k.arn}"},
            "sse_algorithm": {"constant_value": "aws:kms"}}]}]})
    assert unknown == frozenset()
    assert values["rule"][0]["apply_server_side_encryption_by_default"][0] == {
        "sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.k.arn}"}


def test_a_sensitive_argument_is_never_filled_from_configuration_text() -> None:
    values, unknown = fill_from_configuration(
        "aws_kms_custom_key_store", {}, frozenset({("key_store_password",)}),
        {"key_store_password": {"constant_value": "literal-in-config"}},
        sensitive=frozenset({("key_store_password",)}))
    assert (values, unknown) == ({}, frozenset({("key_store_password",)}))


def test_a_type_without_documented_defaults_stays_unknown() -> None:
    values, unknown = fill_from_configuration("aws_unknown_thing", {}, frozenset({("x",)}), {})
    assert (values, unknown) == ({}, frozenset({("x",)}))


def test_a_plan_without_configuration_keeps_every_unknown() -> None:
    doc = _plan({}, {"multi_region": True}, {})
    del doc["configuration"]
    assert _read(doc).get("multi_region") is UNKNOWN
