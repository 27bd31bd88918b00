"""The GCP adapters of incident responses: Cloud KMS (find the generation's version, disable
it) and its audit trail in Cloud Audit Logs.

A generation on Cloud KMS is one crypto key version; disabling it
(UpdateCryptoKeyVersion, `state=DISABLED`, update mask `state`) stops every use of that
version while the key's other versions keep working. Cloud KMS has no grants (who may use a
key is IAM on the crypto key, shared by all its versions). Who used the version is read from
Cloud KMS's Data Access audit logs through Cloud Logging's ListLogEntries
(`CloudAuditLogs`, with the filter `audit_log_query` writes). Calls use the run's Retry and
translate failures into `keyplane.cloudcall`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import kms_v1
from google.protobuf import field_mask_pb2

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.drills import GcpKmsDrill, translate
from keyplane.cloud.gcp.reader import pages
from keyplane.cloudcall import CloudCallError
from keyplane.drills.ports import KeyTarget
from keyplane.incident.model import (
    GCP_USE_METHODS,
    DeployedKey,
    Grant,
    TrailEvent,
    TrailResult,
    iso,
)
from keyplane.model.environment import KeyDecl
from keyplane.postapply.errors import HookSetupError

KMS_SERVICE = "cloudkms.googleapis.com"
DATA_ACCESS_LOG = "cloudaudit.googleapis.com%2Fdata_access"
# Data Access audit logs go to the project's _Default log bucket, which keeps them 30 days
# (https://cloud.google.com/logging/docs/routing/overview#buckets); older ones are only where
# a sink routed them.
DEFAULT_BUCKET_DAYS = 30
ENTRIES_PAGE = 1000  # ListLogEntries' page_size ceiling
AUDIT_LOG_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
_LOCATION = re.compile(r"^projects/([^/]+)/locations/([^/]+)/")

_State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState


class GcpIncidentKms:
    """The crypto key versions of the environment's keys (names from the desired state)."""

    cloud = "gcp"
    grants_supported = False

    def __init__(self, client: Any, config: GcpConfig, crypto_keys: dict[str, str]) -> None:
        self._client = client
        self._config = config
        self._crypto_keys = crypto_keys  # declared key name -> crypto key resource name
        self._drill = GcpKmsDrill(client, config)

    def _call(self, operation: str, method: str, request: dict[str, Any]) -> Any:
        try:
            return getattr(self._client, method)(request=request, retry=self._config.retry(),
                                                 timeout=self._config.call_timeout)
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise translate(exc, operation) from None

    def targets(self, key: KeyDecl) -> list[KeyTarget]:
        """The ENABLED and DISABLED versions of the key's crypto key."""
        try:
            return self._drill.targets(key.name, None, self._crypto_keys.get(key.name))
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise translate(exc, "ListCryptoKeyVersions") from None

    def alias_target(self, alias: str) -> str | None:
        """Cloud KMS has no aliases."""
        return None

    def related(self, target: KeyTarget) -> list[DeployedKey]:
        """The version itself: nothing else shares its material."""
        return [DeployedKey(ref=target.ref, region=None, state=target.state, role="version")]

    def state(self, key: DeployedKey) -> str:
        """The version's state (ENABLED, DISABLED, DESTROY_SCHEDULED...)."""
        v = self._call("GetCryptoKeyVersion", "get_crypto_key_version", {"name": key.ref})
        return str(v.state.name)

    def disable(self, key: DeployedKey) -> None:
        """UpdateCryptoKeyVersion to DISABLED (update mask `state`)."""
        self._call("UpdateCryptoKeyVersion", "update_crypto_key_version",
                   {"crypto_key_version": {"name": key.ref, "state": _State.DISABLED},
                    "update_mask": field_mask_pb2.FieldMask(paths=["state"])})

    def grants(self, key: DeployedKey) -> list[Grant]:
        """Cloud KMS has no grants."""
        return []

    def revoke(self, grant: Grant) -> bool:
        """Cloud KMS has no grants."""
        return False


def rfc3339(when: dt.datetime) -> str:
    """A Logging query time: RFC 3339, UTC, with the microseconds (a window's end cut to the
    second would leave out the calls of its last second)."""
    text = when.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z").replace(".000000Z", "Z")


def audit_log_query(project: str, versions: list[str], start: str, end: str | None = None
                    ) -> str:
    """The Cloud Logging filter of the versions' uses from `start` (to `end`; RFC 3339).

    Cloud KMS's Data Access audit log of the project; `protoPayload.methodName` one of the
    uses (`keyplane.incident.model.GCP_USE_METHODS`); `protoPayload.resourceName` a version or
    its crypto key: a call names the key instead of a version when it lets Cloud KMS choose
    (Encrypt with the key's name uses its primary version, Decrypt the version in the
    ciphertext), so those calls are listed too, under the key's name.
    """
    names: list[str] = []
    for v in versions:
        names += [v, v.split("/cryptoKeyVersions/", 1)[0]]
    methods = " OR ".join(f'protoPayload.methodName="{m}"' for m in GCP_USE_METHODS)
    resources = " OR ".join(f'protoPayload.resourceName="{n}"' for n in dict.fromkeys(names))
    until = f' AND timestamp<="{end}"' if end is not None else ""
    return (f'logName="projects/{project}/logs/{DATA_ACCESS_LOG}" AND '
            f'protoPayload.serviceName="{KMS_SERVICE}" AND ({methods}) AND ({resources}) AND '
            f'timestamp>="{start}"{until}')


def build_logging_client(config: GcpConfig) -> Any:
    """A Cloud Logging LoggingServiceV2Client for `config` (a plaintext local channel when an
    endpoint is given: `api_endpoint` would force TLS). HookSetupError without credentials."""
    from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
    from google.cloud.logging_v2.services.logging_service_v2.transports.grpc import (
        LoggingServiceV2GrpcTransport,
    )

    if config.endpoint:
        channel = grpc.insecure_channel(config.endpoint)
        return LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=channel))
    try:
        return LoggingServiceV2Client()
    except Exception as exc:  # DefaultCredentialsError and friends
        raise HookSetupError(f"cannot set up gcp credentials: {exc}") from None


class CloudAuditLogs:
    """Who used a crypto key version: Cloud KMS's Data Access audit log entries, read with
    Cloud Logging's ListLogEntries over the project's log view (`audit_log_query`).

    Data Access audit logs are off by default for Cloud KMS: without them Cloud Logging holds
    no record of a version's uses, and an empty answer would read as "nobody used it".
    keyplane's synthesized GCP stack turns them on (`google_project_iam_audit_config` for
    cloudkms.googleapis.com: ADMIN_READ, DATA_READ, DATA_WRITE) when the environment holds a
    `ca` or `production` key on GCP, and the PR gate checks it (`gcp_kms_data_access_logs`);
    the incident command only uses this trail where the desired state turns them on. They
    land in the `_Default` bucket, which keeps them 30 days (`history_days`, what CloudTrail's
    90 days are on AWS); the stack's audit sink keeps them longer in its locked bucket.
    """

    name = "Cloud Logging ListLogEntries"
    history_days = DEFAULT_BUCKET_DAYS

    def __init__(self, client: Any, config: GcpConfig) -> None:
        self._client = client  # a LoggingServiceV2Client
        self._config = config

    def lookup(self, key: DeployedKey, start: dt.datetime, end: dt.datetime, *,
               max_events: int) -> TrailResult:
        """The version's uses between `start` and `end`, oldest first, at most `max_events`
        (then `truncated`), in the project that holds it."""
        from google.cloud.logging_v2.types import ListLogEntriesRequest

        m = _LOCATION.match(key.ref)
        if m is None:
            raise CloudCallError("ListLogEntries", "InvalidResourceName",
                                 f"{key.ref} is not a crypto key version name")
        project = m.group(1)
        request = ListLogEntriesRequest(
            resource_names=[f"projects/{project}"], order_by="timestamp asc",
            page_size=min(ENTRIES_PAGE, max_events + 1),  # one more tells it was truncated
            # the start to the second below (a wider window, never a narrower one), the end
            # to the microsecond
            filter=audit_log_query(project, [key.ref], iso(start), rfc3339(end)))
        out = TrailResult()
        for entry in pages(self._config, "ListLogEntries", self._client.list_log_entries,
                           request, "entries"):
            if len(out.events) >= max_events:
                out.truncated = True
                break
            out.events.append(_event(entry))
        out.events.sort(key=lambda e: e.event_time)
        return out


def _event(entry: Any) -> TrailEvent:
    """One audit log entry: the caller (authenticationInfo: the principal's email, or the
    federated subject), never a credential; a refused call carries its status code."""
    from google.cloud.audit import audit_log_pb2
    from google.rpc import code_pb2

    payload = entry.proto_payload
    audit = audit_log_pb2.AuditLog()
    if payload.type_url != AUDIT_LOG_TYPE or not payload.Unpack(audit):
        # the filter matches audit logs only: anything else is not a record keyplane can read
        raise CloudCallError("ListLogEntries", "UnexpectedPayload",
                             f"entry {entry.insert_id} holds {payload.type_url or 'no payload'}, "
                             "not an AuditLog")
    who = audit.authentication_info
    m = _LOCATION.match(audit.resource_name)
    when = entry.timestamp
    if not isinstance(when, dt.datetime):
        raise CloudCallError("ListLogEntries", "UnexpectedEntry",
                             f"entry {entry.insert_id} has no timestamp")
    return TrailEvent(
        event_id=str(entry.insert_id), event_name=audit.method_name,
        event_time=when.astimezone(dt.UTC),
        principal_arn=who.principal_email or who.principal_subject or "unknown",
        role_arn=None, region=m.group(2) if m else None, key_ref=audit.resource_name,
        error_code=_code_name(code_pb2, audit.status.code) if audit.status.code else None,
        source_ip=audit.request_metadata.caller_ip or None)


def _code_name(codes: Any, code: int) -> str:
    """google.rpc.Code's name of `code` (the number itself when it is not one)."""
    try:
        return str(codes.Code.Name(code))
    except ValueError:
        return str(code)
