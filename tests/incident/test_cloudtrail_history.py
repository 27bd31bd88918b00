"""The sandbox's CloudTrail event history (`keyplane.sandbox.cloudtrail_fake`), which the
incident's audit-trail step reads: moto has no LookupEvents, so the front records the KMS
calls it serves. Driven with boto3 over HTTP, paginated with botocore's own paginator."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.server import Sandbox
from tests.incident.support import session, trust_root
from tests.sandbox.helpers import aws, new_ids, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture
def account() -> str:
    return new_ids()[0]


def signing_key(sb: Sandbox, account: str, region: str = "us-east-1") -> str:
    return str(aws(sb, account, "kms", region).create_key(
        KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"])


def sign(client: Any, key: str) -> None:
    client.sign(KeyId=key, Message=b"\x01" * 32, MessageType="DIGEST",
                SigningAlgorithm="ECDSA_SHA_256")


def lookup(sb: Sandbox, account: str, *, region: str = "us-east-1", **kwargs: Any
           ) -> list[dict[str, Any]]:
    pages = aws(sb, account, "cloudtrail", region).get_paginator("lookup_events").paginate(
        **kwargs)
    return [e for p in pages for e in p["Events"]]


def by_key(arn: str) -> list[dict[str, str]]:
    return [{"AttributeKey": "ResourceName", "AttributeValue": arn}]


def detail(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(event["CloudTrailEvent"])
    return out


def test_records_each_call_with_the_caller_its_credentials_name(sb: Sandbox,
                                                                 account: str) -> None:
    key = signing_key(sb, account)
    iam = aws(sb, account, "iam")
    iam.create_role(RoleName="ci-signer", AssumeRolePolicyDocument=trust_root(account))
    creds = aws(sb, account, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/ci-signer", RoleSessionName="build-7")["Credentials"]
    iam.create_user(UserName="alice")
    user_key = iam.create_access_key(UserName="alice")["AccessKey"]
    sign(aws(sb, account, "kms"), key)
    sign(session(sb, creds, "kms"), key)
    sign(session(sb, {**user_key, "SessionToken": None}, "kms"), key)
    events = lookup(sb, account, LookupAttributes=by_key(key))
    signs = [e for e in events if e["EventName"] == "Sign"]
    assert [(detail(e)["userIdentity"]["type"], detail(e)["userIdentity"]["arn"], e["Username"])
            for e in signs] == [  # newest first
        ("IAMUser", f"arn:aws:iam::{account}:user/alice", "alice"),
        ("AssumedRole", f"arn:aws:sts::{account}:assumed-role/ci-signer/build-7", "build-7"),
        ("Root", f"arn:aws:iam::{account}:root", "root")]
    issuer = detail(signs[1])["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"]
    assert issuer == f"arn:aws:iam::{account}:role/ci-signer"
    for e in signs:
        assert e["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": key}]
        assert (e["EventSource"], e["ReadOnly"]) == ("kms.amazonaws.com", "true")
        assert detail(e)["requestParameters"] == {
            "keyId": key, "messageType": "DIGEST", "signingAlgorithm": "ECDSA_SHA_256"}


def test_a_refused_call_is_recorded_with_its_error_code(sb: Sandbox, account: str) -> None:
    key = signing_key(sb, account)
    kms = aws(sb, account, "kms")
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError, match="DisabledException"):
        sign(kms, key)
    events = lookup(sb, account, LookupAttributes=by_key(key))
    assert [(e["EventName"], e["ReadOnly"], detail(e).get("errorCode")) for e in events] == [
        ("Sign", "true", "DisabledException"), ("DisableKey", "false", None)]


def test_keeps_no_material_and_names_the_key_a_decrypt_used(sb: Sandbox, account: str) -> None:
    kms = aws(sb, account, "kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"top secret payload",
                       EncryptionContext={"purpose": "invoices"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "invoices"})  # no KeyId
    kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    events = lookup(sb, account, LookupAttributes=by_key(key))
    assert [e["EventName"] for e in events] == ["GenerateDataKey", "Decrypt", "Encrypt"]
    assert detail(events[1])["requestParameters"] == {
        "encryptionContext": {"purpose": "invoices"}}
    text = json.dumps(events, default=str)
    assert "top secret" not in text and base64.b64encode(blob).decode() not in text
    assert base64.b64encode(b"top secret payload").decode() not in text


def test_pages_newest_first_with_a_token_bound_to_its_query(sb: Sandbox, account: str) -> None:
    key = signing_key(sb, account)
    kms = aws(sb, account, "kms")
    for _ in range(7):
        sign(kms, key)
    trail = aws(sb, account, "cloudtrail")
    pages = list(trail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Sign"}],
        PaginationConfig={"PageSize": 3}))
    assert [len(p["Events"]) for p in pages] == [3, 3, 1]
    times = [e["EventTime"] for p in pages for e in p["Events"]]
    assert times == sorted(times, reverse=True)
    assert len({e["EventId"] for p in pages for e in p["Events"]}) == 7
    token = pages[0]["NextToken"]
    with pytest.raises(ClientError, match="InvalidNextTokenException"):
        trail.lookup_events(LookupAttributes=by_key(key), NextToken=token)
    with pytest.raises(ClientError, match="InvalidNextTokenException"):
        trail.lookup_events(NextToken="not-a-token")


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Sign"},
                           {"AttributeKey": "Username", "AttributeValue": "root"}]},
     "InvalidLookupAttributesException"),
    ({"LookupAttributes": [{"AttributeKey": "Region", "AttributeValue": "us-east-1"}]},
     "InvalidLookupAttributesException"),
    ({"MaxResults": 51}, "InvalidMaxResultsException"),
    ({"StartTime": dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
      "EndTime": dt.datetime(2026, 11, 1, tzinfo=dt.UTC)}, "InvalidTimeRangeException"),
])
def test_fails_queries_aws_refuses(sb: Sandbox, account: str, kwargs: dict[str, Any],
                                   code: str) -> None:
    with pytest.raises(ClientError) as info:
        aws(sb, account, "cloudtrail").lookup_events(**kwargs)
    assert info.value.response["Error"]["Code"] == code


def test_answers_only_its_account_region_window_and_ninety_days(sb: Sandbox,
                                                                account: str) -> None:
    key = signing_key(sb, account)
    sign(aws(sb, account, "kms"), key)
    other_account = new_ids()[0]
    assert lookup(sb, other_account, LookupAttributes=by_key(key)) == []
    assert lookup(sb, account, region="us-west-2", LookupAttributes=by_key(key)) == []
    now = dt.datetime.fromtimestamp(sb.front.clock.now(), tz=dt.UTC)
    assert lookup(sb, account, LookupAttributes=by_key(key),
                  EndTime=now - dt.timedelta(hours=1)) == []
    assert len(lookup(sb, account, LookupAttributes=by_key(key),
                      StartTime=now - dt.timedelta(hours=1))) == 1
    sb.front.clock.advance(91 * 86400)
    assert lookup(sb, account, LookupAttributes=by_key(key)) == []


def test_lookup_events_takes_fault_rules_like_any_call(sb: Sandbox, account: str) -> None:
    sb.front.rules = [FaultRule(error="ThrottlingException", service="cloudtrail",
                                operation="LookupEvents")]
    try:
        with pytest.raises(ClientError, match="ThrottlingException"):
            aws(sb, account, "cloudtrail").lookup_events()
    finally:
        sb.front.rules = []
