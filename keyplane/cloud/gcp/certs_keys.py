"""The Cloud KMS adapter of `keyplane certs`: each version of a declared key, with the
generation it is, its protection level and its public key.

Versions are found as the sign canary and `keyplane csr` find them (`GcpCsrKms.targets`:
ENABLED and DISABLED versions, the primary current). The synthesized stack creates one
version per declared generation, in generation order, so when their numbers agree the
n-th version is the n-th generation; otherwise only the primary is named (the current
generation). GetPublicKey is refused for a version that is not ENABLED; its generation is
then known by the fingerprint its sign canary recorded. Failures become the one error tree
of cloud calls (`keyplane.cloudcall`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc

from keyplane.certs.keys import DeployedVersion
from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.csr_signer import GcpCsrKms
from keyplane.cloud.gcp.drills import translate
from keyplane.cloudcall import KeyStateError
from keyplane.model.environment import KeyDecl


class GcpCertKeys:
    """Cloud KMS versions of declared keys (`keyplane.certs.keys.KeyVersionsPort`)."""

    def __init__(self, client: Any, config: GcpConfig, crypto_keys: Mapping[str, str]) -> None:
        """`crypto_keys`: declared key name -> its crypto key's resource name (the plan's)."""
        self._client = client
        self._config = config
        self._csr = GcpCsrKms(client, config)
        self._crypto_keys = dict(crypto_keys)

    def _version(self, name: str) -> Any:
        try:
            return self._client.get_crypto_key_version(
                request={"name": name}, retry=self._config.retry(),
                timeout=self._config.call_timeout)
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise translate(exc, "GetCryptoKeyVersion") from None

    def deployed(self, key: KeyDecl) -> list[DeployedVersion]:
        """Every live version of `key`'s crypto key, named by generation where it can be."""
        crypto_key = self._crypto_keys.get(key.name)
        if crypto_key is None:
            return []
        targets = self._csr.targets(key.name, crypto_key)
        by_number = sorted(targets, key=lambda t: int(t.ref.rsplit("/", 1)[1]))
        declared = sorted(g.generation for g in key.generations)
        if len(declared) == len(by_number):
            generation: dict[str, int | None] = {
                t.ref: g for t, g in zip(by_number, declared, strict=True)}
        else:
            generation = {t.ref: key.generation for t in targets if t.current}
        out = []
        for t in by_number:
            ver = self._version(t.ref)
            public, error = None, None
            if t.state == "ENABLED":
                try:
                    public = self._csr.public_key(t.ref).der
                except KeyStateError as exc:
                    error = f"{exc.describe()}: {exc.message}"
            else:
                error = f"GetPublicKey is refused for {t.ref}: it is {t.state}"
            out.append(DeployedVersion(ref=t.ref, generation=generation.get(t.ref),
                                       state=t.state, current=t.current,
                                       protection=ver.protection_level.name,
                                       public_key=public, error=error))
        return out
