"""The sandbox's AWS endpoint: a small HTTP/1.1 front (kept-alive connections, `http_server`)
that hands what it does not answer itself to moto's server application.

moto answers most of what keyplane reads, but it is laxer than AWS in places that
matter to keyplane's checks. The front, on the same port the SDK talks to, adds:

- accounts: an access key `KPSBX<12 digits>` makes moto answer as that account
  (moto's `x-moto-account-id` header), so `sts:GetCallerIdentity` returns the
  environment's declared account; a temporary key moto issued (an assumed role's) answers
  as the account it was issued in, and sts:AssumeRole is refused as AWS refuses it (a role
  that does not exist, a trust policy that does not name the caller or whose conditions,
  e.g. sts:ExternalId, are not met: `sts_trust`);
- KMS behaviours moto does not have: `RotationPeriodInDays` (stored, validated 90-2560,
  returned with `NextRotationDate`), rotation refused for asymmetric, HMAC, imported
  and custom-key-store keys (`UnsupportedOperationException`) while their rotation
  status reads `false` (as AWS answers; Terraform's provider reads it for every key),
  deletion windows outside 7-30 days refused, CloudHSM custom key stores (create with
  AWS's checks on the cluster, describe with the trust anchor, connect, disconnect) and
  keys in them, replicas that get ReplicateKey's tags, policy and description and keep
  their own aliases, and paginated ListKeys / ListAliases (`Limit`, `Marker`);
- IAM: AWS managed policies (`arn:aws:iam::aws:policy/...`) exist in every account, at
  AWS's paths (`iam_managed`);
- ACM's ListCertificates as AWS filters it: only RSA_1024 and RSA_2048 certificates
  unless `Includes.keyTypes` names other key types;
- AWS Backup as the AWS SDK for Go calls it: ListTags without a trailing slash, backup
  selections and restore testing (`backup_config_fake`);
- fault injection by rule: throttling, AccessDenied, expired credentials, a repeated
  NextToken, for one operation, Region or key, always or a number of times;
- a fixed per-request latency, so concurrency matters against a local server;
- for restore drills: KMS cryptographic operations as AWS does them (`kms_crypto`), a
  `CorruptSignature` fault, AWS Backup jobs and restores (`backup_fake`) and CloudHSM
  clusters, HSMs and backups (`cloudhsm_fake`), timed by one sandbox clock
  (`/_keyplane/clock`, `/_keyplane/backup`, `/_keyplane/cloudhsm`);
- CloudTrail's event history, which moto lacks: the KMS calls the front served, with the
  caller its credentials name, answered by LookupEvents (`cloudtrail_fake`).

It is a test bed and a playground, not AWS.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import logging
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from werkzeug.wrappers import Request, Response

from keyplane.sandbox.backup_fake import BackupApiError, BackupFake, SandboxClock
from keyplane.sandbox.cloudhsm_fake import CloudHsmFake, HsmApiError
from keyplane.sandbox.cloudtrail_fake import CloudTrailHistory, TrailApiError
from keyplane.sandbox.credentials import SANDBOX_KEY_PREFIX, sandbox_access_key
from keyplane.sandbox.http_server import KeepAliveServer, serve
from keyplane.sandbox.iam_managed import ManagedPolicies
from keyplane.sandbox.kms_crypto import KmsAnswer, KmsCrypto
from keyplane.sandbox.sts_trust import assume_role_refusal, key_account

__all__ = ["AwsEndpoint", "AwsFront", "FaultRule", "sandbox_access_key"]

_CRED = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
_CRED_REGION = re.compile(r"(Credential=[^/,\s]+/[^/]+/)[^/]+(/)")
_ACCOUNT_KEY = re.compile(rf"^{SANDBOX_KEY_PREFIX}(\d{{12}})$")
CONTROL_PREFIX = "/_keyplane/"
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
_QUERY_SERVICES = {"sts", "iam", "ec2"}
# KMS operations moto answers only for a key id, where AWS also takes the key's ARN
_BY_KEY_ID_ONLY = frozenset({"DisableKey", "EnableKey", "CancelKeyDeletion"})


@dataclass
class FaultRule:
    """Answer matching requests with an error (or a misbehaving page) instead of forwarding.

    service/operation/region/account/match: which requests (None = any); `match` is a
    substring of the request body (e.g. a key id). error: the AWS error code,
    `RepeatNextToken` for a list page that hands back the same token forever, or
    `CorruptSignature` for a KMS Sign answer with one bit of the signature flipped.
    times: how many matching requests to fail (None = all).
    """

    error: str
    service: str | None = None
    operation: str | None = None
    region: str | None = None
    account: str | None = None
    match: str | None = None
    times: int | None = None
    status: int = 400
    message: str = "injected by the keyplane sandbox"
    hits: int = 0

    def matches(self, req: _Call) -> bool:
        """Whether this rule applies to `req` (and has failures left)."""
        if self.times is not None and self.hits >= self.times:
            return False
        return ((self.service is None or self.service == req.service)
                and (self.operation is None or self.operation == req.operation)
                and (self.region is None or self.region == req.region)
                and (self.account is None or self.account == req.account)
                and (self.match is None or self.match in req.body.decode("utf-8", "replace")))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """A rule from its JSON form (the control endpoint's input)."""
        allowed = set(cls.__dataclass_fields__) - {"hits"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown fault rule fields: {', '.join(unknown)}")
        return cls(**data)


@dataclass
class _Call:
    """One request as the front sees it."""

    service: str
    operation: str
    region: str
    account: str | None
    access_key: str
    target: str | None
    body: bytes
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _KeyStore:
    id: str
    name: str
    cluster_id: str
    trust_anchor: str = ""
    state: str = "DISCONNECTED"
    created: float = field(default_factory=time.time)

    def describe(self) -> dict[str, Any]:
        """The store as DescribeCustomKeyStores gives it."""
        return {"CustomKeyStoreId": self.id, "CustomKeyStoreName": self.name,
                "CloudHsmClusterId": self.cluster_id, "ConnectionState": self.state,
                "TrustAnchorCertificate": self.trust_anchor,
                "CustomKeyStoreType": "AWS_CLOUDHSM", "CreationDate": self.created}


class KmsExtras:
    """KMS state moto does not keep: rotation periods and custom key stores."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rotation: dict[tuple[str, str, str], tuple[int, float]] = {}
        self.stores: dict[tuple[str, str], dict[str, _KeyStore]] = {}
        self.key_store_of: dict[tuple[str, str, str], str] = {}


class AwsFront:
    """The WSGI front: control endpoints, faults, KMS extras, then moto."""

    def __init__(self, moto_app: Any, *, latency_ms: float = 0.0) -> None:
        self.moto_app = moto_app  # moto's server application, called in process
        self.latency_ms = latency_ms
        self.rules: list[FaultRule] = []
        self.calls: list[tuple[str, str, str]] = []  # (service, operation, region), for tests
        self.record_calls = False
        self.kms = KmsExtras()
        self.clock = SandboxClock()
        self.backup = BackupFake(self.clock)
        self.cloudhsm = CloudHsmFake(self.clock)
        self.crypto = KmsCrypto(clock=self.clock.now)  # import tokens expire by the sandbox clock
        self.managed_policies = ManagedPolicies()
        self.trail = CloudTrailHistory(self.clock.now)  # LookupEvents of the KMS calls served
        self._lock = threading.Lock()

    # --- plumbing ---------------------------------------------------------------------------

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes
                 ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Ask moto's server application, in this process, as its own server would: the
        request as a WSGI environ, the answer buffered (status, headers, body)."""
        target, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(target, "latin-1"),
            "QUERY_STRING": query, "REQUEST_URI": path, "RAW_URI": path,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(body)),
        }
        for key, value in headers.items():
            name = key.upper().replace("-", "_")
            if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue
            environ[name if name == "CONTENT_TYPE" else f"HTTP_{name}"] = value
        answer: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Any:
            answer[:] = [int(status.split(" ", 1)[0]), response_headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = self.moto_app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, response_headers = answer
        return status, [(k, v) for k, v in response_headers if k.lower() not in _HOP], \
            b"".join(chunks)

    def _moto_json(self, call: _Call, headers: dict[str, str], operation: str,
                   params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Ask moto one KMS question on the caller's behalf (same account, Region)."""
        h = dict(headers)
        h["X-Amz-Target"] = f"TrentService.{operation}"
        status, _, data = self._forward("POST", "/", h, json.dumps(params).encode())
        try:
            return status, json.loads(data or b"{}")
        except ValueError:
            return status, {}

    @staticmethod
    def _error(call: _Call, code: str, message: str, status: int = 400) -> Response:
        if call.service in _QUERY_SERVICES:
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                    f"<Message>{message}</Message></Error>"
                    f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
            return Response(body, status=status, content_type="text/xml")
        if call.target is None:  # rest-json (backup)
            return Response(json.dumps({"message": message, "Message": message}), status=status,
                            headers={"x-amzn-ErrorType": code},
                            content_type="application/json")
        return Response(json.dumps({"__type": code, "message": message}), status=status,
                        content_type="application/x-amz-json-1.1")

    @staticmethod
    def _json(data: Any) -> Response:
        return Response(json.dumps(data, default=str), status=200,
                        content_type="application/x-amz-json-1.1")

    def _parse(self, request: Request, body: bytes) -> _Call:
        auth = request.headers.get("Authorization", "")
        m = _CRED.search(auth)
        access_key, region, service = (m.group(1), m.group(2), m.group(3)) if m else \
            ("", "us-east-1", "")
        target = request.headers.get("X-Amz-Target")
        params: dict[str, Any] = {}
        if target:
            operation = target.rsplit(".", 1)[-1]
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {}
        elif service in _QUERY_SERVICES:
            form = parse_qs(body.decode("utf-8", "replace"))
            operation = (form.get("Action") or [""])[0]
        else:
            operation = f"{request.method} {request.path}"
        acct = _ACCOUNT_KEY.match(access_key)
        return _Call(service=service, operation=operation, region=region,
                     account=acct.group(1) if acct else key_account(access_key),
                     access_key=access_key,
                     target=target, body=body, params=params if isinstance(params, dict) else {})

    # --- the application --------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)(environ, start_response)
        body = request.get_data()
        call = self._parse(request, body)
        if self.trail.records(call):  # CloudTrail's event history: the call and its outcome
            return self.trail.observe(
                call, lambda sr: self._serve(environ, sr, request, body, call), start_response)
        return self._serve(environ, start_response, request, body, call)

    def _serve(self, environ: dict[str, Any], start_response: Any, request: Request,
               body: bytes, call: _Call) -> Any:
        """Answer a parsed request: faults, latency, the sandbox's fakes, then moto."""
        if self.record_calls:
            with self._lock:
                self.calls.append((call.service, call.operation, call.region))
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        with self._lock:
            rule = next((r for r in self.rules if r.matches(call)), None)
            if rule is not None:
                rule.hits += 1
        corrupt = rule is not None and rule.error == "CorruptSignature"
        if rule is not None and not corrupt:
            if rule.error == "RepeatNextToken":
                resp = self._repeat_token(call)
            else:
                resp = self._error(call, rule.error, rule.message, rule.status)
            return resp(environ, start_response)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if call.account:
            headers["x-moto-account-id"] = call.account
        if call.service == "sts" and call.operation == "AssumeRole":
            refusal = assume_role_refusal(caller_account=call.account or "123456789012",
                                          access_key=call.access_key,
                                          params=parse_qs(body.decode("utf-8", "replace")))
            if refusal is not None:
                return self._error(call, "AccessDenied", refusal, 403)(environ, start_response)
        if call.service == "iam":
            self.managed_policies.before(call.account or "123456789012", call.operation,
                                         parse_qs(body.decode("utf-8", "replace")))
        drill = self._drill_services(call, request, corrupt)
        if drill is not None:
            return drill(environ, start_response)
        if call.service == "kms":
            special = self._kms(call, headers)
            if special is not None:
                return special(environ, start_response)
        path = request.path
        if call.service == "acm" and call.operation == "ListCertificates":
            body = acm_default_key_types(call.params, body)
        if call.service == "backup":
            path = self.backup.moto_path(request.method, path)
        if request.query_string:
            path = f"{path}?{request.query_string.decode('latin-1')}"
        status, out_headers, data = self._forward(request.method, path, headers, body)
        if call.service == "kms" and status == 200:
            data = self._kms_after(call, headers, data)
        resp = Response(data, status=status, headers=out_headers)
        return resp(environ, start_response)

    def _control(self, request: Request) -> Response:
        """`/_keyplane/health`, `/_keyplane/faults` (GET/PUT/DELETE), `/_keyplane/latency`."""
        what = request.path[len(CONTROL_PREFIX):]
        if what == "health":
            return Response(json.dumps({"ok": True}), content_type="application/json")
        if what == "faults":
            if request.method == "PUT":
                try:
                    rules = [FaultRule.from_dict(r) for r in json.loads(request.get_data())]
                except (ValueError, TypeError) as exc:
                    return Response(json.dumps({"error": str(exc)}), status=400)
                with self._lock:
                    self.rules = rules
            elif request.method == "DELETE":
                with self._lock:
                    self.rules = []
            return Response(json.dumps([{**r.__dict__} for r in self.rules]),
                            content_type="application/json")
        if what in ("backup", "cloudhsm", "clock"):
            return self._drill_control(what, request)
        if what == "latency" and request.method == "PUT":
            self.latency_ms = float(json.loads(request.get_data()).get("latency_ms", 0))
            return Response(json.dumps({"latency_ms": self.latency_ms}))
        return Response("not found", status=404)

    def _drill_control(self, what: str, request: Request) -> Response:
        """GET/PUT `/_keyplane/backup`, `/_keyplane/cloudhsm`; PUT `/_keyplane/clock`
        with `{"advance": seconds}`."""
        try:
            data = json.loads(request.get_data() or b"{}") if request.method == "PUT" else {}
            if what == "clock":
                if data.get("advance"):
                    self.clock.advance(float(data["advance"]))
                out: Any = {"now": self.clock.now()}
            elif what == "backup":
                out = self.backup.configure(data) if data else self.backup.settings()
            else:
                out = self.cloudhsm.control(data)
        except (ValueError, TypeError) as exc:
            return Response(json.dumps({"error": str(exc)}), status=400)
        return Response(json.dumps(out), content_type="application/json")

    def _drill_services(self, call: _Call, request: Request, corrupt: bool) -> Response | None:
        """Answer what the drill fakes implement (CloudHSM, Backup jobs, KMS crypto)."""
        account = call.account or "123456789012"
        if call.target and call.target.startswith("BaldrApiService."):
            try:
                return self._json(self.cloudhsm.handle(call.operation, account, call.region,
                                                       call.params))
            except HsmApiError as exc:
                return self._error(call, exc.code, exc.message)
        if call.service == "backup":
            try:
                body = json.loads(call.body or b"{}") if call.body else {}
                out = self.backup.handle(request.method, request.path, dict(request.args.items()),
                                         account, call.region,
                                         body if isinstance(body, dict) else {})
            except BackupApiError as exc:
                return self._error(call, exc.code, exc.message, exc.status)
            if out is None:
                return None
            status, doc = out
            if status == 204:  # no content: AWS sends no body
                return Response(b"", status=204)
            return Response(json.dumps(doc), status=status, content_type="application/json")
        if call.service == "cloudtrail" and call.operation == "LookupEvents":
            try:
                return self._json(self.trail.lookup(account, call.region, call.params))
            except TrailApiError as exc:
                return self._error(call, exc.code, exc.message)
        if call.service == "kms":
            try:
                got = self.crypto.handle(call.operation, account, call.region, call.params,
                                         corrupt=corrupt)
            except KmsAnswer as exc:
                return self._error(call, exc.code, exc.message)
            return None if got is None else self._json(got)
        return None

    def _repeat_token(self, call: _Call) -> Response:
        """A list page that is never the last: the same token again and again."""
        items = {"ListKeys": "Keys", "ListAliases": "Aliases", "ListGrants": "Grants",
                 "ListResourceTags": "Tags", "ListKeyRotations": "Rotations"}
        name = items.get(call.operation, "Items")
        return self._json({name: [], "Truncated": True, "NextMarker": "keyplane-same-token"})

    # --- KMS behaviours ---------------------------------------------------------------------

    def _key_scope(self, call: _Call) -> tuple[str, str]:
        return (call.account or "123456789012", call.region)

    def _describe(self, call: _Call, headers: dict[str, str], key_id: str
                  ) -> dict[str, Any] | None:
        status, data = self._moto_json(call, headers, "DescribeKey", {"KeyId": key_id})
        return data.get("KeyMetadata") if status == 200 else None

    def _kms(self, call: _Call, headers: dict[str, str]) -> Response | None:
        op, p = call.operation, call.params
        scope = self._key_scope(call)
        if op in _BY_KEY_ID_ONLY and str(p.get("KeyId", "")).startswith("arn:"):
            # AWS takes a key ARN here; moto looks these up by key id only (an ARN is a 500)
            arn = str(p["KeyId"]).split(":")
            if len(arn) < 6 or (arn[3], arn[4]) != (call.region, scope[0]):
                return self._error(call, "NotFoundException", f"Invalid keyId {p['KeyId']}")
            status, data = self._moto_json(call, headers, op,
                                           {**p, "KeyId": arn[5].rsplit("/", 1)[-1]})
            return Response(json.dumps(data), status=status,
                            content_type="application/x-amz-json-1.1")
        if op == "CreateCustomKeyStore":
            return self._create_custom_key_store(call)
        if op in ("ConnectCustomKeyStore", "DisconnectCustomKeyStore", "UpdateCustomKeyStore"):
            return self._key_store_state(call)
        if op == "DescribeCustomKeyStores":
            name, sid = p.get("CustomKeyStoreName"), p.get("CustomKeyStoreId")
            with self.kms.lock:
                stores = sorted(self.kms.stores.get(scope, {}).values(), key=lambda s: s.created)
                if name is not None or sid is not None:
                    stores = [s for s in stores if s.name == name or s.id == sid]
                    if not stores:
                        return self._error(call, "CustomKeyStoreNotFoundException",
                                           f"custom key store {name or sid} not found")
                described = []
                for s in stores:
                    if s.state == "CONNECTING":  # AWS connects asynchronously
                        s.state = "CONNECTED"
                        described.append(dict(s.describe(), ConnectionState="CONNECTING"))
                    else:
                        described.append(s.describe())
            return self._json({"CustomKeyStores": described, "Truncated": False})
        if op == "CreateKey" and "KeyUsage" not in p \
                and p.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT":
            # AWS defaults KeyUsage to ENCRYPT_DECRYPT (API_CreateKey); moto stores none and
            # DescribeKey then answers KeyUsage null, which the aws provider plans as a
            # replacement of an imported key (found by `keyplane adopt`'s real plan)
            p["KeyUsage"] = "ENCRYPT_DECRYPT"
            if not p.get("CustomKeyStoreId"):
                status, data = self._moto_json(call, headers, "CreateKey", p)
                return Response(json.dumps(data), status=status,
                                content_type="application/x-amz-json-1.1")
        if op == "CreateKey" and p.get("CustomKeyStoreId"):
            with self.kms.lock:
                store = self.kms.stores.get(scope, {}).get(p["CustomKeyStoreId"])
            if store is None:
                return self._error(call, "CustomKeyStoreNotFoundException",
                                   "custom key store not found")
            if store.state != "CONNECTED":
                return self._error(call, "CustomKeyStoreInvalidStateException",
                                   "custom key store is not connected")
            if p.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
                return self._error(call, "UnsupportedOperationException",
                                   "custom key stores hold symmetric encryption keys only")
            params = {k: v for k, v in p.items() if k not in ("CustomKeyStoreId", "Origin")}
            status, data = self._moto_json(call, headers, "CreateKey", params)
            if status != 200:
                return self._json(data)
            md = data["KeyMetadata"]
            with self.kms.lock:
                self.kms.key_store_of[(*scope, md["KeyId"])] = store.id
            md.update(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store.id,
                      CloudHsmClusterId=store.cluster_id)
            return self._json(data)
        if op == "ScheduleKeyDeletion":
            days = p.get("PendingWindowInDays", 30)
            if not isinstance(days, int) or not 7 <= days <= 30:
                return self._error(call, "ValidationException",
                                   f"PendingWindowInDays must be between 7 and 30, got {days}")
            return None
        if op in ("EnableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand",
                  "DisableKeyRotation"):
            md = self._describe(call, headers, p.get("KeyId", ""))
            if md is None:
                return None  # moto answers NotFound in its own words
            in_store = (*scope, md["KeyId"]) in self.kms.key_store_of
            if md.get("KeySpec") != "SYMMETRIC_DEFAULT" or md.get("Origin") != "AWS_KMS" \
                    or in_store:
                if op == "GetKeyRotationStatus":
                    # AWS answers: "the key rotation status of these KMS keys is always false"
                    # (the aws provider reads it for every AWS_KMS-origin key)
                    return self._json({"KeyId": md["Arn"], "KeyRotationEnabled": False})
                return self._error(call, "UnsupportedOperationException",
                                   f"{md['Arn']} key rotation is not supported for this key "
                                   "(asymmetric, hmac, imported or custom key store)")
            if op == "EnableKeyRotation":
                period = p.get("RotationPeriodInDays", 365)
                if not isinstance(period, int) or not 90 <= period <= 2560:
                    return self._error(call, "ValidationException",
                                       f"RotationPeriodInDays must be between 90 and 2560, "
                                       f"got {period}")
                with self.kms.lock:
                    self.kms.rotation[(*scope, md["KeyId"])] = (period, time.time())
            if op == "DisableKeyRotation":
                with self.kms.lock:
                    self.kms.rotation.pop((*scope, md["KeyId"]), None)
            if op == "GetKeyRotationStatus":
                call.params["_KeyId"] = md["KeyId"]
            return None
        if op in ("ListKeys", "ListAliases"):
            return self._paginate(call, headers)
        return None

    def _create_custom_key_store(self, call: _Call) -> Response:
        """CreateCustomKeyStore (AWS_CLOUDHSM) with the checks AWS KMS documents: a unique
        name, a password of 7-32 characters, a trust anchor, and a cluster of the caller's
        that is ACTIVE with active HSMs in two AZs and backs no other store.

        The store starts DISCONNECTED, as on AWS: `keyplane keystore connect` connects it.
        """
        p = call.params
        scope = self._key_scope(call)
        name, cluster_id = str(p.get("CustomKeyStoreName", "")), str(p.get("CloudHsmClusterId", ""))
        password = p.get("KeyStorePassword")
        if p.get("CustomKeyStoreType", "AWS_CLOUDHSM") != "AWS_CLOUDHSM":
            return self._error(call, "UnsupportedOperationException",
                               "the sandbox holds AWS_CLOUDHSM custom key stores only")
        if not isinstance(password, str) or not 7 <= len(password) <= 32:
            return self._error(call, "ValidationException",
                               "KeyStorePassword must be 7 to 32 characters")
        if not p.get("TrustAnchorCertificate"):
            return self._error(call, "ValidationException", "TrustAnchorCertificate is required")
        problem = self.cloudhsm.key_store_problem(*scope, cluster_id)
        if problem is not None:
            return self._error(call, *problem)
        with self.kms.lock:
            stores = self.kms.stores.setdefault(scope, {})
            if any(s.name == name for s in stores.values()):
                return self._error(call, "CustomKeyStoreNameInUseException",
                                   f"custom key store name {name} is in use")
            if any(s.cluster_id == cluster_id for s in stores.values()):
                return self._error(call, "CloudHsmClusterInUseException",
                                   f"cloudhsm cluster {cluster_id} backs another custom key store")
            store = _KeyStore(id=f"cks-{uuid.uuid4().hex[:17]}", name=name, cluster_id=cluster_id,
                              trust_anchor=str(p["TrustAnchorCertificate"]))
            stores[store.id] = store
        return self._json({"CustomKeyStoreId": store.id})

    def _key_store_state(self, call: _Call) -> Response:
        """Connect, Disconnect and UpdateCustomKeyStore with AWS's state rules: a connect
        goes CONNECTING (CONNECTED at the next read) and needs the cluster's HSMs; a FAILED
        store must be disconnected first; the password changes only while DISCONNECTED."""
        p, op = call.params, call.operation
        scope = self._key_scope(call)
        with self.kms.lock:
            store = self.kms.stores.get(scope, {}).get(str(p.get("CustomKeyStoreId", "")))
            if store is None:
                return self._error(call, "CustomKeyStoreNotFoundException",
                                   "custom key store not found")
            if op == "DisconnectCustomKeyStore":
                store.state = "DISCONNECTED"
                return self._json({})
            if op == "UpdateCustomKeyStore":
                password = p.get("KeyStorePassword")
                if password is not None:
                    if store.state != "DISCONNECTED":
                        return self._error(call, "CustomKeyStoreInvalidStateException",
                                           "the kmsuser password of a custom key store can be "
                                           f"changed only while it is DISCONNECTED; it is "
                                           f"{store.state}")
                    if not isinstance(password, str) or not 7 <= len(password) <= 32:
                        return self._error(call, "ValidationException",
                                           "KeyStorePassword must be 7 to 32 characters")
                if p.get("NewCustomKeyStoreName"):
                    store.name = str(p["NewCustomKeyStoreName"])
                return self._json({})
            if store.state == "FAILED":
                return self._error(call, "CustomKeyStoreInvalidStateException",
                                   "a FAILED custom key store must be disconnected first")
            if store.state == "DISCONNECTED":
                problem = self.cloudhsm.key_store_problem(*scope, store.cluster_id)
                if problem is not None:
                    return self._error(call, *problem)
                store.state = "CONNECTING"
        return self._json({})

    def _paginate(self, call: _Call, headers: dict[str, str]) -> Response:
        """ListKeys / ListAliases with Limit (1-1000, default 100) and an opaque Marker."""
        p = call.params
        limit = p.get("Limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            return self._error(call, "ValidationException",
                               f"Limit must be between 1 and 1000, got {limit}")
        inner = {k: v for k, v in p.items() if k not in ("Limit", "Marker")}
        status, data = self._moto_json(call, headers, call.operation, inner)
        if status != 200:
            return self._error(call, data.get("__type", "InternalFailure"),
                               data.get("message", ""), status)
        name = "Keys" if call.operation == "ListKeys" else "Aliases"
        items = data.get(name, [])
        start = 0
        if p.get("Marker"):
            try:
                start = int(str(p["Marker"]).removeprefix("kp-"))
            except ValueError:
                return self._error(call, "InvalidMarkerException", "the marker is not valid")
        page = items[start:start + limit]
        more = start + limit < len(items)
        out: dict[str, Any] = {name: page, "Truncated": more}
        if more:
            out["NextMarker"] = f"kp-{start + limit}"
        return self._json(out)

    def _kms_after(self, call: _Call, headers: dict[str, str], data: bytes) -> bytes:
        """Add what moto leaves out to its successful answers."""
        op = call.operation
        scope = self._key_scope(call)
        try:
            doc = json.loads(data or b"{}")
        except ValueError:
            return data
        if op == "GetKeyRotationStatus" and isinstance(doc, dict):
            key_id = call.params.get("_KeyId")
            with self.kms.lock:
                got = self.kms.rotation.get((*scope, key_id)) if key_id else None
            if got and doc.get("KeyRotationEnabled"):
                period, since = got
                nxt = dt.datetime.fromtimestamp(since, tz=dt.UTC) + dt.timedelta(days=period)
                doc["RotationPeriodInDays"] = period
                doc["NextRotationDate"] = nxt.timestamp()
                doc["KeyId"] = key_id
            return json.dumps(doc).encode()
        if op == "ReplicateKey" and isinstance(doc, dict) and "ReplicaKeyMetadata" in doc:
            return json.dumps(self._replica_settings(call, headers, doc)).encode()
        if op == "DescribeKey" and isinstance(doc, dict) and "KeyMetadata" in doc:
            md = doc["KeyMetadata"]
            mr = md.get("MultiRegionConfiguration")
            if isinstance(mr, dict) and (mr.get("PrimaryKey") or {}).get("Arn") == md.get("Arn"):
                # moto shares this record between a primary and its replicas and marks the
                # primary REPLICA once a replica was described; AWS never does
                mr["MultiRegionKeyType"] = "PRIMARY"
                data = json.dumps(doc).encode()
            with self.kms.lock:
                store_id = self.kms.key_store_of.get((*scope, md.get("KeyId", "")))
                store = self.kms.stores.get(scope, {}).get(store_id or "")
            if store is not None:
                md.update(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store.id,
                          CloudHsmClusterId=store.cluster_id)
                return json.dumps(doc).encode()
        return data


    def _replica_settings(self, call: _Call, headers: dict[str, str], doc: dict[str, Any]
                          ) -> dict[str, Any]:
        """Give a new replica what ReplicateKey asked for: moto copies the primary and drops
        the request's Tags, Policy and Description. In AWS the replica gets the given tags,
        the given policy (default: the default key policy) and the given description
        (default: none), and the answer carries ReplicaPolicy and ReplicaTags."""
        p = call.params
        region = str(p.get("ReplicaRegion", ""))
        key_id = doc["ReplicaKeyMetadata"]["KeyId"]
        there = dict(headers)
        there["Authorization"] = _CRED_REGION.sub(rf"\g<1>{region}\g<2>",
                                                  headers.get("Authorization", ""))
        tags = p.get("Tags") or []
        policy = p.get("Policy") or doc.get("ReplicaPolicy")
        description = p.get("Description", "")
        if tags:
            self._moto_json(call, there, "TagResource", {"KeyId": key_id, "Tags": tags})
        if policy:
            self._moto_json(call, there, "PutKeyPolicy",
                            {"KeyId": key_id, "PolicyName": "default", "Policy": policy})
        self._moto_json(call, there, "UpdateKeyDescription",
                        {"KeyId": key_id, "Description": description})
        doc["ReplicaKeyMetadata"]["Description"] = description
        doc["ReplicaPolicy"] = policy
        doc["ReplicaTags"] = tags
        self._own_aliases(call.account or "123456789012", region, key_id)
        return doc

    @staticmethod
    def _own_aliases(account: str, region: str, key_id: str) -> None:
        """Give a replica its own (empty) alias and grant tables: moto's replica is a shallow
        copy of the primary and shares both, while in AWS neither aliases nor grants are
        shared by related multi-Region keys (each Region's are created there)."""
        from moto.kms.models import kms_backends

        replica = kms_backends[account][region].keys.get(key_id)
        if replica is not None:
            replica.aliases = {}
            replica.grants = {}


# ACM's ListCertificates lists only these key types unless `Includes.keyTypes` names others
# (https://docs.aws.amazon.com/acm/latest/APIReference/API_ListCertificates.html); moto
# lists every certificate.
ACM_DEFAULT_KEY_TYPES = ("RSA_1024", "RSA_2048")


def acm_default_key_types(params: dict[str, Any], body: bytes) -> bytes:
    """The ListCertificates request as AWS reads it: without `Includes.keyTypes`, only the
    default key types are listed (the body forwarded to moto, with the filter made explicit)."""
    includes = params.get("Includes")
    if isinstance(includes, dict) and includes.get("keyTypes"):
        return body
    return json.dumps({**params, "Includes": {**(includes if isinstance(includes, dict)
                                                  else {}),
                                              "keyTypes": list(ACM_DEFAULT_KEY_TYPES)}}).encode()


def _reset_moto() -> None:
    """Empty moto's backends (they live in this process, shared by its servers)."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


class AwsEndpoint:
    """The front on 127.0.0.1 (an OS-assigned port), serving moto's server application.

    moto's application (`DomainDispatcherApplication`, what moto's own ThreadedMotoServer
    serves) is called in this process by the front rather than over a second HTTP hop:
    moto's server closes every connection and starts a thread per request, which made the
    sandbox, not keyplane, what a large post-apply run measured (`benchmarks/estate.py`).
    The SDK still talks HTTP to the front, as it would to AWS.

    moto keeps its state in module globals, shared by every endpoint in the process; a
    sandbox started while no other runs in the process starts empty, and the last one to
    stop empties it, so a fresh sandbox never holds an earlier one's buckets, roles or keys.
    """

    _running = 0
    _running_lock = threading.Lock()

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self._server: KeepAliveServer | None = None
        self._thread: threading.Thread | None = None
        self.front: AwsFront | None = None
        self._counted = False

    def start(self) -> str:
        """Start serving; the URL of the front."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no log line per request
        with AwsEndpoint._running_lock:
            if AwsEndpoint._running == 0:
                _reset_moto()
            AwsEndpoint._running += 1
        self._counted = True
        try:
            moto_app = DomainDispatcherApplication(create_backend_app)
            # moto finds a request's service by listing its own modules and matching URL
            # patterns, on every request; the answer for a host never changes
            moto_app.get_backend_for_host = functools.lru_cache(maxsize=1024)(  # type: ignore[method-assign]
                moto_app.get_backend_for_host)
            self.front = AwsFront(moto_app, latency_ms=self.latency_ms)
            self._server, self._thread = serve(self.host, self.port, self.front,
                                               "keyplane-sandbox-aws")
        except BaseException:
            self._release()
            raise
        self.front.backup.endpoint_url = self.url
        return self.url

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            with AwsEndpoint._running_lock:
                AwsEndpoint._running -= 1
                if AwsEndpoint._running == 0:
                    _reset_moto()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_port}"

    def stop(self) -> None:
        """Stop serving (kept-alive connections included); the last endpoint of the
        process to stop empties moto."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._release()
