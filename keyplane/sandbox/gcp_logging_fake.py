"""Cloud Logging's ListLogEntries over the Cloud KMS Data Access audit log of the calls the
sandbox actually served.

Cloud KMS writes a Data Access audit log entry (`cloudaudit.googleapis.com%2Fdata_access`,
DATA_READ) for every use of a key version, when the project turns those logs on; an incident
response asks Cloud Logging who used a compromised version (`keyplane incident`). So the
Cloud KMS fake's endpoint (`gcp_fake.GcpEndpoint`) hands every call it answers to `served`,
and this fake keeps what Cloud Logging would hold and answers ListLogEntries from it, over
the same gRPC server, to the real google-cloud-logging client:

- recorded: the DATA_READ uses the Cloud KMS fake serves (AsymmetricSign, GetPublicKey,
  Encrypt, Decrypt, MacSign, MacVerify), successful or refused (a refused call carries its
  `status`, as in Cloud Audit Logs), as a LogEntry whose `proto_payload` is a
  `google.cloud.audit.AuditLog`: service `cloudkms.googleapis.com`, the method's short name
  (as Cloud KMS logs it), `resourceName` the request's `name` (the version; the crypto key
  for an Encrypt that names the key and for every Decrypt), the permission checked, the
  caller's IP (the gRPC peer) and user agent, and a `request` holding its type and name
  only: never a digest, plaintext, ciphertext, signature or MAC. Admin Activity and
  ADMIN_READ entries are not kept (keyplane does not read them);
- the caller (`authenticationInfo.principalEmail`): the sandbox has no credentials to name
  one (the client reaches it over a plaintext channel without any), so it is the value of
  the `x-keyplane-sandbox-principal` request metadata when a client sends an email address
  there (`metadata=[(PRINCIPAL_METADATA, "svc@p.iam.gserviceaccount.com")]` on any call), else
  the fixed `SANDBOX_PRINCIPAL`;
- ListLogEntries as Cloud Logging answers it for one project's log view
  (`resource_names=["projects/P"]`, a hosted project, else PERMISSION_DENIED), `order_by`
  `timestamp asc` (the default) or `timestamp desc`, `page_size` up to 1000 (default 50) and
  a page token bound to the query that made it; entries older than the `_Default` bucket's 30
  days (by `clock`) are gone. There is no ingestion delay.

The filter is evaluated for the subset of the Logging query language keyplane sends, and
anything else is refused with INVALID_ARGUMENT (so a changed filter fails its tests instead
of matching everything): clauses joined by `AND`, each a comparison or a parenthesized `OR`
of comparisons; `logName`, `protoPayload.serviceName`, `protoPayload.methodName` and
`protoPayload.resourceName` compared with `=` to a quoted string, `timestamp` with `>=` or
`<=` to a quoted RFC 3339 time. Every request is kept in `requests` (for tests).

A test bed and a playground, not Cloud Logging.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import logging as lg
from google.cloud.logging_v2.types.log_entry import LogEntry
from google.logging.type import log_severity_pb2
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import code_pb2

from keyplane.sandbox.gcp_monitoring_fake import MonitoringAbort

_log = logging.getLogger(__name__)
LOGGING_SERVICE = "google.logging.v2.LoggingServiceV2"
KMS_SERVICE_NAME = "cloudkms.googleapis.com"
DATA_ACCESS_LOG = "cloudaudit.googleapis.com%2Fdata_access"
RETENTION_SECONDS = 30 * 86400  # the _Default log bucket keeps entries 30 days
DEFAULT_PAGE = 50
MAX_PAGE = 1000
MAX_ENTRIES_PER_PROJECT = 200_000  # the oldest go first beyond this
PRINCIPAL_METADATA = "x-keyplane-sandbox-principal"
SANDBOX_PRINCIPAL = "sandbox-caller@keyplane-sandbox.iam.gserviceaccount.com"
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")
# Cloud KMS methods the fake serves that check a DATA_READ permission, and that permission
# (https://cloud.google.com/kms/docs/audit-logging)
AUDITED: dict[str, str] = {
    "AsymmetricSign": "cloudkms.cryptoKeyVersions.useToSign",
    "GetPublicKey": "cloudkms.cryptoKeyVersions.viewPublicKey",
    "Encrypt": "cloudkms.cryptoKeyVersions.useToEncrypt",
    "Decrypt": "cloudkms.cryptoKeyVersions.useToDecrypt",
    "MacSign": "cloudkms.cryptoKeyVersions.useToSign",
    "MacVerify": "cloudkms.cryptoKeyVersions.useToVerify",
}
# projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]
_KMS_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/keyRings/([^/]+)/cryptoKeys/"
                       r"([^/]+)(?:/cryptoKeyVersions/([^/]+))?$")
_STRING_FIELDS = {"logName": "log_name", "protoPayload.serviceName": "service_name",
                  "protoPayload.methodName": "method_name",
                  "protoPayload.resourceName": "resource_name"}
_ORDERS = {"": False, "timestamp asc": False, "timestamp desc": True}


@dataclass(frozen=True)
class _Kept:
    """One entry, with the fields filters compare kept beside the message answered."""

    seq: int
    project: str
    log_name: str
    service_name: str
    method_name: str
    resource_name: str
    at: float  # seconds since the epoch
    entry: LogEntry


def _invalid(message: str) -> MonitoringAbort:
    return MonitoringAbort(grpc.StatusCode.INVALID_ARGUMENT, message)


def _timestamp(epoch: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(epoch * 1e9))
    return ts


def _caller_ip(peer: str) -> str:
    """The IP of a gRPC peer (`ipv4:127.0.0.1:5050`, `ipv6:[::1]:5050`)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return "private"  # a unix socket: Cloud Audit Logs names internal callers so


# --- the filter: the subset of the Logging query language keyplane sends ------------------

_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")|'
                    r'(?P<op>>=|<=|=)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))')
Comparison = tuple[str, str, Any]  # (field, operator, value)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _invalid(f"unparseable filter: unexpected {text[pos:pos + 12].strip()!r} at "
                           f"column {pos + 1} (the keyplane sandbox evaluates only the filter "
                           "keyplane sends)")
        kind = str(m.lastgroup)
        out.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    return out


def _time(text: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"invalid timestamp {text!r}: must be an RFC 3339 time") from None
    if when.tzinfo is None:
        raise _invalid(f"invalid timestamp {text!r}: an RFC 3339 time needs a zone")
    return when.timestamp()


class _Parser:
    """`clause (AND clause)*`; clause: comparison | `(` comparison (OR comparison)* `)`."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def _next(self, *kinds: str) -> tuple[str, str, int]:
        if self.i >= len(self.tokens):
            raise _invalid(f"unparseable filter: it ends where {' or '.join(kinds)} was expected")
        tok = self.tokens[self.i]
        if tok[0] not in kinds:
            raise _invalid(f"unparseable filter: {tok[1]!r} at column {tok[2]} where "
                           f"{' or '.join(kinds)} was expected (the keyplane sandbox evaluates "
                           "only the filter keyplane sends)")
        self.i += 1
        return tok

    def _comparison(self) -> Comparison:
        _, field, col = self._next("word")
        _, op, _ = self._next("op")
        _, quoted, _ = self._next("str")
        try:
            value = str(json.loads(quoted))  # a JSON string: the same escapes
        except ValueError:
            raise _invalid(f"unparseable filter: invalid string {quoted} at column "
                           f"{self.tokens[self.i - 1][2]}") from None
        if field in _STRING_FIELDS:
            if op != "=":
                raise _invalid(f"the keyplane sandbox compares {field} with = only, got {op}")
            return (_STRING_FIELDS[field], op, value)
        if field == "timestamp":
            if op not in (">=", "<="):
                raise _invalid(f"the keyplane sandbox compares timestamp with >= or <= only, "
                               f"got {op}")
            return ("at", op, _time(value))
        raise _invalid(f"the keyplane sandbox does not filter on {field} (column {col}): "
                       f"only {', '.join([*_STRING_FIELDS, 'timestamp'])}")

    def parse(self) -> list[list[Comparison]]:
        """The filter as AND of ORs."""
        clauses: list[list[Comparison]] = []
        while True:
            if self.i < len(self.tokens) and self.tokens[self.i][0] == "lp":
                self.i += 1
                alternatives = [self._comparison()]
                while self.tokens[self.i:self.i + 1] and self.tokens[self.i][1] == "OR":
                    self.i += 1
                    alternatives.append(self._comparison())
                self._next("rp")
                clauses.append(alternatives)
            else:
                clauses.append([self._comparison()])
            if self.i == len(self.tokens):
                return clauses
            _, word, col = self._next("word")
            if word != "AND":
                raise _invalid(f"unparseable filter: {word!r} at column {col} where AND was "
                               "expected (the keyplane sandbox evaluates only the filter "
                               "keyplane sends)")


def parse_filter(text: str) -> Callable[[_Kept], bool]:
    """A predicate for `text`; INVALID_ARGUMENT (MonitoringAbort) for anything outside the
    subset described in the module docstring, an empty filter included."""
    if not text.strip():
        raise _invalid("the keyplane sandbox needs a filter (it serves keyplane's audit-log "
                       "query, not whole logs)")
    clauses = _Parser(text).parse()

    def holds(kept: _Kept, c: Comparison) -> bool:
        field, op, value = c
        have = getattr(kept, field)
        if op == "=":
            return bool(have == value)
        return bool(have >= value) if op == ">=" else bool(have <= value)

    return lambda kept: all(any(holds(kept, c) for c in alts) for alts in clauses)


# --- the fake ---------------------------------------------------------------------------------


class CloudLoggingFake:
    """The Cloud KMS Data Access audit log of every project the sandbox served, and
    ListLogEntries over it.

    `projects` is the hosted-project set of the Cloud KMS fake (the same object: empty means
    every project is hosted); `clock` (seconds since the epoch) times entries and retention.
    """

    def __init__(self, *, projects: set[str], clock: Callable[[], float] = time.time) -> None:
        self.projects = projects
        self.clock = clock
        self.requests: list[lg.ListLogEntriesRequest] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._entries: dict[str, list[_Kept]] = {}

    def served(self, method: str, request: Any, context: grpc.ServicerContext,
               error: str | None) -> None:
        """Record a Cloud KMS call the endpoint answered (`error`: the grpc.StatusCode name it
        was refused with, None when it succeeded). Methods that are not Data Access uses,
        and names outside a project, are not recorded; a record that cannot be made never
        fails the call it records."""
        try:
            self._record(method, request, context, error)
        except Exception:
            _log.exception("cloud logging fake: %s was served but not recorded", method)

    def _record(self, method: str, request: Any, context: grpc.ServicerContext,
                error: str | None) -> None:
        permission = AUDITED.get(method)
        name = str(getattr(request, "name", "") or "")
        m = _KMS_NAME.match(name)
        if permission is None or m is None:
            return
        project, location, ring, key, version = m.groups()
        metadata = {k.lower(): v for k, v in (context.invocation_metadata() or ())
                    if isinstance(v, str)}
        principal = metadata.get(PRINCIPAL_METADATA, "")
        audit = audit_log_pb2.AuditLog(service_name=KMS_SERVICE_NAME, method_name=method,
                                       resource_name=name)
        audit.authentication_info.principal_email = \
            principal if _EMAIL.fullmatch(principal) else SANDBOX_PRINCIPAL
        audit.authorization_info.add(
            resource=name, permission=permission, granted=error != "PERMISSION_DENIED",
            permission_type=audit_log_pb2.AuthorizationInfo.PermissionType.DATA_READ)
        audit.request_metadata.caller_ip = _caller_ip(context.peer() or "")
        audit.request_metadata.caller_supplied_user_agent = metadata.get("user-agent", "")
        audit.request.update({"@type": f"type.googleapis.com/google.cloud.kms.v1.{method}Request",
                              "name": name})
        if error is not None:
            audit.status.code = int(getattr(code_pb2, error, code_pb2.UNKNOWN))
            audit.status.message = f"{method} was refused: {error}"
        payload = any_pb2.Any()
        payload.Pack(audit)
        labels = {"project_id": project, "location": location, "key_ring_id": ring,
                  "crypto_key_id": key}
        if version is not None:
            labels["crypto_key_version_id"] = version
        now = self.clock()
        log_name = f"projects/{project}/logs/{DATA_ACCESS_LOG}"
        entry = LogEntry(
            log_name=log_name, proto_payload=payload, insert_id=uuid.uuid4().hex[:20],
            resource={"type": "cloudkms_cryptokeyversion" if version else "cloudkms_cryptokey",
                      "labels": labels},
            timestamp=_timestamp(now), receive_timestamp=_timestamp(now),
            severity=log_severity_pb2.ERROR if error else log_severity_pb2.INFO)
        with self._lock:
            self._seq += 1
            kept = self._entries.setdefault(project, [])
            kept.append(_Kept(self._seq, project, log_name, KMS_SERVICE_NAME, method, name,
                              now, entry))
            if len(kept) > MAX_ENTRIES_PER_PROJECT:
                del kept[: len(kept) - MAX_ENTRIES_PER_PROJECT]

    def _project(self, resource_name: str) -> str:
        parts = resource_name.split("/")
        if len(parts) != 2 or parts[0] != "projects" or not parts[1]:
            raise _invalid(f"invalid resource name {resource_name!r}: the keyplane sandbox "
                           "serves project log views only (projects/PROJECT_ID)")
        if self.projects and parts[1] not in self.projects:
            raise MonitoringAbort(grpc.StatusCode.PERMISSION_DENIED,
                                  f"permission denied on resource project {parts[1]}")
        return parts[1]

    def ListLogEntries(self, req: lg.ListLogEntriesRequest, repeat: bool) -> Any:
        """The entries of the projects named that the filter matches, one page."""
        with self._lock:
            self.requests.append(lg.ListLogEntriesRequest(req))
        if not req.resource_names:
            raise _invalid("resource_names must name at least one project")
        projects = [self._project(r) for r in req.resource_names]
        order = " ".join(req.order_by.lower().split())
        if order not in _ORDERS:
            raise _invalid(f"order_by must be `timestamp asc` or `timestamp desc`, got "
                           f"{req.order_by!r}")
        if req.page_size < 0:
            raise _invalid(f"page_size must not be negative, got {req.page_size}")
        size = min(req.page_size or DEFAULT_PAGE, MAX_PAGE)
        matches = parse_filter(req.filter)
        query = hashlib.sha256(json.dumps([sorted(projects), req.filter, order]).encode()
                               ).hexdigest()[:16]
        start = self._token(req.page_token, query)
        oldest = self.clock() - RETENTION_SECONDS
        with self._lock:
            kept = [k for p in dict.fromkeys(projects) for k in self._entries.get(p, ())]
        found = sorted((k for k in kept if k.at >= oldest and matches(k)),
                       key=lambda k: (k.at, k.seq), reverse=_ORDERS[order])
        page = found[start:start + size]
        token = ""
        if start + size < len(found):
            token = base64.urlsafe_b64encode(json.dumps(
                {"offset": start + size, "query": query}).encode()).decode()
        return lg.ListLogEntriesResponse(entries=[k.entry for k in page],
                                         next_page_token="1" if repeat else token)

    @staticmethod
    def _token(token: str, query: str) -> int:
        """Where a page token continues; INVALID_ARGUMENT for a token that is not one of
        ours or was made for another query."""
        if not token:
            return 0
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            offset, made_by = int(data["offset"]), str(data["query"])
        except (ValueError, KeyError, TypeError):
            raise _invalid("page_token is not valid") from None
        if made_by != query:
            raise _invalid("page_token was issued for a query with other parameters")
        return offset

    def entries(self, project: str) -> list[LogEntry]:
        """Every entry kept for a project, oldest first (for tests)."""
        with self._lock:
            return [k.entry for k in self._entries.get(project, ())]


def logging_handlers(wrap: Callable[[str], Any]) -> tuple[grpc.GenericRpcHandler, ...]:
    """The gRPC handler of ListLogEntries; `wrap(method)` gives the endpoint's handler for a
    method of the fake (latency, fault rules, status codes)."""
    table = {"ListLogEntries": grpc.unary_unary_rpc_method_handler(
        wrap("ListLogEntries"), request_deserializer=lg.ListLogEntriesRequest.deserialize,
        response_serializer=lg.ListLogEntriesResponse.serialize)}
    return (grpc.method_handlers_generic_handler(LOGGING_SERVICE, table),)
