"""The sandbox's Cloud KMS Data Access audit log and its ListLogEntries
(`keyplane.sandbox.gcp_logging_fake`), which the incident's audit-trail step reads on GCP.

The real google-cloud-kms client makes the calls the fake records, and the real
google-cloud-logging client (LoggingServiceV2) reads them back, both over gRPC into one
in-process endpoint (`GcpEndpoint`), paginated by the client's own pager.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import kms_v1
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import ListLogEntriesRequest, LogEntry
from google.logging.type import log_severity_pb2
from google.protobuf import field_mask_pb2

from keyplane.cloud.gcp.client import GcpConfig, build_client
from keyplane.cloud.gcp.incident import build_logging_client
from keyplane.sandbox.gcp_fake import GcpEndpoint, GcpFaultRule
from keyplane.sandbox.gcp_logging_fake import (
    PRINCIPAL_METADATA,
    RETENTION_SECONDS,
    SANDBOX_PRINCIPAL,
)
from tests.sandbox.helpers import new_ids

pytestmark = pytest.mark.integration

LOCATION = "us-east1"
WORKLOAD = "release-pipeline@acme-pki.iam.gserviceaccount.com"
_Purpose = kms_v1.CryptoKey.CryptoKeyPurpose
_Alg = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm


@pytest.fixture(scope="module")
def ep() -> Iterator[GcpEndpoint]:
    endpoint = GcpEndpoint()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(autouse=True)
def _no_rules(ep: GcpEndpoint) -> Iterator[None]:
    yield
    ep.fake.rules = []


@pytest.fixture
def project() -> str:
    return new_ids()[1]


def kms(ep: GcpEndpoint) -> Any:
    return build_client(GcpConfig(project="unused", endpoint=ep.target))


def logs(ep: GcpEndpoint) -> Any:
    return build_logging_client(GcpConfig(project="unused", endpoint=ep.target))


def ring(ep: GcpEndpoint, project: str) -> str:
    parent = f"projects/{project}/locations/{LOCATION}"
    return str(kms(ep).create_key_ring(request={"parent": parent, "key_ring_id": "r"}).name)


def crypto_key(ep: GcpEndpoint, ring_name: str, key_id: str, purpose: Any, alg: Any) -> str:
    return str(kms(ep).create_crypto_key(request={
        "parent": ring_name, "crypto_key_id": key_id,
        "crypto_key": {"purpose": purpose, "version_template": {"algorithm": alg}}}).name)


def signing_version(ep: GcpEndpoint, project: str) -> str:
    key = crypto_key(ep, ring(ep, project), "sig", _Purpose.ASYMMETRIC_SIGN,
                     _Alg.EC_SIGN_P256_SHA256)
    return f"{key}/cryptoKeyVersions/1"


def sign(ep: GcpEndpoint, version: str, as_: str | None = WORKLOAD) -> bytes:
    metadata = [(PRINCIPAL_METADATA, as_)] if as_ is not None else []
    answer = kms(ep).asymmetric_sign(request={"name": version, "digest": {
        "sha256": hashlib.sha256(b"release 1.2.3").digest()}}, metadata=metadata)
    return bytes(answer.signature)


def audit(entry: LogEntry) -> audit_log_pb2.AuditLog:
    out = audit_log_pb2.AuditLog()
    assert entry.proto_payload.Unpack(out)
    return out


def severity(entry: LogEntry) -> str:
    return str(log_severity_pb2.LogSeverity.Name(entry.severity))


def data_access(project: str) -> str:
    return f'logName="projects/{project}/logs/cloudaudit.googleapis.com%2Fdata_access"'


def listed(ep: GcpEndpoint, project: str, filter_: str, **kwargs: Any) -> list[LogEntry]:
    req = ListLogEntriesRequest(resource_names=[f"projects/{project}"], filter=filter_, **kwargs)
    return list(logs(ep).list_log_entries(request=req))


def test_records_each_use_with_its_caller_and_never_the_material(ep: GcpEndpoint,
                                                                 project: str) -> None:
    version = signing_version(ep, project)
    r = version.split("/cryptoKeys/")[0]
    sym = crypto_key(ep, r, "sym", _Purpose.ENCRYPT_DECRYPT, _Alg.GOOGLE_SYMMETRIC_ENCRYPTION)
    mac = crypto_key(ep, r, "mac", _Purpose.MAC, _Alg.HMAC_SHA256)
    client = kms(ep)
    signature = sign(ep, version)
    sign(ep, version, as_=None)
    sign(ep, version, as_="not an email address")
    client.get_public_key(request={"name": version})
    client.get_crypto_key(request={"name": version.split("/cryptoKeyVersions/")[0]})
    blob = client.encrypt(request={"name": sym, "plaintext": b"top secret payload"}).ciphertext
    client.decrypt(request={"name": sym, "ciphertext": blob})
    tag = client.mac_sign(request={"name": f"{mac}/cryptoKeyVersions/1", "data": b"hello"}).mac

    entries = ep.logging.entries(project)
    got = [(audit(e).method_name, audit(e).resource_name,
            audit(e).authentication_info.principal_email) for e in entries]
    assert got == [  # GetCryptoKey is ADMIN_READ: not a use, not kept
        ("AsymmetricSign", version, WORKLOAD), ("AsymmetricSign", version, SANDBOX_PRINCIPAL),
        ("AsymmetricSign", version, SANDBOX_PRINCIPAL),
        ("GetPublicKey", version, SANDBOX_PRINCIPAL),
        ("Encrypt", sym, SANDBOX_PRINCIPAL), ("Decrypt", sym, SANDBOX_PRINCIPAL),
        ("MacSign", f"{mac}/cryptoKeyVersions/1", SANDBOX_PRINCIPAL)]
    first = audit(entries[0])
    assert (first.service_name, first.status.code) == ("cloudkms.googleapis.com", 0)
    assert [(a.resource, a.permission, a.granted) for a in first.authorization_info] == [
        (version, "cloudkms.cryptoKeyVersions.useToSign", True)]
    assert first.request_metadata.caller_ip == "127.0.0.1"
    assert first.request_metadata.caller_supplied_user_agent.startswith("grpc-python/")
    assert dict(first.request) == {
        "@type": "type.googleapis.com/google.cloud.kms.v1.AsymmetricSignRequest",
        "name": version}
    assert entries[0].log_name == f"projects/{project}/logs/cloudaudit.googleapis.com%2Fdata_access"
    assert entries[0].resource.type == "cloudkms_cryptokeyversion"
    assert dict(entries[0].resource.labels) == {
        "project_id": project, "location": LOCATION, "key_ring_id": "r",
        "crypto_key_id": "sig", "crypto_key_version_id": "1"}
    assert (entries[4].resource.type, severity(entries[0])) == ("cloudkms_cryptokey", "INFO")
    raw = b"".join(LogEntry.serialize(e) for e in entries)
    for secret in (b"top secret payload", bytes(blob), signature, bytes(tag),
                   hashlib.sha256(b"release 1.2.3").digest()):
        assert secret not in raw


def test_a_refused_use_is_recorded_with_its_status(ep: GcpEndpoint, project: str) -> None:
    version = signing_version(ep, project)
    ep.fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="AsymmetricSign", times=1)]
    with pytest.raises(gexc.PermissionDenied):
        sign(ep, version)
    kms(ep).update_crypto_key_version(request={
        "crypto_key_version": {"name": version, "state": "DISABLED"},
        "update_mask": field_mask_pb2.FieldMask(paths=["state"])})
    with pytest.raises(gexc.FailedPrecondition):
        sign(ep, version)
    entries = ep.logging.entries(project)
    assert [(audit(e).status.code, audit(e).authorization_info[0].granted, severity(e))
            for e in entries] == [(7, False, "ERROR"), (9, True, "ERROR")]  # google.rpc.Code


def test_pages_in_timestamp_order_with_a_token_bound_to_its_query(ep: GcpEndpoint,
                                                                  project: str) -> None:
    version = signing_version(ep, project)
    for _ in range(7):
        sign(ep, version)
    req = ListLogEntriesRequest(resource_names=[f"projects/{project}"], page_size=3,
                                filter=f"{data_access(project)} AND timestamp>=\"2000-01-01T00:00:00Z\"")
    pages = list(logs(ep).list_log_entries(request=req).pages)
    assert [len(p.entries) for p in pages] == [3, 3, 1]
    times = [e.timestamp for p in pages for e in p.entries]
    assert times == sorted(times) and len({e.insert_id for p in pages for e in p.entries}) == 7
    newest_first = listed(ep, project, req.filter, order_by="timestamp desc")
    assert [e.timestamp for e in newest_first] == sorted(times, reverse=True)
    token = pages[0].next_page_token
    other = ListLogEntriesRequest(resource_names=[f"projects/{project}"], page_size=3,
                                  filter=data_access(project), page_token=token)
    with pytest.raises(gexc.InvalidArgument, match="issued for a query with other parameters"):
        list(logs(ep).list_log_entries(request=other))
    with pytest.raises(gexc.InvalidArgument, match="page_token is not valid"):
        list(logs(ep).list_log_entries(request=ListLogEntriesRequest(
            resource_names=[f"projects/{project}"], filter=data_access(project),
            page_token="not-a-token")))


def test_each_comparison_of_the_filter_holds(ep: GcpEndpoint, project: str) -> None:
    version = signing_version(ep, project)
    sign(ep, version)
    kms(ep).get_public_key(request={"name": version})
    now = dt.datetime.now(dt.UTC)
    base = data_access(project)

    def methods(filter_: str) -> list[str]:
        return [audit(e).method_name for e in listed(ep, project, filter_)]

    assert methods(base) == ["AsymmetricSign", "GetPublicKey"]
    assert methods(f'{base} AND (protoPayload.methodName="AsymmetricSign" OR '
                   'protoPayload.methodName="MacSign")') == ["AsymmetricSign"]
    assert methods(f'{base} AND protoPayload.resourceName="{version}2"') == []
    assert methods(f'{base} AND protoPayload.serviceName="cloudkms.googleapis.com" AND '
                   f'protoPayload.resourceName="{version}"') == ["AsymmetricSign", "GetPublicKey"]
    assert methods(data_access(project).replace("data_access", "activity")) == []
    later = (now + dt.timedelta(minutes=5)).isoformat()
    earlier = (now - dt.timedelta(minutes=5)).isoformat()
    assert methods(f'{base} AND timestamp>="{later}"') == []
    assert methods(f'{base} AND timestamp<="{earlier}"') == []
    assert methods(f'{base} AND timestamp>="{earlier}" AND timestamp<="{later}"') == [
        "AsymmetricSign", "GetPublicKey"]


@pytest.mark.parametrize(("filter_", "message"), [
    ("", "needs a filter"),
    ('logName:"projects/p/logs/x"', "unparseable filter"),
    ('protoPayload.methodName="Decrypt" protoPayload.methodName="Encrypt"',
     "where AND was expected"),
    ('NOT protoPayload.methodName="Decrypt"', "where op was expected"),
    ('severity>="ERROR"', "does not filter on severity"),
    ('protoPayload.methodName>="Decrypt"', "compares protoPayload.methodName with = only"),
    ('timestamp="2026-11-01T00:00:00Z"', "compares timestamp with >= or <= only"),
    ('timestamp>="yesterday"', "invalid timestamp"),
    ('timestamp>="2026-11-01T00:00:00"', "needs a zone"),
    ('protoPayload.methodName=Decrypt', "where str was expected"),
    ('((protoPayload.methodName="Decrypt"))', "where word was expected"),
    ('(protoPayload.methodName="Decrypt" AND protoPayload.methodName="Encrypt")',
     "where rp was expected"),
    ('protoPayload.methodName="Decrypt" AND', "it ends where"),
])
def test_fails_filters_keyplane_does_not_send(ep: GcpEndpoint, project: str, filter_: str,
                                              message: str) -> None:
    with pytest.raises(gexc.InvalidArgument, match=message):
        listed(ep, project, filter_)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"resource_names": ["projects/not-hosted"]}, gexc.PermissionDenied,
     "permission denied on resource project not-hosted"),
    ({"resource_names": ["folders/123"]}, gexc.InvalidArgument, "project log views only"),
    ({"resource_names": []}, gexc.InvalidArgument, "at least one project"),
    ({"order_by": "severity desc"}, gexc.InvalidArgument, "order_by must be"),
    ({"page_size": -1}, gexc.InvalidArgument, "page_size must not be negative"),
])
def test_fails_requests_cloud_logging_refuses(kwargs: dict[str, Any], error: type[Exception],
                                               message: str) -> None:
    endpoint = GcpEndpoint()
    endpoint.fake.projects.add("hosted")
    endpoint.start()
    try:
        req = ListLogEntriesRequest({"resource_names": ["projects/hosted"],
                                     "filter": data_access("hosted"), **kwargs})
        with pytest.raises(error, match=message):
            list(logs(endpoint).list_log_entries(request=req))
    finally:
        endpoint.stop()


def test_entries_older_than_the_default_buckets_thirty_days_are_gone(
        ep: GcpEndpoint, project: str, monkeypatch: pytest.MonkeyPatch) -> None:
    version = signing_version(ep, project)
    shift = {"seconds": 0.0}
    real = ep.logging.clock
    monkeypatch.setattr(ep.logging, "clock", lambda: real() + shift["seconds"])
    sign(ep, version)
    shift["seconds"] = RETENTION_SECONDS - 3600
    assert len(listed(ep, project, data_access(project))) == 1
    shift["seconds"] = RETENTION_SECONDS + 3600
    assert listed(ep, project, data_access(project)) == []
    assert len(ep.logging.entries(project)) == 1  # kept, but past the bucket's retention


def test_list_log_entries_takes_fault_rules_and_keeps_each_request(ep: GcpEndpoint,
                                                                   project: str) -> None:
    ep.fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="ListLogEntries")]
    with pytest.raises(gexc.PermissionDenied, match="injected by the keyplane sandbox"):
        listed(ep, project, data_access(project))
    ep.fake.rules = []
    listed(ep, project, data_access(project), order_by="timestamp asc", page_size=10)
    last = ep.logging.requests[-1]
    assert (list(last.resource_names), last.filter, last.order_by, last.page_size) == (
        [f"projects/{project}"], data_access(project), "timestamp asc", 10)
