"""The read-only GCP adapter over gRPC against the sandbox's Cloud KMS fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.cloud import kms_v1

from keyplane.cloud.gcp.client import GcpConfig, build_client
from keyplane.cloud.gcp.reader import GcpReader
from keyplane.postapply.ports import AccessDenied, ReadError, Throttled
from keyplane.sandbox.gcp_fake import GcpEndpoint, GcpFaultRule

pytestmark = pytest.mark.integration
RING = "projects/acme-gcp-test/locations/us-east1/keyRings/r1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[GcpEndpoint]:
    ep = GcpEndpoint()
    ep.fake.projects.add("acme-gcp-test")
    ep.start()
    client = build_client(GcpConfig(project="acme-gcp-test", endpoint=ep.target))
    client.create_key_ring(request={"parent": RING.rsplit("/keyRings/", 1)[0],
                                    "key_ring_id": "r1"})
    for i in range(3):
        client.create_crypto_key(request={"parent": RING, "crypto_key_id": f"k{i}",
                                          "crypto_key": {"purpose": "ENCRYPT_DECRYPT",
                                                         "labels": {"n": str(i)}}})
    yield ep
    ep.stop()


def reader(ep: GcpEndpoint, project: str = "acme-gcp-test") -> GcpReader:
    config = GcpConfig(project=project, endpoint=ep.target, retry_initial=0.01,
                       retry_maximum=0.02, retry_timeout=0.2, call_timeout=5)
    return GcpReader(build_client(config), config)


def test_lists_keys_and_versions(endpoint: GcpEndpoint) -> None:
    r = reader(endpoint)
    assert r.key_rings("us-east1") == [RING]
    keys = r.crypto_keys(RING)
    assert [(k.key_id, k.purpose, k.labels) for k in keys] == [
        ("k0", "ENCRYPT_DECRYPT", {"n": "0"}), ("k1", "ENCRYPT_DECRYPT", {"n": "1"}),
        ("k2", "ENCRYPT_DECRYPT", {"n": "2"})]
    (v,) = r.versions(keys[0].name)
    assert (v.state, keys[0].primary and keys[0].primary.name) == ("ENABLED", v.name)


def test_a_repeated_page_token_does_not_loop_forever(endpoint: GcpEndpoint) -> None:
    endpoint.fake.rules = [GcpFaultRule(code="RepeatPageToken", method="ListCryptoKeys")]
    try:
        with pytest.raises(ReadError) as exc:
            reader(endpoint).crypto_keys(RING)
    finally:
        endpoint.fake.rules = []
    assert exc.value.code == "RepeatedPageToken"


def test_throttling_is_retried_then_reported(endpoint: GcpEndpoint) -> None:
    rule = GcpFaultRule(code="RESOURCE_EXHAUSTED", method="GetIamPolicy")
    endpoint.fake.rules = [rule]
    try:
        with pytest.raises(Throttled) as exc:
            reader(endpoint).iam_policy(f"{RING}/cryptoKeys/k0")
    finally:
        endpoint.fake.rules = []
    assert exc.value.code == "RESOURCE_EXHAUSTED" and rule.hits >= 2


def test_fails_for_a_project_the_endpoint_does_not_host(endpoint: GcpEndpoint) -> None:
    with pytest.raises(AccessDenied) as exc:
        reader(endpoint, "acme-other-proj").check_project("us-east1")
    assert exc.value.code == "PERMISSION_DENIED"
    assert "permission denied on resource project acme-other-proj" in exc.value.message


def test_fails_to_set_rotation_on_an_asymmetric_key(endpoint: GcpEndpoint) -> None:
    from google.api_core import exceptions as gexc

    client = build_client(GcpConfig(project="acme-gcp-test", endpoint=endpoint.target))
    with pytest.raises(gexc.InvalidArgument) as exc:
        client.create_crypto_key(request={"parent": RING, "crypto_key_id": "signer",
                                          "crypto_key": kms_v1.CryptoKey(
                                              purpose="ASYMMETRIC_SIGN",
                                              rotation_period={"seconds": 86400 * 30})})
    assert "rotation_period is only supported for symmetric keys" in exc.value.message


def test_reads_the_projects_own_iam_policy_through_resource_manager(
        endpoint: GcpEndpoint) -> None:
    """GetIamPolicy of `projects/<id>` through google-cloud-resource-manager's ProjectsClient,
    served on the sandbox's port: the grants every key ring and key of the project inherits."""
    r = reader(endpoint)
    assert r.project_iam_policy() == []  # a project the sandbox hosts starts with no grant
    endpoint.resource_manager.add_binding("acme-gcp-test", "roles/cloudkms.signer",
                                          "serviceAccount:ci@acme-gcp-test.iam.gserviceaccount.com")
    endpoint.resource_manager.add_binding("acme-gcp-test", "roles/cloudkms.signer",
                                          "group:release@acme.example")
    (binding,) = reader(endpoint).project_iam_policy()
    assert (binding.role, sorted(binding.members), binding.condition) == (
        "roles/cloudkms.signer",
        ["group:release@acme.example", "serviceAccount:ci@acme-gcp-test.iam.gserviceaccount.com"],
        None)
