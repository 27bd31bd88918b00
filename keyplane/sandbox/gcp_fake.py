"""An in-process Cloud KMS fake: a gRPC server that speaks `google.cloud.kms.v1`.

The real `google-cloud-kms` client talks to it over an insecure local channel
(injected through the transport). It keeps key rings, crypto keys, versions and
IAM policies in memory, for the projects the sandbox hosts, and behaves like
Cloud KMS where keyplane's checks depend on it: rotation only for symmetric keys,
versions DESTROY_SCHEDULED for the key's destroy-scheduled duration, paginated
lists, PERMISSION_DENIED for a project it does not host. Faults (RESOURCE_EXHAUSTED,
PERMISSION_DENIED, UNAUTHENTICATED, a repeated page token, a corrupted signature)
and a fixed latency can be injected by rule. For restore drills it signs, verifies,
encrypts, decrypts and computes MACs with real keys held in memory per version
(`cryptography`), refusing versions that are not ENABLED as Cloud KMS does.

The same server also serves Cloud Logging's log-based metrics and Cloud Monitoring's alert
policies (`gcp_monitoring_fake`), with the same hosted projects, fault rules and latency, and
Resource Manager's projects with their IAM policies (`gcp_resourcemanager_fake`).

It is a test bed and a playground, not Cloud KMS.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.cloud import kms_v1
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import timestamp_pb2

from keyplane.sandbox.gcp_monitoring_fake import (
    CloudMonitoringFake,
    MonitoringAbort,
    monitoring_handlers,
)

KMS_SERVICE = "google.cloud.kms.v1.KeyManagementService"
IAM_SERVICE = "google.iam.v1.IAMPolicy"
DEFAULT_DESTROY_SCHEDULED = dt.timedelta(days=30)

_State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
_Purpose = kms_v1.CryptoKey.CryptoKeyPurpose


@dataclass
class GcpFaultRule:
    """Fail matching calls: method (e.g. `ListCryptoKeys`), `match` substring of the resource.

    code: a grpc.StatusCode name (RESOURCE_EXHAUSTED, PERMISSION_DENIED, UNAUTHENTICATED...),
    `RepeatPageToken`, or `CorruptSignature` (AsymmetricSign answers with a bit flipped).
    times: how many calls to fail (None = all).
    """

    code: str
    method: str | None = None
    match: str | None = None
    times: int | None = None
    hits: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GcpFaultRule:
        """A rule from its JSON form."""
        unknown = sorted(set(data) - (set(cls.__dataclass_fields__) - {"hits"}))
        if unknown:
            raise ValueError(f"unknown fault rule fields: {', '.join(unknown)}")
        return cls(**data)


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CloudKmsFake:
    """The state and the methods of the fake."""

    def __init__(self, *, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.projects: set[str] = set()  # empty: every project is hosted
        self.rules: list[GcpFaultRule] = []
        self.calls: list[str] = []
        self.record_calls = False
        self._lock = threading.RLock()
        self._rings: dict[str, kms_v1.KeyRing] = {}
        self._keys: dict[str, kms_v1.CryptoKey] = {}
        self._versions: dict[str, list[kms_v1.CryptoKeyVersion]] = {}
        self._policies: dict[str, policy_pb2.Policy] = {}
        self._material: dict[str, Any] = {}  # version name -> private key / secret bytes

    # --- helpers ----------------------------------------------------------------------------

    def _project_of(self, name: str) -> None:
        parts = name.split("/")
        if len(parts) < 2 or parts[0] != "projects":
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid resource name {name!r}")
        if self.projects and parts[1] not in self.projects:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"permission denied on resource project {parts[1]}")

    def _fault(self, method: str, resource: str) -> tuple[str | None, bool]:
        with self._lock:
            if self.record_calls:
                self.calls.append(method)
            for rule in self.rules:
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if (rule.method in (None, method)) and (rule.match is None or rule.match in resource):
                    rule.hits += 1
                    if rule.code == "RepeatPageToken":
                        return None, True
                    return rule.code, False
        return None, False

    @staticmethod
    def _page(items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
        start = int(token) if token.isdigit() else 0
        size = size if 0 < size <= 1000 else 100
        nxt = start + size
        return items[start:nxt], (str(nxt) if nxt < len(items) else "")

    # --- KeyManagementService -----------------------------------------------------------------

    def ListKeyRings(self, req: kms_v1.ListKeyRingsRequest, repeat: bool) -> Any:
        self._project_of(req.parent)
        with self._lock:
            rings = [r for n, r in sorted(self._rings.items()) if n.startswith(req.parent + "/")]
        page, nxt = self._page(rings, req.page_token, req.page_size)
        return kms_v1.ListKeyRingsResponse(key_rings=page, next_page_token="1" if repeat else nxt,
                                           total_size=len(rings))

    def GetKeyRing(self, req: kms_v1.GetKeyRingRequest, repeat: bool) -> Any:
        self._project_of(req.name)
        with self._lock:
            ring = self._rings.get(req.name)
        if ring is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.name} not found")
        return ring

    def CreateKeyRing(self, req: kms_v1.CreateKeyRingRequest, repeat: bool) -> Any:
        self._project_of(req.parent)
        name = f"{req.parent}/keyRings/{req.key_ring_id}"
        with self._lock:
            if name in self._rings:
                raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
            ring = kms_v1.KeyRing(name=name, create_time=_now())
            self._rings[name] = ring
        return ring

    def ListCryptoKeys(self, req: kms_v1.ListCryptoKeysRequest, repeat: bool) -> Any:
        self._project_of(req.parent)
        with self._lock:
            keys = [k for n, k in sorted(self._keys.items()) if n.startswith(req.parent + "/")]
        page, nxt = self._page(keys, req.page_token, req.page_size)
        return kms_v1.ListCryptoKeysResponse(crypto_keys=page,
                                             next_page_token="1" if repeat else nxt,
                                             total_size=len(keys))

    def GetCryptoKey(self, req: kms_v1.GetCryptoKeyRequest, repeat: bool) -> Any:
        self._project_of(req.name)
        with self._lock:
            key = self._keys.get(req.name)
        if key is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.name} not found")
        return key

    @staticmethod
    def _check_rotation(key: kms_v1.CryptoKey) -> None:
        has_rotation = key.rotation_period or key.next_rotation_time
        if has_rotation and key.purpose != _Purpose.ENCRYPT_DECRYPT:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "rotation_period is only supported for symmetric keys "
                         "(purpose ENCRYPT_DECRYPT)")
        if key.rotation_period and key.rotation_period.total_seconds() < 86400:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "rotation_period must be at least 24 hours")

    def CreateCryptoKey(self, req: kms_v1.CreateCryptoKeyRequest, repeat: bool) -> Any:
        self._project_of(req.parent)
        name = f"{req.parent}/cryptoKeys/{req.crypto_key_id}"
        key = kms_v1.CryptoKey(req.crypto_key)
        key.name = name
        key.create_time = _now()
        self._check_rotation(key)
        if not key.destroy_scheduled_duration:
            key.destroy_scheduled_duration = DEFAULT_DESTROY_SCHEDULED
        if key.rotation_period and not key.next_rotation_time:
            key.next_rotation_time = dt.datetime.now(dt.UTC) + key.rotation_period
        with self._lock:
            if req.parent not in self._rings:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.parent} not found")
            if name in self._keys:
                raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
            self._keys[name] = key
            self._versions[name] = []
            if not req.skip_initial_version_creation:
                self._new_version(name)
            return self._keys[name]

    def _new_version(self, key_name: str) -> kms_v1.CryptoKeyVersion:
        key = self._keys[key_name]
        n = len(self._versions[key_name]) + 1
        tmpl = key.version_template
        ver = kms_v1.CryptoKeyVersion(
            name=f"{key_name}/cryptoKeyVersions/{n}", state=_State.ENABLED,
            algorithm=tmpl.algorithm, protection_level=tmpl.protection_level or 1,
            create_time=_now(), generate_time=_now())
        self._versions[key_name].append(ver)
        if key.purpose == _Purpose.ENCRYPT_DECRYPT:
            key.primary = ver
        return ver

    def UpdateCryptoKey(self, req: kms_v1.UpdateCryptoKeyRequest, repeat: bool) -> Any:
        self._project_of(req.crypto_key.name)
        with self._lock:
            key = self._keys.get(req.crypto_key.name)
            if key is None:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.crypto_key.name} not found")
            updated = kms_v1.CryptoKey(key)
            for path in req.update_mask.paths:
                if path == "labels":
                    updated.labels.clear()
                    updated.labels.update(dict(req.crypto_key.labels))
                elif path in ("rotation_period", "next_rotation_time"):
                    setattr(updated, path, getattr(req.crypto_key, path))
                else:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot update {path}")
            self._check_rotation(updated)
            self._keys[key.name] = updated
            return updated

    def ListCryptoKeyVersions(self, req: kms_v1.ListCryptoKeyVersionsRequest, repeat: bool) -> Any:
        self._project_of(req.parent)
        with self._lock:
            if req.parent not in self._keys:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.parent} not found")
            vers = list(self._versions[req.parent])
        page, nxt = self._page(vers, req.page_token, req.page_size)
        return kms_v1.ListCryptoKeyVersionsResponse(
            crypto_key_versions=page, next_page_token="1" if repeat else nxt,
            total_size=len(vers))

    def _version(self, name: str) -> tuple[str, int]:
        self._project_of(name)
        key_name, _, num = name.rpartition("/cryptoKeyVersions/")
        with self._lock:
            vers = self._versions.get(key_name)
            if vers is None or not num.isdigit() or not 1 <= int(num) <= len(vers):
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        return key_name, int(num) - 1

    def GetCryptoKeyVersion(self, req: kms_v1.GetCryptoKeyVersionRequest, repeat: bool) -> Any:
        key_name, i = self._version(req.name)
        with self._lock:
            return self._versions[key_name][i]

    def CreateCryptoKeyVersion(self, req: kms_v1.CreateCryptoKeyVersionRequest, repeat: bool
                               ) -> Any:
        self._project_of(req.parent)
        with self._lock:
            if req.parent not in self._keys:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.parent} not found")
            return self._new_version(req.parent)

    def _set_version(self, key_name: str, i: int, ver: kms_v1.CryptoKeyVersion) -> None:
        self._versions[key_name][i] = ver
        key = self._keys[key_name]
        if key.primary and key.primary.name == ver.name:
            key.primary = ver

    def DestroyCryptoKeyVersion(self, req: kms_v1.DestroyCryptoKeyVersionRequest, repeat: bool
                                ) -> Any:
        key_name, i = self._version(req.name)
        with self._lock:
            ver = kms_v1.CryptoKeyVersion(self._versions[key_name][i])
            if ver.state in (_State.DESTROY_SCHEDULED, _State.DESTROYED):
                raise _Abort(grpc.StatusCode.FAILED_PRECONDITION,
                             f"{req.name} is already {ver.state.name}")
            wait = self._keys[key_name].destroy_scheduled_duration or DEFAULT_DESTROY_SCHEDULED
            ver.state = _State.DESTROY_SCHEDULED
            ver.destroy_time = dt.datetime.now(dt.UTC) + wait
            self._set_version(key_name, i, ver)
            return ver

    def RestoreCryptoKeyVersion(self, req: kms_v1.RestoreCryptoKeyVersionRequest, repeat: bool
                                ) -> Any:
        key_name, i = self._version(req.name)
        with self._lock:
            ver = kms_v1.CryptoKeyVersion(self._versions[key_name][i])
            if ver.state != _State.DESTROY_SCHEDULED:
                raise _Abort(grpc.StatusCode.FAILED_PRECONDITION,
                             f"{req.name} is not DESTROY_SCHEDULED")
            ver.state = _State.DISABLED
            ver.destroy_time = None
            self._set_version(key_name, i, ver)
            return ver

    def UpdateCryptoKeyVersion(self, req: kms_v1.UpdateCryptoKeyVersionRequest, repeat: bool
                               ) -> Any:
        key_name, i = self._version(req.crypto_key_version.name)
        with self._lock:
            ver = kms_v1.CryptoKeyVersion(self._versions[key_name][i])
            if list(req.update_mask.paths) != ["state"] or req.crypto_key_version.state not in (
                    _State.ENABLED, _State.DISABLED):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             "only state ENABLED or DISABLED can be updated")
            ver.state = req.crypto_key_version.state
            self._set_version(key_name, i, ver)
            return ver

    def UpdateCryptoKeyPrimaryVersion(self, req: kms_v1.UpdateCryptoKeyPrimaryVersionRequest,
                                      repeat: bool) -> Any:
        self._project_of(req.name)
        with self._lock:
            key = self._keys.get(req.name)
            if key is None:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.name} not found")
            ver = next((v for v in self._versions[req.name]
                        if v.name.endswith(f"/{req.crypto_key_version_id}")), None)
            if ver is None:
                raise _Abort(grpc.StatusCode.NOT_FOUND, "version not found")
            key.primary = ver
            return key

    # --- cryptographic operations (restore drills) ------------------------------------------

    def _usable(self, name: str) -> tuple[kms_v1.CryptoKeyVersion, Any]:
        """The ENABLED version `name` and its material (created on first use)."""
        key_name, i = self._version(name)
        with self._lock:
            ver = self._versions[key_name][i]
            if ver.state != _State.ENABLED:
                raise _Abort(grpc.StatusCode.FAILED_PRECONDITION,
                             f"{name} is not enabled, current state is: {ver.state.name}.")
            if name not in self._material:
                self._material[name] = _new_material(ver.algorithm.name)
            return ver, self._material[name]

    def AsymmetricSign(self, req: kms_v1.AsymmetricSignRequest, repeat: bool) -> Any:
        ver, priv = self._usable(req.name)
        alg = ver.algorithm.name
        digest = req.digest.sha256 or req.digest.sha384 or req.digest.sha512
        h = _hash_for(alg)
        if len(digest) != h.digest_size:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         f"digest length {len(digest)} does not match {alg}")
        if alg.startswith("EC_SIGN"):
            sig = priv.sign(digest, ec.ECDSA(utils.Prehashed(h)))
        else:
            sig = priv.sign(digest, _rsa_padding(alg, h), utils.Prehashed(h))
        return kms_v1.AsymmetricSignResponse(signature=sig, name=req.name)

    def GetPublicKey(self, req: kms_v1.GetPublicKeyRequest, repeat: bool) -> Any:
        ver, priv = self._usable(req.name)
        if not hasattr(priv, "public_key"):
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION,
                         f"{req.name} is not an asymmetric key version")
        pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return kms_v1.PublicKey(pem=pem.decode(), algorithm=ver.algorithm, name=req.name,
                                protection_level=ver.protection_level)

    def _primary(self, name: str) -> str:
        with self._lock:
            key = self._keys.get(name)
        if key is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        if not key.primary.name:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, f"{name} has no primary version")
        return str(key.primary.name)

    def Encrypt(self, req: kms_v1.EncryptRequest, repeat: bool) -> Any:
        self._project_of(req.name)
        name = req.name if "/cryptoKeyVersions/" in req.name else self._primary(req.name)
        _, secret = self._usable(name)
        nonce = os.urandom(12)
        ct = AESGCM(secret).encrypt(nonce, req.plaintext, req.additional_authenticated_data or None)
        num = name.rsplit("/", 1)[1].encode()
        return kms_v1.EncryptResponse(name=name, ciphertext=bytes([len(num)]) + num + nonce + ct)

    def Decrypt(self, req: kms_v1.DecryptRequest, repeat: bool) -> Any:
        self._project_of(req.name)
        blob = req.ciphertext
        n = blob[0] if blob else 0
        num = blob[1:1 + n].decode("ascii", "replace")
        if not num.isdigit():
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid ciphertext")
        _, secret = self._usable(f"{req.name}/cryptoKeyVersions/{num}")
        rest = blob[1 + n:]
        try:
            pt = AESGCM(secret).decrypt(rest[:12], rest[12:],
                                        req.additional_authenticated_data or None)
        except Exception:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "decryption failed: the ciphertext or additional authenticated data "
                         "is invalid") from None
        return kms_v1.DecryptResponse(plaintext=pt)

    def MacSign(self, req: kms_v1.MacSignRequest, repeat: bool) -> Any:
        ver, secret = self._usable(req.name)
        mac = hmac.new(secret, req.data, ver.algorithm.name.split("_")[-1].lower()).digest()
        return kms_v1.MacSignResponse(name=req.name, mac=mac)

    def MacVerify(self, req: kms_v1.MacVerifyRequest, repeat: bool) -> Any:
        ver, secret = self._usable(req.name)
        mac = hmac.new(secret, req.data, ver.algorithm.name.split("_")[-1].lower()).digest()
        return kms_v1.MacVerifyResponse(name=req.name, success=hmac.compare_digest(mac, req.mac))

    # --- IAMPolicy ------------------------------------------------------------------------

    def GetIamPolicy(self, req: iam_policy_pb2.GetIamPolicyRequest, repeat: bool) -> Any:
        self._project_of(req.resource)
        with self._lock:
            if req.resource not in self._keys and req.resource not in self._rings:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.resource} not found")
            pol = self._policies.get(req.resource) or policy_pb2.Policy(version=1)
            out = policy_pb2.Policy()
            out.CopyFrom(pol)
            return out

    def SetIamPolicy(self, req: iam_policy_pb2.SetIamPolicyRequest, repeat: bool) -> Any:
        self._project_of(req.resource)
        with self._lock:
            if req.resource not in self._keys and req.resource not in self._rings:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"{req.resource} not found")
            pol = policy_pb2.Policy()
            pol.CopyFrom(req.policy)
            pol.etag = str(time.time_ns()).encode()
            self._policies[req.resource] = pol
            return pol


_KMS_METHODS: dict[str, tuple[Any, Any]] = {
    "ListKeyRings": (kms_v1.ListKeyRingsRequest, kms_v1.ListKeyRingsResponse),
    "GetKeyRing": (kms_v1.GetKeyRingRequest, kms_v1.KeyRing),
    "CreateKeyRing": (kms_v1.CreateKeyRingRequest, kms_v1.KeyRing),
    "ListCryptoKeys": (kms_v1.ListCryptoKeysRequest, kms_v1.ListCryptoKeysResponse),
    "GetCryptoKey": (kms_v1.GetCryptoKeyRequest, kms_v1.CryptoKey),
    "CreateCryptoKey": (kms_v1.CreateCryptoKeyRequest, kms_v1.CryptoKey),
    "UpdateCryptoKey": (kms_v1.UpdateCryptoKeyRequest, kms_v1.CryptoKey),
    "ListCryptoKeyVersions": (kms_v1.ListCryptoKeyVersionsRequest,
                              kms_v1.ListCryptoKeyVersionsResponse),
    "GetCryptoKeyVersion": (kms_v1.GetCryptoKeyVersionRequest, kms_v1.CryptoKeyVersion),
    "CreateCryptoKeyVersion": (kms_v1.CreateCryptoKeyVersionRequest, kms_v1.CryptoKeyVersion),
    "DestroyCryptoKeyVersion": (kms_v1.DestroyCryptoKeyVersionRequest, kms_v1.CryptoKeyVersion),
    "RestoreCryptoKeyVersion": (kms_v1.RestoreCryptoKeyVersionRequest, kms_v1.CryptoKeyVersion),
    "UpdateCryptoKeyVersion": (kms_v1.UpdateCryptoKeyVersionRequest, kms_v1.CryptoKeyVersion),
    "UpdateCryptoKeyPrimaryVersion": (kms_v1.UpdateCryptoKeyPrimaryVersionRequest,
                                      kms_v1.CryptoKey),
}
_KMS_METHODS.update({
    "AsymmetricSign": (kms_v1.AsymmetricSignRequest, kms_v1.AsymmetricSignResponse),
    "GetPublicKey": (kms_v1.GetPublicKeyRequest, kms_v1.PublicKey),
    "Encrypt": (kms_v1.EncryptRequest, kms_v1.EncryptResponse),
    "Decrypt": (kms_v1.DecryptRequest, kms_v1.DecryptResponse),
    "MacSign": (kms_v1.MacSignRequest, kms_v1.MacSignResponse),
    "MacVerify": (kms_v1.MacVerifyRequest, kms_v1.MacVerifyResponse),
})


def _hash_for(algorithm: str) -> hashes.HashAlgorithm:
    return {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(),
            "SHA512": hashes.SHA512()}[algorithm.rsplit("_", 1)[-1]]


def _rsa_padding(algorithm: str, h: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if "_PSS_" in algorithm:
        return padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH)
    return padding.PKCS1v15()


def _new_material(algorithm: str) -> Any:
    """Fresh key material for a version of `algorithm`."""
    if algorithm.startswith("EC_SIGN_P256") or algorithm == "EC_SIGN_SECP256K1_SHA256":
        return ec.generate_private_key(ec.SECP256R1() if "P256" in algorithm
                                       else ec.SECP256K1())
    if algorithm.startswith("EC_SIGN_P384"):
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm.startswith("RSA_"):
        bits = int(next(p for p in algorithm.split("_") if p.isdigit() and len(p) == 4))
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return os.urandom(32)  # symmetric and HMAC


_IAM_METHODS = {"GetIamPolicy": iam_policy_pb2.GetIamPolicyRequest,
                "SetIamPolicy": iam_policy_pb2.SetIamPolicyRequest}


def _resource_of(req: Any) -> str:
    for attr in ("name", "parent", "resource"):
        value = getattr(req, attr, "")
        if isinstance(value, str) and value:
            return value
    for attr in ("crypto_key", "crypto_key_version"):
        inner = getattr(req, attr, None)
        if inner is not None and getattr(inner, "name", ""):
            return str(inner.name)
    return ""


class GcpEndpoint:
    """The fake behind a grpc server on 127.0.0.1 with an OS-assigned port."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0,
                 max_workers: int = 32) -> None:
        self.host = host
        self.port = port
        self.fake = CloudKmsFake(latency_ms=latency_ms)
        # log-based metrics and alert policies, for the projects the KMS fake hosts
        self.monitoring = CloudMonitoringFake(projects=self.fake.projects)
        # projects and their IAM policies (project-level grants), for every project asked about
        # (imported here: that module uses this one's fault rules)
        from keyplane.sandbox.gcp_resourcemanager_fake import ResourceManagerFake

        self.resource_manager = ResourceManagerFake(host_every_project=True)
        # CA Service pools, CAs and certificates; a CA's key may be a version the KMS fake holds
        from keyplane.sandbox.gcp_cas_fake import CertificateAuthorityServiceFake

        self.cas = CertificateAuthorityServiceFake(projects=self.fake.projects, kms=self.fake)
        # the Data Access audit log of the KMS uses served, and ListLogEntries over it
        from keyplane.sandbox.gcp_logging_fake import CloudLoggingFake

        self.logging = CloudLoggingFake(projects=self.fake.projects)
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self._bound = 0

    def _wrap(self, method: str, service: Any = None) -> Any:
        """The handler of `method` of `service` (default: the Cloud KMS fake); latency and
        fault rules are the KMS fake's for every service."""
        fake = self.fake
        target = fake if service is None else service

        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            if fake.latency_ms:
                time.sleep(fake.latency_ms / 1000.0)
            code, repeat = fake._fault(method, _resource_of(request))
            if code is not None and code != "CorruptSignature":
                self.logging.served(method, request, context, code)
                context.abort(getattr(grpc.StatusCode, code), "injected by the keyplane sandbox")
            try:
                answer = getattr(target, method)(request, repeat)
                if code == "CorruptSignature" and method == "AsymmetricSign":
                    sig = bytes(answer.signature)
                    answer.signature = sig[:-1] + bytes([sig[-1] ^ 0x01])
                self.logging.served(method, request, context, None)
                return answer
            except (_Abort, MonitoringAbort) as exc:
                self.logging.served(method, request, context, exc.code.name)
                context.abort(exc.code, exc.message)
        return handler

    def start(self) -> str:
        """Start serving; the `host:port` to give the client's channel."""
        from keyplane.sandbox.gcp_resourcemanager_fake import (
            generic_handlers as resource_manager_handlers,
        )

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers,
                                                        thread_name_prefix="keyplane-sandbox-gcp"))
        kms = {m: grpc.unary_unary_rpc_method_handler(
            self._wrap(m), request_deserializer=req.deserialize,
            response_serializer=resp.serialize) for m, (req, resp) in _KMS_METHODS.items()}
        iam = {m: grpc.unary_unary_rpc_method_handler(
            self._wrap(m), request_deserializer=req.FromString,
            response_serializer=policy_pb2.Policy.SerializeToString)
            for m, req in _IAM_METHODS.items()}
        server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler(KMS_SERVICE, kms),
            grpc.method_handlers_generic_handler(IAM_SERVICE, iam),
            *monitoring_handlers(lambda m: self._wrap(m, self.monitoring)),
            *resource_manager_handlers(self.resource_manager)))
        from keyplane.sandbox.gcp_cas_fake import cas_handlers

        server.add_generic_rpc_handlers(cas_handlers(lambda m: self._wrap(m, self.cas)))
        from keyplane.sandbox.gcp_logging_fake import logging_handlers

        server.add_generic_rpc_handlers(logging_handlers(lambda m: self._wrap(m, self.logging)))
        self._bound = server.add_insecure_port(f"{self.host}:{self.port}")
        server.start()
        self._server = server
        return self.target

    @property
    def target(self) -> str:
        """`127.0.0.1:<port>`."""
        return f"{self.host}:{self._bound}"

    def stop(self) -> None:
        """Stop serving (in-flight calls get a moment to finish)."""
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None
