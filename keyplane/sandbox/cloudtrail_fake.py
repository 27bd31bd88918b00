"""CloudTrail event history (LookupEvents) of the KMS calls the sandbox actually served.

A fake, because moto has none: moto's CloudTrail keeps trails but does not implement
LookupEvents, and moto records no event for the calls it answers. An incident response
asks the event history who used a key (`keyplane incident`), so the sandbox's front records
what AWS records for the KMS calls it serves and answers LookupEvents from that record:

- recorded: the cryptographic operations (Sign, Verify, Encrypt, Decrypt, GenerateDataKey*,
  ReEncrypt, GenerateMac, VerifyMac) and the KMS calls that change who may use a key
  (DisableKey, EnableKey, CreateGrant, RevokeGrant, RetireGrant, ScheduleKeyDeletion,
  CancelKeyDeletion, PutKeyPolicy), successful or refused (a refused call carries its
  `errorCode`, as in CloudTrail), in the caller's account and Region;
- the caller as STS names it, derived from the request's credentials: the account root for
  the sandbox's per-account keys, `assumed-role/<role>/<session>` for a role session moto
  issued, the IAM user for a user's key;
- the key's ARN as the event's resource (ReEncrypt names both keys); request parameters
  without any key material, message, plaintext or ciphertext (AWS logs none of them);
- LookupEvents as AWS answers it: at most one lookup attribute (EventId, EventName,
  ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId), StartTime and
  EndTime inclusive, newest event first, MaxResults 1-50 (default 50) and a NextToken bound
  to the query that made it; events older than 90 days (by the sandbox's clock) are gone, as
  they are from the event history. Unlike AWS there is no delivery delay.

It is a test bed and a playground, not CloudTrail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

_log = logging.getLogger(__name__)
HISTORY_SECONDS = 90 * 86400  # the event history keeps 90 days of management events
MAX_RESULTS = 50
MAX_EVENTS_PER_SCOPE = 200_000  # per account and Region: the oldest go first beyond this
EVENT_SOURCE = "kms.amazonaws.com"
RESOURCE_TYPE = "AWS::KMS::Key"
# operation -> readOnly, as CloudTrail marks KMS events
RECORDED: dict[str, bool] = {
    "Sign": True, "Verify": True, "Encrypt": True, "Decrypt": True, "ReEncrypt": True,
    "GenerateDataKey": True, "GenerateDataKeyWithoutPlaintext": True,
    "GenerateDataKeyPair": True, "GenerateDataKeyPairWithoutPlaintext": True,
    "GenerateMac": True, "VerifyMac": True,
    "DisableKey": False, "EnableKey": False, "CreateGrant": False, "RevokeGrant": False,
    "RetireGrant": False, "ScheduleKeyDeletion": False, "CancelKeyDeletion": False,
    "PutKeyPolicy": False,
}
# request parameters CloudTrail shows, never material: a message, plaintext, ciphertext,
# signature, MAC or grant token is not among them
_SHOWN = ("KeyId", "SigningAlgorithm", "MessageType", "EncryptionAlgorithm",
          "EncryptionContext", "KeySpec", "NumberOfBytes", "KeyPairSpec", "MacAlgorithm",
          "SourceKeyId", "DestinationKeyId", "SourceEncryptionAlgorithm",
          "DestinationEncryptionAlgorithm", "SourceEncryptionContext",
          "DestinationEncryptionContext", "GrantId", "GranteePrincipal", "RetiringPrincipal",
          "Operations", "PendingWindowInDays")
LOOKUP_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
               "EventSource", "AccessKeyId")


class TrailApiError(Exception):
    """A LookupEvents error answer: AWS error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Call(Protocol):
    """What the front parsed of a request (`keyplane.sandbox.aws_front._Call`)."""

    service: str
    operation: str
    region: str
    account: str | None
    access_key: str
    params: dict[str, Any]


def _partition(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws-cn" if region.startswith("cn-") else "aws"


def caller_identity(account: str, access_key: str, region: str) -> dict[str, Any]:
    """CloudTrail's `userIdentity` of the request's credentials."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    partition = _partition(region)
    if access_key.startswith("KPSBX"):
        return {"type": "Root", "principalId": account, "accountId": account,
                "arn": f"arn:{partition}:iam::{account}:root", "accessKeyId": access_key}
    assumed = sts_backends[account][partition].get_assumed_role_from_access_key(access_key)
    if assumed is not None:
        role_arn = str(assumed.role_arn)
        try:
            principal_id = str(assumed.user_id)
        except Exception:  # the role was deleted since: AWS still names the session
            principal_id = f"AROA:{assumed.session_name}"
        return {"type": "AssumedRole", "principalId": principal_id, "accountId": account,
                "arn": str(assumed.arn), "accessKeyId": access_key,
                "sessionContext": {"sessionIssuer": {
                    "type": "Role", "arn": role_arn, "accountId": account,
                    "userName": role_arn.rsplit("/", 1)[-1]}}}
    user = iam_backends[account][partition].get_user_from_access_key_id(access_key)
    if user is not None:
        return {"type": "IAMUser", "principalId": str(user.id), "accountId": account,
                "arn": str(user.arn), "userName": str(user.name), "accessKeyId": access_key}
    return {"type": "Unknown", "accountId": account, "accessKeyId": access_key}


def _username(identity: dict[str, Any]) -> str:
    """The `Username` of a LookupEvents event: the session, user or `root`."""
    kind = identity.get("type")
    if kind == "Root":
        return "root"
    if kind == "AssumedRole":
        return str(identity.get("arn", "")).rsplit("/", 1)[-1]
    return str(identity.get("userName", ""))


def _key_arns(account: str, region: str, call: _Call, answer: dict[str, Any]) -> list[str]:
    """The ARNs of the keys a call used: from the answer when it succeeded, else resolved
    from the request's KeyId (an alias, id or ARN) through moto's keys."""
    out = [str(answer[k]) for k in ("SourceKeyId", "KeyId") if isinstance(answer.get(k), str)
           and str(answer[k]).startswith("arn:")]
    if out:
        return out
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    for name in ("SourceKeyId", "KeyId", "DestinationKeyId"):
        ref = call.params.get(name)
        if not isinstance(ref, str) or not ref:
            continue
        try:
            out.append(str(backend.keys[backend.any_id_to_key_id(ref)].arn))
        except Exception:
            continue
    return out


def _time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TrailApiError("ValidationException", f"{name} must be a timestamp")
    return float(value)


class CloudTrailHistory:
    """The event history of every account and Region the sandbox served."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._events: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @staticmethod
    def records(call: _Call) -> bool:
        """Whether CloudTrail records this call (KMS calls on keys, see RECORDED)."""
        return call.service == "kms" and call.operation in RECORDED

    def observe(self, call: _Call, serve: Callable[[Any], Iterable[bytes]],
                start_response: Any) -> list[bytes]:
        """Serve the call (`serve(start_response)`), then record it with its outcome."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        body_iter = serve(capture)
        try:
            body = b"".join(body_iter)
        finally:
            close = getattr(body_iter, "close", None)
            if close is not None:
                close()
        try:
            self._record(call, int(str(captured.get("status", "500")).split()[0]), body)
        except Exception:  # a record that cannot be made never fails the call it records
            _log.exception("cloudtrail fake: %s %s was served but not recorded", call.service,
                           call.operation)
        start_response(captured.get("status", "500 INTERNAL SERVER ERROR"),
                       captured.get("headers", []))
        return [body]

    def _record(self, call: _Call, status: int, body: bytes) -> None:
        account = call.account or "123456789012"
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        identity = caller_identity(account, call.access_key, call.region)
        arns = _key_arns(account, call.region, call, answer if status < 400 else {})
        now = self._clock()
        event_id = str(uuid.uuid4())
        detail: dict[str, Any] = {
            "eventVersion": "1.08", "userIdentity": identity,
            "eventTime": _iso(now), "eventSource": EVENT_SOURCE, "eventName": call.operation,
            "awsRegion": call.region, "sourceIPAddress": "127.0.0.1",
            "userAgent": "keyplane-sandbox",
            "requestParameters": {_camel(k): call.params[k] for k in _SHOWN
                                  if k in call.params},
            "responseElements": None, "requestID": str(uuid.uuid4()), "eventID": event_id,
            "readOnly": RECORDED[call.operation],
            "resources": [{"accountId": account, "type": RESOURCE_TYPE, "ARN": a} for a in arns],
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account,
            "eventCategory": "Management"}
        if status >= 400:
            detail["errorCode"] = str(answer.get("__type", "InternalFailure")).rsplit("#", 1)[-1]
            detail["errorMessage"] = str(answer.get("message") or answer.get("Message") or "")
        event = {
            "EventId": event_id, "EventName": call.operation,
            "ReadOnly": "true" if RECORDED[call.operation] else "false",
            "AccessKeyId": call.access_key, "EventTime": now, "EventSource": EVENT_SOURCE,
            "Username": _username(identity),
            "Resources": [{"ResourceType": RESOURCE_TYPE, "ResourceName": a} for a in arns],
            "CloudTrailEvent": json.dumps(detail, sort_keys=True)}
        with self._lock:
            self._seq += 1
            events = self._events.setdefault((account, call.region), [])
            events.append({"seq": self._seq, "event": event})
            if len(events) > MAX_EVENTS_PER_SCOPE:
                del events[: len(events) - MAX_EVENTS_PER_SCOPE]

    def lookup(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """LookupEvents in one account and Region."""
        attrs = params.get("LookupAttributes") or []
        if not isinstance(attrs, list) or len(attrs) > 1:
            raise TrailApiError("InvalidLookupAttributesException",
                                f"only one lookup attribute is allowed, got {len(attrs)}"
                                if isinstance(attrs, list) else "LookupAttributes must be a list")
        attr: tuple[str, str] | None = None
        if attrs:
            key, value = attrs[0].get("AttributeKey"), attrs[0].get("AttributeValue")
            if key not in LOOKUP_KEYS:
                raise TrailApiError("InvalidLookupAttributesException",
                                    f"AttributeKey must be one of {', '.join(LOOKUP_KEYS)}, "
                                    f"got {key}")
            if not isinstance(value, str) or not 1 <= len(value) <= 2000:
                raise TrailApiError("InvalidLookupAttributesException",
                                    "AttributeValue must be 1 to 2000 characters")
            attr = (key, value)
        limit = params.get("MaxResults", MAX_RESULTS)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise TrailApiError("InvalidMaxResultsException",
                                f"MaxResults must be between 1 and {MAX_RESULTS}, got {limit}")
        category = params.get("EventCategory")
        if category not in (None, "insight"):
            raise TrailApiError("InvalidEventCategoryException",
                                f"EventCategory must be insight, got {category}")
        now = self._clock()
        start = _time(params.get("StartTime"), "StartTime")
        end = _time(params.get("EndTime"), "EndTime")
        if start is not None and end is not None and start > end:
            raise TrailApiError("InvalidTimeRangeException",
                                "StartTime must be before or equal to EndTime")
        start = max(start if start is not None else now - HISTORY_SECONDS, now - HISTORY_SECONDS)
        end = end if end is not None else now
        query = hashlib.sha256(json.dumps(
            {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")},
            sort_keys=True, default=str).encode()).hexdigest()[:16]
        before = self._token(params.get("NextToken"), query)
        if category == "insight":
            return {"Events": []}
        with self._lock:
            snapshot = list(self._events.get((account, region), ()))
        page: list[dict[str, Any]] = []
        more = False
        for item in reversed(snapshot):  # newest first
            if before is not None and item["seq"] >= before:
                continue
            ev = item["event"]
            if not start <= ev["EventTime"] <= end or not _matches(ev, attr):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(item)
        out: dict[str, Any] = {"Events": [dict(i["event"]) for i in page]}
        if more:
            token = json.dumps({"before": page[-1]["seq"], "query": query})
            out["NextToken"] = base64.urlsafe_b64encode(token.encode()).decode()
        return out

    @staticmethod
    def _token(token: Any, query: str) -> int | None:
        """The position a NextToken continues from; InvalidNextTokenException for a token
        that is not one of ours or was made by another query."""
        if token is None:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
            before, made_by = int(data["before"]), str(data["query"])
        except (ValueError, KeyError, TypeError):
            raise TrailApiError("InvalidNextTokenException",
                                "the NextToken is not valid") from None
        if made_by != query:
            raise TrailApiError("InvalidNextTokenException",
                                "the NextToken was issued for a query with other parameters")
        return before

    def events(self, account: str, region: str) -> list[dict[str, Any]]:
        """Every event of an account and Region, oldest first (for tests)."""
        with self._lock:
            return [dict(i["event"]) for i in self._events.get((account, region), ())]


def _matches(event: dict[str, Any], attr: tuple[str, str] | None) -> bool:
    if attr is None:
        return True
    key, value = attr
    if key == "ResourceName":
        return any(r["ResourceName"] == value for r in event["Resources"])
    if key == "ResourceType":
        return any(r["ResourceType"] == value for r in event["Resources"])
    return str(event.get(key)) == value


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
