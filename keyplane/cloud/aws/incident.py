"""The AWS adapters of incident responses: KMS, CloudTrail's event history, the record store,
and the break-glass role.

Reads (finding the generation's key, its replicas and grants, the event history) use the
run's clients; DisableKey and RevokeGrant use the break-glass role's, assumed once with MFA
(`assume_break_glass`): an MFA code is good for one AssumeRole, so the session is not
renewed. Every call goes through `translate` into `keyplane.cloudcall`; lists go through
paginators.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keyplane.audit.evidence import EvidenceError
from keyplane.cloud.aws.drills import AwsKmsDrill, translate
from keyplane.cloud.aws.evidence import parse_s3_uri
from keyplane.cloud.aws.session import AwsClients
from keyplane.cloudcall import CloudCallError, KeyMissingError
from keyplane.drills.ports import KeyTarget
from keyplane.incident.errors import BreakGlassError
from keyplane.incident.model import USE_EVENTS, DeployedKey, Grant, TrailEvent, TrailResult
from keyplane.incident.store import INCIDENTS
from keyplane.model.environment import KeyDecl

# The event history holds 90 days of management events (KMS calls are management events);
# older ones are only in a trail's log files.
# https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html
EVENT_HISTORY_DAYS = 90
LOOKUP_PAGE = 50  # LookupEvents' MaxResults ceiling
# sts:AssumeRole SerialNumber and TokenCode
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html)
MFA_SERIAL = re.compile(r"^[\w+=/:,.@-]{9,256}$")
MFA_TOKEN = re.compile(r"^[0-9]{6}$")
# RevokeGrant of a grant that was revoked or retired already
GRANT_GONE = frozenset({"NotFoundException", "InvalidGrantIdException"})
BREAK_GLASS_SECONDS = 900  # the shortest session STS issues: the steps take seconds


def _call(operation: str, fn: Any, region: str | None = None, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        err = translate(exc, operation)
        err.region = region
        raise err from None


def region_of(arn: str) -> str:
    """The Region of a KMS key ARN."""
    return arn.split(":")[3]


class AwsIncidentKms:
    """KMS in the environment's home Region and wherever the generation has replicas."""

    cloud = "aws"
    grants_supported = True

    def __init__(self, reader: AwsClients, region: str, actor: AwsClients | None = None) -> None:
        self._reader = reader
        self._actor = actor  # None in a dry run: nothing may be written
        self.region = region
        self._drill = AwsKmsDrill(reader, region)

    def _kms(self, region: str, *, write: bool = False) -> Any:
        if write:
            if self._actor is None:
                raise RuntimeError("no break-glass clients: a dry run writes nothing")
            return self._actor.client("kms", region)
        return self._reader.client("kms", region)

    def targets(self, key: KeyDecl) -> list[KeyTarget]:
        """The keys tagged as `key` (the sign canary's search: one way to find a generation)."""
        try:
            return self._drill.targets(key.name, key.alias, None)
        except (ClientError, BotoCoreError) as exc:  # the listing's paginators
            raise translate(exc, "ListKeys") from None

    def alias_target(self, alias: str) -> str | None:
        """The ARN `alias` resolves to in the home Region; None when it does not exist."""
        try:
            md = _call("DescribeKey", self._kms(self.region).describe_key, self.region,
                       KeyId=alias)["KeyMetadata"]
        except KeyMissingError:
            return None
        return str(md["Arn"])

    def related(self, target: KeyTarget) -> list[DeployedKey]:
        """The generation's key and, for a multi-Region primary, every replica (they share
        its key material, so each is disabled and each Region's history is read)."""
        region = region_of(target.ref)
        md = _call("DescribeKey", self._kms(region).describe_key, region,
                   KeyId=target.ref)["KeyMetadata"]
        out = [DeployedKey(ref=str(md["Arn"]), region=region, state=str(md.get("KeyState")),
                           role="primary")]
        mr = md.get("MultiRegionConfiguration") or {}
        for replica in mr.get("ReplicaKeys") or []:
            r_region = str(replica["Region"])
            r_md = _call("DescribeKey", self._kms(r_region).describe_key, r_region,
                         KeyId=str(replica["Arn"]))["KeyMetadata"]
            out.append(DeployedKey(ref=str(r_md["Arn"]), region=r_region,
                                   state=str(r_md.get("KeyState")), role="replica"))
        return out

    def state(self, key: DeployedKey) -> str:
        """KeyState from DescribeKey."""
        region = key.region or region_of(key.ref)
        md = _call("DescribeKey", self._kms(region).describe_key, region,
                   KeyId=key.ref)["KeyMetadata"]
        return str(md.get("KeyState"))

    def disable(self, key: DeployedKey) -> None:
        """DisableKey as the break-glass role."""
        region = key.region or region_of(key.ref)
        _call("DisableKey", self._kms(region, write=True).disable_key, region, KeyId=key.ref)

    def grants(self, key: DeployedKey) -> list[Grant]:
        """ListGrants, every page."""
        region = key.region or region_of(key.ref)
        out = []
        try:
            for page in self._kms(region).get_paginator("list_grants").paginate(KeyId=key.ref):
                for g in page.get("Grants", []):
                    out.append(Grant(key_ref=key.ref, grant_id=str(g["GrantId"]),
                                     grantee=str(g.get("GranteePrincipal", "")),
                                     operations=tuple(g.get("Operations") or ()),
                                     name=g.get("Name") or None,
                                     retiring_principal=g.get("RetiringPrincipal") or None))
        except (ClientError, BotoCoreError) as exc:
            err = translate(exc, "ListGrants")
            err.region = region
            raise err from None
        return out

    def revoke(self, grant: Grant) -> bool:
        """RevokeGrant as the break-glass role; False when the grant is already gone."""
        region = region_of(grant.key_ref)
        try:
            _call("RevokeGrant", self._kms(region, write=True).revoke_grant, region,
                  KeyId=grant.key_ref, GrantId=grant.grant_id)
        except CloudCallError as exc:
            if exc.code in GRANT_GONE:
                return False
            raise
        return True


class CloudTrailEventHistory:
    """Who called a key: CloudTrail LookupEvents in the key's Region (ResourceName = its ARN),
    filtered to the cryptographic operations."""

    name = "CloudTrail LookupEvents"
    history_days = EVENT_HISTORY_DAYS

    def __init__(self, reader: AwsClients) -> None:
        self._reader = reader

    def lookup(self, key: DeployedKey, start: dt.datetime, end: dt.datetime, *,
               max_events: int) -> TrailResult:
        """The key's calls between `start` and `end`, oldest first, at most `max_events`."""
        region = key.region or region_of(key.ref)
        client = self._reader.client("cloudtrail", region)
        out = TrailResult()
        try:
            pages = client.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key.ref}],
                StartTime=start, EndTime=end, PaginationConfig={"PageSize": LOOKUP_PAGE})
            for page in pages:
                for ev in page.get("Events", []):
                    if ev.get("EventName") not in USE_EVENTS:
                        continue
                    if len(out.events) >= max_events:
                        out.truncated = True
                        break
                    out.events.append(_event(ev, key, region))
                if out.truncated:
                    break
        except (ClientError, BotoCoreError) as exc:
            err = translate(exc, "LookupEvents")
            err.region = region
            raise err from None
        out.events.sort(key=lambda e: e.event_time)
        return out


def _event(ev: dict[str, Any], key: DeployedKey, region: str) -> TrailEvent:
    """One LookupEvents event; the caller from its CloudTrailEvent (never its access key)."""
    try:
        detail = json.loads(ev.get("CloudTrailEvent") or "{}")
    except ValueError:
        detail = {}
    who = detail.get("userIdentity") or {}
    issuer = ((who.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
    when = ev.get("EventTime")
    if not isinstance(when, dt.datetime):
        when = dt.datetime.fromtimestamp(float(when or 0), tz=dt.UTC)
    return TrailEvent(event_id=str(ev.get("EventId", "")), event_name=str(ev["EventName"]),
                      event_time=when.astimezone(dt.UTC),
                      principal_arn=str(who.get("arn") or ev.get("Username") or "unknown"),
                      role_arn=str(issuer) if issuer else None,
                      region=str(detail.get("awsRegion") or region), key_ref=key.ref,
                      error_code=detail.get("errorCode") or None,
                      source_ip=detail.get("sourceIPAddress") or None)


def assume_break_glass(base: AwsClients, *, role_arn: str, session_name: str,
                       mfa_serial: str | None, mfa_token: str | None) -> AwsClients:
    """Clients acting as the break-glass role, assumed once with MFA (sts:AssumeRole with
    SerialNumber and TokenCode: the role's trust policy requires aws:MultiFactorAuthPresent).
    BreakGlassError when STS refuses, naming the role; nothing has been changed then."""
    args: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name,
                            "DurationSeconds": BREAK_GLASS_SECONDS}
    if mfa_serial is not None and mfa_token is not None:
        args.update(SerialNumber=mfa_serial, TokenCode=mfa_token)
    try:
        creds = base.client("sts").assume_role(**args)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        err = translate(exc, "AssumeRole")
        raise BreakGlassError(f"cannot assume the break-glass role {role_arn}: "
                              f"{err.describe()}: {err.message or err.code}; nothing was "
                              "changed") from None
    config = replace(base.config, profile=None, assume_role=None,
                     access_key_id=str(creds["AccessKeyId"]),
                     secret_access_key=str(creds["SecretAccessKey"]),
                     session_token=str(creds["SessionToken"]))
    return AwsClients(config)


def caller(clients: AwsClients) -> str:
    """The ARN STS names for `clients`."""
    return str(_call("GetCallerIdentity",
                     clients.client("sts").get_caller_identity)["Arn"])


class S3IncidentStore:
    """Incident records as objects under `<evidence prefix>incidents/`, put with
    IfNoneMatch="*" so an earlier record is never replaced (as drill evidence)."""

    def __init__(self, s3: Any, uri: str) -> None:
        self._s3 = s3
        bucket, prefix = parse_s3_uri(uri)
        self.bucket = bucket
        self.prefix = f"{prefix}{INCIDENTS}/"
        self.where = f"s3://{bucket}/{self.prefix}"

    def ensure_writable(self) -> None:
        """A probe object, put and removed."""
        key = f"{self.prefix}.keyplane-probe"
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=b"probe")
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise EvidenceError(f"cannot write incident records to {self.where}: "
                                f"{translate(exc, 'PutObject').code}") from None

    def put(self, name: str, record: dict[str, Any]) -> str:
        """Put the record unless its key exists."""
        key = f"{self.prefix}{name}"
        body = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                                ContentType="application/json")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed",
                                                              "ConditionalRequestConflict"):
                raise EvidenceError(f"incident record {name} already exists; keyplane never "
                                    "overwrites evidence") from None
            raise EvidenceError(f"cannot write incident records to {self.where}: "
                                f"{translate(exc, 'PutObject').code}") from None
        except BotoCoreError as exc:
            raise EvidenceError(f"cannot write incident records to {self.where}: "
                                f"{type(exc).__name__}") from None
        return f"s3://{self.bucket}/{key}"
