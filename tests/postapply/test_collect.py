"""The collector over fake ports: unknowns, a disconnected key store, bounded concurrency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from unittest.mock import create_autospec

import pytest

from keyplane.model import load_estate
from keyplane.policy.packs import check_severity
from keyplane.postapply.collect import Collector, Facet
from keyplane.postapply.expected import expected_state
from keyplane.postapply.match import match
from keyplane.postapply.ports import (
    AwsKey,
    AwsRegionReader,
    CustomKeyStore,
    Throttled,
)
from keyplane.postapply.registry import CheckContext, checks_for, run_checks
from keyplane.postapply.stack import load_environment_stacks
from tests.conftest import EXAMPLE_ENVIRONMENTS, synthesize_example_estate

NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)


def prod_state():  # type: ignore[no-untyped-def]
    env = load_estate([EXAMPLE_ENVIRONMENTS / "prod.yaml"]).get("prod")
    synthesized = synthesize_example_estate()
    assert synthesized.exit_code == 0, synthesized.stderr[-2000:]
    return expected_state(env, load_environment_stacks(env, synthesized.out))


def fake_reader(region: str) -> AwsRegionReader:
    reader = create_autospec(AwsRegionReader, instance=True)
    reader.region = region
    return reader


def test_disconnected_key_store_is_a_finding_and_throttled_policy_unknown() -> None:
    state = prod_state()
    root = next(k for k in state.aws_keys if k.key.name == "pki-root-ca")
    r = fake_reader("us-east-1")
    r.list_key_ids.return_value = ["k1"]
    r.describe_key.return_value = AwsKey(
        key_id="k1", arn="arn:aws:kms:us-east-1:210987654321:key/k1", region="us-east-1",
        key_state="Enabled", key_spec="SYMMETRIC_DEFAULT", key_usage="ENCRYPT_DECRYPT",
        origin="AWS_CLOUDHSM", custom_key_store_id="cks-1")
    r.key_tags.return_value = dict(root.tags)
    r.key_policy.side_effect = Throttled("GetKeyPolicy", "ThrottlingException", "slow down",
                                         region="us-east-1")
    r.grants.return_value = []
    r.custom_key_stores.return_value = [CustomKeyStore(id="cks-1", name="keyplane-prod",
                                                       connection_state="DISCONNECTED")]
    obs = Collector(state=state, aws={"us-east-1": r}, gcp=None,
                    needs={Facet.TAGS, Facet.POLICY, Facet.GRANTS, Facet.KEY_STORES},
                    concurrency=2).run()
    assert [u.reason for u in obs.unknowns] == [
        "GetKeyPolicy throttled (ThrottlingException) in us-east-1"]
    r.rotation_status.assert_not_called()  # a custom-key-store key cannot rotate: not asked
    ctx = CheckContext(state=state, observed=obs, matched=match(state, obs), now=NOW)
    findings = run_checks(checks_for(["drift"]), ctx, check_severity)
    store = next(f for f in findings if f.rule_id == "drift.key_store_disconnected")
    policy = next(f for f in findings if f.rule_id == "drift.key_policy")
    assert (policy.status.value, policy.reason) == (
        "UNKNOWN", "GetKeyPolicy throttled (ThrottlingException) in us-east-1")
    assert (store.key, store.severity.value, store.actual) == ("pki-root-ca@g1", "critical",
                                                               "DISCONNECTED")


def test_fails_on_concurrency_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as exc:
        Collector(state=prod_state(), aws={}, gcp=None, needs=set(), concurrency=0)
    assert str(exc.value) == "concurrency must be between 1 and 64, got 0"
