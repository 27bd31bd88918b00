"""AWS adapters of `keyplane certs`: ACM and ACM Private CA certificates, and KMS public keys.

ACM: DescribeCertificate and GetCertificate by ARN; by tags, ListCertificates (paginated,
with every key type: ACM lists only RSA_1024 and RSA_2048 certificates unless
`Includes.keyTypes` names the others) then ListTagsForCertificate of each. ACM PCA:
DescribeCertificateAuthority and GetCertificateAuthorityCertificate for the CA's own
certificate, GetCertificate for each issued certificate the inventory names (ACM PCA has
no API that lists them). KMS: the keys tagged as a declared key, found as the sign canary
and `keyplane csr` find them (`AwsCsrKms.targets`), with their origin (DescribeKey) and
public key (GetPublicKey; refused for a disabled or pending-deletion key, recorded then).
Failures become the one error tree of cloud calls (`keyplane.cloudcall`).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keyplane.certs.keys import DeployedVersion
from keyplane.certs.sources import AcmRecord, PcaAuthority
from keyplane.cloud.aws.csr_signer import AwsCsrKms
from keyplane.cloud.aws.drills import translate
from keyplane.cloud.aws.session import AwsClients
from keyplane.cloudcall import KeyStateError, NotFound
from keyplane.model.environment import KeyDecl

# Every key type ACM knows (the ListCertificates default is RSA_1024 and RSA_2048 only).
ACM_KEY_TYPES = ("RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1",
                 "EC_secp384r1", "EC_secp521r1")
# Statuses whose certificate GetCertificate cannot return (nothing was issued).
ACM_NOT_ISSUED = frozenset({"PENDING_VALIDATION", "FAILED", "VALIDATION_TIMED_OUT"})
# ACM PCA states without a CA certificate to return.
PCA_WITHOUT_CERTIFICATE = frozenset({"CREATING", "PENDING_CERTIFICATE", "FAILED"})


def _call(operation: str, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation) from None


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


class AwsCertificateStore:
    """ACM and ACM Private CA of one account (`keyplane.certs.sources.CertificateStore`)."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    def _acm(self, region: str) -> Any:
        return self._clients.client("acm", region)

    def acm_certificate(self, arn: str) -> AcmRecord:
        """DescribeCertificate, then GetCertificate once it is issued."""
        acm = self._acm(_region_of(arn))
        md = _call("DescribeCertificate", acm.describe_certificate,
                   CertificateArn=arn)["Certificate"]
        status = str(md.get("Status", ""))
        if status in ACM_NOT_ISSUED:
            return AcmRecord(arn=arn, status=status, pem=None)
        got = _call("GetCertificate", acm.get_certificate, CertificateArn=arn)
        return AcmRecord(arn=arn, status=status, pem=str(got["Certificate"]))

    def acm_tagged(self, region: str, tags: dict[str, str]) -> list[AcmRecord]:
        """Every certificate in `region` carrying all `tags`, of every key type."""
        acm = self._acm(region)
        out = []
        try:
            pages = acm.get_paginator("list_certificates").paginate(
                Includes={"keyTypes": list(ACM_KEY_TYPES)})
            arns = [s["CertificateArn"] for page in pages
                    for s in page.get("CertificateSummaryList", [])]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "ListCertificates") from None
        for arn in sorted(set(arns)):
            try:
                found = _call("ListTagsForCertificate", acm.list_tags_for_certificate,
                              CertificateArn=arn).get("Tags", [])
            except NotFound:
                continue  # deleted since it was listed
            have = {t["Key"]: t.get("Value", "") for t in found}
            if all(have.get(k) == v for k, v in tags.items()):
                try:
                    out.append(self.acm_certificate(arn))
                except NotFound:
                    continue
        return out

    def pca_authority(self, arn: str) -> PcaAuthority:
        """DescribeCertificateAuthority and, when it has one, its own certificate."""
        pca = self._clients.client("acm-pca", _region_of(arn))
        md = _call("DescribeCertificateAuthority", pca.describe_certificate_authority,
                   CertificateAuthorityArn=arn)["CertificateAuthority"]
        status = str(md.get("Status", ""))
        storage = md.get("KeyStorageSecurityStandard")
        pem = None
        if status not in PCA_WITHOUT_CERTIFICATE:
            pem = str(_call("GetCertificateAuthorityCertificate",
                            pca.get_certificate_authority_certificate,
                            CertificateAuthorityArn=arn)["Certificate"])
        return PcaAuthority(arn=arn, status=status, key_storage=str(storage) if storage else None,
                            pem=pem)

    def pca_certificate(self, authority_arn: str, arn: str) -> str:
        """GetCertificate of a certificate the CA issued."""
        pca = self._clients.client("acm-pca", _region_of(authority_arn))
        return str(_call("GetCertificate", pca.get_certificate,
                         CertificateAuthorityArn=authority_arn,
                         CertificateArn=arn)["Certificate"])


class AwsCertKeys:
    """The deployed keys of declared AWS keys in one Region (`keyplane.certs.keys.KeyVersionsPort`)."""

    def __init__(self, clients: AwsClients, region: str) -> None:
        self._kms = clients.client("kms", region)
        self._csr = AwsCsrKms(clients, region)

    def deployed(self, key: KeyDecl) -> list[DeployedVersion]:
        """Each key tagged as `key` (a key the alias was moved to, tagged as another key or
        not at all, is the drift checks' finding, not a generation)."""
        out = []
        for t in self._csr.targets(key.name, key.alias):
            if not t.tagged or t.tag_key != key.name:
                continue
            md = _call("DescribeKey", self._kms.describe_key, KeyId=t.ref)["KeyMetadata"]
            public, error = None, None
            try:
                public = self._csr.public_key(t.ref).der
            except KeyStateError as exc:  # disabled or pending deletion: refused by KMS
                error = f"{exc.describe()}: {t.ref} is {md.get('KeyState', t.state)}"
            out.append(DeployedVersion(ref=t.ref, generation=t.tag_generation,
                                       state=str(md.get("KeyState", t.state)),
                                       current=t.current, protection=str(md.get("Origin", "")),
                                       public_key=public, error=error))
        return out
