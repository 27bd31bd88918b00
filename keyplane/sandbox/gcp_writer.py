"""Creating an environment's Cloud KMS keys in the local sandbox, through google-cloud-kms.

Used by `keyplane sandbox apply` only, against the sandbox's local endpoint; the
post-apply jobs never import it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import kms_v1
from google.iam.v1 import iam_policy_pb2, policy_pb2

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.postapply.errors import SANDBOX_FAILED, HookSetupError
from keyplane.postapply.expected import GCP_ADMIN_ROLE, ExpectedState


class GcpSandboxWriter:
    """Creates key rings, crypto keys (with versions per generation) and IAM bindings."""

    def __init__(self, client: Any, config: GcpConfig) -> None:
        if not config.endpoint:
            raise HookSetupError("sandbox apply writes only to the local sandbox's cloud kms "
                                 "endpoint, got none", code=SANDBOX_FAILED)
        self._client = client
        self._config = config

    def _kw(self) -> dict[str, Any]:
        return {"retry": self._config.retry(), "timeout": self._config.call_timeout}

    def apply(self, state: ExpectedState) -> list[str]:
        """Create every expected crypto key that does not exist yet; what was created."""
        created: list[str] = []
        env = state.env
        admins = set(env.principals.key_admins.gcp)
        for exp in state.gcp_keys:
            parent = f"projects/{exp.project}/locations/{exp.location}"
            try:
                self._client.create_key_ring(request={"parent": parent,
                                                      "key_ring_id": exp.key_ring}, **self._kw())
                created.append(f"key ring {exp.key_ring_name}")
                if admins:
                    self._bind(exp.key_ring_name, {GCP_ADMIN_ROLE: admins})
            except gexc.AlreadyExists:
                pass
            key = kms_v1.CryptoKey(
                purpose=kms_v1.CryptoKey.CryptoKeyPurpose[exp.purpose],
                version_template=kms_v1.CryptoKeyVersionTemplate(
                    algorithm=kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm[exp.algorithm],
                    protection_level=kms_v1.ProtectionLevel[exp.protection_level]),
                labels=exp.labels)
            if exp.rotation_period_seconds:
                key.rotation_period = dt.timedelta(seconds=exp.rotation_period_seconds)
                key.next_rotation_time = (dt.datetime.now(dt.UTC)
                                          + dt.timedelta(seconds=exp.rotation_period_seconds))
            try:
                self._client.create_crypto_key(request={
                    "parent": exp.key_ring_name, "crypto_key_id": exp.key.name,
                    "crypto_key": key}, **self._kw())
            except gexc.AlreadyExists:
                continue
            created.append(f"crypto key {exp.name}")
            # one version per further live generation (the first exists already)
            live = [g for g in exp.key.generations if g.enabled or g.generation
                    == exp.key.generation]
            for _ in range(max(0, len(live) - 1)):
                self._client.create_crypto_key_version(
                    request={"parent": exp.name, "crypto_key_version": {}}, **self._kw())
            if exp.members:
                self._bind(exp.name, {r: set(m) for r, m in exp.members.items()})
        return created

    def _bind(self, resource: str, roles: dict[str, set[str]]) -> None:
        pol = policy_pb2.Policy(version=1, bindings=[
            policy_pb2.Binding(role=r, members=sorted(m)) for r, m in sorted(roles.items())])
        self._client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=pol),
            **self._kw())
