"""The Cloud KMS adapter of incident responses: find the generation's version, disable it.

A generation on Cloud KMS is one crypto key version; disabling it
(UpdateCryptoKeyVersion, `state=DISABLED`, update mask `state`) stops every use of that
version while the key's other versions keep working. Cloud KMS has no grants (who may use a
key is IAM on the crypto key, shared by all its versions), and keyplane does not query Cloud
Audit Logs: the incident says how to (`audit_log_query`). Calls use the run's Retry and
translate failures into `keyplane.cloudcall`.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import kms_v1
from google.protobuf import field_mask_pb2

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.drills import GcpKmsDrill, translate
from keyplane.drills.ports import KeyTarget
from keyplane.incident.model import DeployedKey, Grant
from keyplane.model.environment import KeyDecl

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


def audit_log_query(project: str, versions: list[str], start: str) -> str:
    """The Cloud Logging filter that lists the versions' uses since `start` (RFC 3339), for
    the follow-up an incident prints (Data Access audit logs must be on for the project)."""
    names = " OR ".join(f'protoPayload.resourceName="{v}"' for v in versions)
    return (f'logName="projects/{project}/logs/cloudaudit.googleapis.com%2Fdata_access" AND '
            f'protoPayload.serviceName="cloudkms.googleapis.com" AND ({names}) AND '
            f'timestamp>="{start}"')
