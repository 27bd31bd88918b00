"""The Google CA Service adapter of `keyplane certs`: the pools keys declare, read only.

Implements `keyplane.certs.sources.CaPoolStore` with the real
`CertificateAuthorityServiceClient` (google-cloud-private-ca): GetCaPool for the pool's
tier, ListCertificateAuthorities for each CA's state, type, own certificate and Cloud KMS
key version, and ListCertificates for what the pool issued, filtered on the server to the
certificates still valid at the date judged (a busy pool keeps millions of expired ones).
Pages are walked explicitly so a repeated page token is caught (`reader.pages`); every call
has the run's Retry and a per-attempt timeout (`GcpConfig`). A local endpoint (the
sandbox's fake) is reached through a plaintext channel injected into the gRPC transport;
`api_endpoint` would force TLS. google-api-core errors become the one error tree of cloud
calls (`keyplane.cloudcall`). Certificates are public; nothing secret is read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from keyplane.certs.sources import CaPoolRecord, CasAuthority, CasCertificate
from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.reader import call, pages
from keyplane.postapply.errors import HookSetupError

# The ListCertificates filter field of a certificate's end of validity (documented in CA
# Service's "Sort and filter certificates").
NOT_AFTER_FIELD = "certificate_description.subject_description.not_after_time"
PAGE_SIZE = 1000


def build_cas_client(config: GcpConfig) -> Any:
    """A CertificateAuthorityServiceClient for `config` (a local channel when an endpoint is
    given, else Google's endpoint with Application Default Credentials)."""
    from google.cloud.security import privateca_v1
    from google.cloud.security.privateca_v1.services.certificate_authority_service import (
        transports,
    )

    if config.endpoint:
        channel = grpc.insecure_channel(config.endpoint)
        return privateca_v1.CertificateAuthorityServiceClient(
            transport=transports.CertificateAuthorityServiceGrpcTransport(channel=channel))
    try:
        return privateca_v1.CertificateAuthorityServiceClient()
    except Exception as exc:  # DefaultCredentialsError and friends
        raise HookSetupError(f"cannot set up gcp credentials: {exc}") from None


def authority_of(ca: Any) -> CasAuthority:
    """A CasAuthority from the proto-plus CertificateAuthority (its own certificate is the
    first of `pem_ca_certificates`, which runs self to root)."""
    pems = list(ca.pem_ca_certificates)
    return CasAuthority(name=str(ca.name), state=str(ca.state.name), type=str(ca.type_.name),
                        pem=str(pems[0]) if pems else None,
                        kms_key_version=str(ca.key_spec.cloud_kms_key_version) or None)


def certificate_of(cert: Any) -> CasCertificate:
    """A CasCertificate from the proto-plus Certificate (revoked if and only if
    `revocation_details` is present, as the API defines it)."""
    revoked = (str(cert.revocation_details.revocation_state.name)
               if "revocation_details" in cert else None)
    return CasCertificate(name=str(cert.name), issuer=str(cert.issuer_certificate_authority),
                          pem=str(cert.pem_certificate) or None, revoked=revoked)


def _rfc3339(at: dt.datetime) -> str:
    utc = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


class GcpCaPoolStore:
    """Read-only view of one project's CA Service pools
    (`keyplane.certs.sources.CaPoolStore`)."""

    def __init__(self, client: Any, config: GcpConfig) -> None:
        self._client = client
        self._config = config

    def ca_pool(self, name: str) -> CaPoolRecord:
        """GetCaPool."""
        from google.cloud.security import privateca_v1

        pool = call(self._config, "GetCaPool", self._client.get_ca_pool,
                    request=privateca_v1.GetCaPoolRequest(name=name))
        return CaPoolRecord(name=str(pool.name), tier=str(pool.tier.name))

    def pool_authorities(self, pool: str) -> list[CasAuthority]:
        """ListCertificateAuthorities of the pool, every page."""
        from google.cloud.security import privateca_v1

        req = privateca_v1.ListCertificateAuthoritiesRequest(parent=pool, page_size=PAGE_SIZE)
        return [authority_of(ca) for ca in pages(
            self._config, "ListCertificateAuthorities",
            self._client.list_certificate_authorities, req, "certificate_authorities")]

    def pool_certificates(self, pool: str, valid_at: dt.datetime | None
                          ) -> list[CasCertificate]:
        """ListCertificates of the pool, every page: those valid after `valid_at` (None:
        all), revoked ones included."""
        from google.cloud.security import privateca_v1

        req = privateca_v1.ListCertificatesRequest(
            parent=pool, page_size=PAGE_SIZE,
            filter=f'{NOT_AFTER_FIELD} > "{_rfc3339(valid_at)}"' if valid_at else "")
        return [certificate_of(c) for c in pages(
            self._config, "ListCertificates", self._client.list_certificates, req,
            "certificates")]
