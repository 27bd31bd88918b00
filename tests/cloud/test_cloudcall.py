"""The one error tree of cloud calls: the readers and the drill adapters raise the same classes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from google.api_core import exceptions as gexc

from keyplane import cloudcall
from keyplane.cloud.aws import drills as aws_drills
from keyplane.cloud.aws import reader as aws_reader
from keyplane.cloud.gcp import drills as gcp_drills
from keyplane.cloud.gcp import reader as gcp_reader
from keyplane.cloudcall import (
    AccessDenied,
    CloudCallError,
    CredentialsExpired,
    KeyMissingError,
    KeyStateError,
    NotFound,
    Throttled,
)
from keyplane.drills.base import classify
from keyplane.postapply import ports


def _client_error(code: str, message: str = "it failed") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


def test_the_post_apply_names_are_the_classes_of_the_one_tree() -> None:
    assert (ports.ReadError, ports.Throttled, ports.AccessDenied, ports.NotFound,
            ports.CredentialsExpired) == (CloudCallError, Throttled, AccessDenied, NotFound,
                                          CredentialsExpired)
    classes = [v for v in vars(cloudcall).values()
               if isinstance(v, type) and issubclass(v, Exception)]
    assert all(issubclass(c, CloudCallError) for c in classes) and len(classes) == 7
    # a missing key is a key-state failure of a drill and a resource that is not found
    assert issubclass(KeyMissingError, KeyStateError) and issubclass(KeyMissingError, NotFound)


def test_an_error_says_what_failed_where() -> None:
    err = Throttled("ListGrants", "ThrottlingException", "slow down", region="us-east-1")
    assert (str(err), err.describe()) == (
        "ListGrants: ThrottlingException: slow down",
        "ListGrants throttled (ThrottlingException) in us-east-1")
    bare = KeyMissingError("Describe", "NotFoundException")
    assert (str(bare), bare.message, bare.region, bare.describe()) == (
        "Describe: NotFoundException", "", None, "Describe missing (NotFoundException)")


@pytest.mark.parametrize(("code", "cls"), [
    ("ThrottlingException", Throttled), ("AccessDeniedException", AccessDenied),
    ("ExpiredTokenException", CredentialsExpired), ("NotFoundException", NotFound),
    ("ValidationException", CloudCallError)])
def test_the_aws_reader_translates_into_the_tree(code: str, cls: type) -> None:
    err = aws_reader.translate(_client_error(code), "DescribeKey", "eu-west-1")
    assert type(err) is cls
    assert (err.operation, err.code, err.message, err.region) == (  # type: ignore[attr-defined]
        "DescribeKey", code, "it failed", "eu-west-1")


@pytest.mark.parametrize(("code", "cls"), [
    ("DisabledException", KeyStateError), ("NotFoundException", KeyMissingError),
    ("NoSuchKey", KeyMissingError), ("ThrottlingException", Throttled),
    ("ServiceUnavailableException", Throttled), ("AccessDeniedException", AccessDenied),
    ("IncorrectKeyException", CloudCallError)])
def test_the_aws_drill_adapter_translates_into_the_same_tree(code: str, cls: type) -> None:
    err = aws_drills.translate(_client_error(code), "Sign")
    assert type(err) is cls and (err.operation, err.code) == ("Sign", code)
    conn = aws_drills.translate(EndpointConnectionError(endpoint_url="http://x"), "Sign")
    assert (type(conn), conn.code) == (Throttled, "EndpointConnectionError")


@pytest.mark.parametrize(("exc", "drill_cls", "read_cls"), [
    (gexc.FailedPrecondition("version is disabled"), KeyStateError, CloudCallError),
    (gexc.NotFound("no such key"), KeyMissingError, NotFound),
    (gexc.ResourceExhausted("quota"), Throttled, Throttled),
    (gexc.PermissionDenied("denied"), AccessDenied, AccessDenied),
    (gexc.Unauthenticated("expired"), AccessDenied, CredentialsExpired)])
def test_the_gcp_adapters_translate_into_the_same_tree(exc: Exception, drill_cls: type,
                                                       read_cls: type) -> None:
    assert type(gcp_drills.translate(exc, "AsymmetricSign")) is drill_cls
    assert type(gcp_reader.translate(exc, "GetCryptoKey")) is read_cls


@pytest.mark.parametrize(("err", "outcome", "reason"), [
    (KeyMissingError("DescribeKey", "NotFoundException"), "KEY_STATE",
     "finding k: key missing (NotFoundException)"),
    (KeyStateError("Sign", "DisabledException", "key is disabled"), "KEY_STATE",
     "finding k: key is disabled"),
    (Throttled("Sign", "ThrottlingException"), "ERROR",
     "finding k: transient, retry later (Sign ThrottlingException)"),
    (AccessDenied("Sign", "AccessDeniedException"), "ERROR", "finding k: access denied (Sign)"),
    (CloudCallError("Sign", "IncorrectKeyException"), "FAILED",
     "finding k: Sign failed (IncorrectKeyException)"),
])
def test_a_drill_classifies_a_failed_call_by_its_class(err: CloudCallError, outcome: str,
                                                       reason: str) -> None:
    verdict = classify(err, "finding k")
    assert (verdict.outcome, verdict.reason, verdict.details["operation"]) == (
        outcome, reason, err.operation)
