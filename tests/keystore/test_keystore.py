"""`keyplane keystore connect|status`: the CloudHSM custom key store made outside Terraform.

Against the sandbox (moto's server behind keyplane's AWS front, whose KMS custom key store
and CloudHSM fakes follow AWS's rules: a store needs an ACTIVE cluster with HSMs in two
AZs, connects asynchronously, and takes a new kmsuser password only while disconnected).
A connection that fails on the HSM side (INVALID_CREDENTIALS) cannot be produced by the
sandbox, so that case uses botocore's Stubber on a real KMS client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from keyplane.cloud.aws.keystore import KeyStoreConnector, KeyStoreFailed, KeyStoreSpec
from keyplane.desired.aws import plan_environment
from keyplane.model.loader import load_targets
from keyplane.sandbox.server import Sandbox
from keyplane.sandbox.terraform import operate_account
from tests.conftest import REPO
from tests.sandbox.helpers import aws, run_cli, start_sandbox

PROD = "210987654321"
PASSWORD_PARAM = "/keyplane/prod/cloudhsm/kmsuser-password"
ANCHOR_PARAM = "/keyplane/prod/cloudhsm/customer-ca-certificate"
SECRET = "kmsuser-Pa55word-do-not-show"
REPO_ENVIRONMENTS = REPO / "environments"


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def _connect_plan() -> Any:
    env = load_targets(["prod"], REPO_ENVIRONMENTS).environments[0]
    plan = plan_environment(env).cloudhsm
    assert plan is not None
    return plan.connect


def _cluster(sb: Sandbox, tags: dict[str, str] | None = None) -> str:
    """A cluster as `prod-aws-hsm` leaves it after the ceremony (the sandbox makes a cluster
    created through the SDK ACTIVE with an HSM per subnet at once)."""
    tags = _connect_plan().cluster_tags if tags is None else tags
    hsm = aws(sb, PROD, "cloudhsmv2")
    cluster = hsm.create_cluster(HsmType="hsm2m.medium",
                                 SubnetIds=["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"],
                                 TagList=[{"Key": k, "Value": v} for k, v in tags.items()])
    return str(cluster["Cluster"]["ClusterId"])


def _parameters(sb: Sandbox, *, password: bool = True) -> None:
    ssm = aws(sb, PROD, "ssm")
    ssm.put_parameter(Name=ANCHOR_PARAM, Type="SecureString", Value="trust anchor pem")
    if password:
        ssm.put_parameter(Name=PASSWORD_PARAM, Type="SecureString", Value=SECRET)


def _cli(capsys: pytest.CaptureFixture[str], sb: Sandbox, *args: str) -> tuple[int, str, str]:
    sub, *rest = args
    return run_cli(capsys, "keystore", sub, "prod", "-d", str(REPO_ENVIRONMENTS),
                   "--endpoint-url", sb.aws.url, *rest)


def test_connect_creates_and_connects_the_store_and_never_shows_the_password(
        sb: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = _cluster(sb)
    _parameters(sb)
    code, out, err = _cli(capsys, sb, "connect", "--poll", "0.1", "--format", "json")
    assert code == 0, err
    assert SECRET not in out + err
    stores = aws(sb, PROD, "kms").describe_custom_key_stores()["CustomKeyStores"]
    assert [(s["CustomKeyStoreName"], s["CloudHsmClusterId"], s["ConnectionState"])
            for s in stores] == [("keyplane-prod", cluster, "CONNECTED")]
    assert f'"custom_key_store_id": "{stores[0]["CustomKeyStoreId"]}"' in out
    # a second run changes nothing: the store exists and is connected
    code, out, err = _cli(capsys, sb, "connect")
    assert code == 0, err
    assert "created" not in out and "connect requested" not in out
    assert len(aws(sb, PROD, "kms").describe_custom_key_stores()["CustomKeyStores"]) == 1
    code, out, _ = _cli(capsys, sb, "status")
    assert code == 0 and "CONNECTED" in out


def test_ca_keys_can_be_created_in_the_store_only_once_it_is_connected(sb: Sandbox) -> None:
    cluster = _cluster(sb)
    kms = aws(sb, PROD, "kms")
    store = kms.create_custom_key_store(CustomKeyStoreName="keyplane-prod",
                                        CloudHsmClusterId=cluster, KeyStorePassword=SECRET,
                                        TrustAnchorCertificate="anchor")["CustomKeyStoreId"]
    with pytest.raises(kms.exceptions.CustomKeyStoreInvalidStateException):
        kms.create_key(CustomKeyStoreId=store, Origin="AWS_CLOUDHSM")
    _parameters(sb)
    spec = _spec()
    outcome = KeyStoreConnector(lambda s: aws(sb, PROD, s), spec,
                                sleep=lambda _: None).connect(poll_seconds=0)
    assert outcome.store_id == store and outcome.state == "CONNECTED"
    assert outcome.steps[0] == f"connect requested for {store}"
    kms.create_key(CustomKeyStoreId=store, Origin="AWS_CLOUDHSM")


def _spec() -> KeyStoreSpec:
    c = _connect_plan()
    return KeyStoreSpec(name=c.name, cluster_tags=c.cluster_tags,
                        password_parameter=c.password_parameter,
                        trust_anchor_parameter=c.trust_anchor_parameter)


def test_update_password_needs_a_disconnected_store(
        sb: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    _cluster(sb)
    _parameters(sb)
    assert _cli(capsys, sb, "connect", "--poll", "0.1")[0] == 0
    code, _, err = _cli(capsys, sb, "connect", "--update-password")
    assert code == 3 and "KP841" in err and "DISCONNECTED" in err
    kms = aws(sb, PROD, "kms")
    store = kms.describe_custom_key_stores()["CustomKeyStores"][0]["CustomKeyStoreId"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store)
    code, out, err = _cli(capsys, sb, "connect", "--update-password", "--poll", "0.1")
    assert code == 0, err
    assert f"updated the kmsuser password of {store} from {PASSWORD_PARAM}" in out
    assert SECRET not in out + err


@pytest.mark.parametrize(("setup", "code", "needle"), [
    ("no_cluster", 2, "no CloudHSM cluster is tagged"),
    ("two_clusters", 2, "2 CloudHSM clusters are tagged"),
    ("no_password", 2, f"ssm parameter {PASSWORD_PARAM} does not exist"),
    ("uninitialized", 3, "; a key store needs an ACTIVE cluster"),
    ("store_on_other_cluster", 1, "refusing to connect it"),
])
def test_refusals_are_coded_and_change_nothing(
        sb: Sandbox, capsys: pytest.CaptureFixture[str], setup: str, code: int,
        needle: str) -> None:
    if setup == "two_clusters":
        _cluster(sb)
        _cluster(sb)
    elif setup == "uninitialized":
        # in an operator account the fake follows AWS's lifecycle: a new cluster is
        # CREATE_IN_PROGRESS, then UNINITIALIZED until the ceremony
        operate_account(sb.aws.url, PROD)
        _cluster(sb)
        assert aws(sb, PROD, "cloudhsmv2").describe_clusters()["Clusters"][0]["State"] != "ACTIVE"
    elif setup == "store_on_other_cluster":
        other = _cluster(sb, tags={"keyplane:env": "other"})
        _cluster(sb)
        aws(sb, PROD, "kms").create_custom_key_store(
            CustomKeyStoreName="keyplane-prod", CloudHsmClusterId=other,
            KeyStorePassword=SECRET, TrustAnchorCertificate="anchor")
    elif setup != "no_cluster":
        _cluster(sb)
    _parameters(sb, password=setup != "no_password")
    before = aws(sb, PROD, "kms").describe_custom_key_stores()["CustomKeyStores"]
    got, out, err = _cli(capsys, sb, "connect", "--poll", "0.1")
    assert got == code, err
    assert needle in err and "Traceback" not in err and SECRET not in out + err
    assert err.startswith("KP84") or "KP84" in err.splitlines()[0]
    assert aws(sb, PROD, "kms").describe_custom_key_stores()["CustomKeyStores"] == before


def test_a_connection_the_hsm_refuses_names_the_error_code_and_the_fix() -> None:
    """INVALID_CREDENTIALS comes from the cluster, which the sandbox does not model: Stubber."""
    kms = boto3.client("kms", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    hsm = boto3.client("cloudhsmv2", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    spec = _spec()
    with Stubber(kms) as k, Stubber(hsm) as h:
        h.add_response("describe_clusters", {"Clusters": [{
            "ClusterId": "cluster-abcdefghijk", "State": "ACTIVE",
            "TagList": [{"Key": a, "Value": b} for a, b in spec.cluster_tags.items()]}]})
        store = {"CustomKeyStoreId": "cks-1234567890abcdef0", "CustomKeyStoreName": spec.name,
                 "CloudHsmClusterId": "cluster-abcdefghijk"}
        k.add_response("describe_custom_key_stores",
                       {"CustomKeyStores": [{**store, "ConnectionState": "DISCONNECTED"}]},
                       {"CustomKeyStoreName": spec.name})
        k.add_response("connect_custom_key_store", {}, {"CustomKeyStoreId": store["CustomKeyStoreId"]})
        k.add_response("describe_custom_key_stores", {"CustomKeyStores": [{
            **store, "ConnectionState": "FAILED", "ConnectionErrorCode": "INVALID_CREDENTIALS"}]},
            {"CustomKeyStoreName": spec.name})
        clients = {"kms": kms, "cloudhsmv2": hsm}
        with pytest.raises(KeyStoreFailed) as info:
            KeyStoreConnector(clients.__getitem__, spec, sleep=lambda _: None).connect(
                poll_seconds=0)
    assert info.value.code == "KP842" and info.value.exit_code == 1
    assert "FAILED (INVALID_CREDENTIALS)" in info.value.message
    assert "--update-password" in info.value.message


def test_environment_without_cloudhsm_keys_is_refused(
        sb: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "keystore", "connect", "staging", "-d", str(REPO_ENVIRONMENTS),
                           "--endpoint-url", sb.aws.url)
    assert code == 2 and "KP840" in err and "no key of origin cloudhsm" in err


def test_the_password_is_read_only_through_ssm_with_decryption(tmp_path: Path) -> None:
    """The connector never takes the password as an argument; it asks SSM at run time."""
    import inspect

    params = inspect.signature(KeyStoreConnector.connect).parameters
    assert not any("password" in p and p != "update_password" for p in params)
