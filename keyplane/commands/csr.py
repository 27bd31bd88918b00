"""`keyplane csr ENV KEY[@gN]`: a PKCS#10 certificate request signed inside the KMS.

The composition root of certificate requests: it checks every input before any cloud
call (subject, SANs, the key and generation, the algorithm), builds the KMS adapter of
the key's cloud, pins the deployed key to the generation (`keyplane.certs.identity`),
has the KMS sign the request's digest (`keyplane.certs.csr`), verifies the result
offline, and writes the PEM. Renewal never needs key material outside the HSM.
Exit 0 written, 1 the deployed key is not provably the generation's (nothing written),
2 bad input or a generation that may not sign, 3 the KMS was throttled or unavailable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from keyplane.certs.csr import (
    CertificateRequest,
    PublicKeyInfo,
    build_request,
    check_public_key,
    choose_algorithm,
    parse_sans,
    parse_subject,
)
from keyplane.certs.errors import (
    AlgorithmError,
    DeployedKeyError,
    KmsCallError,
    SubjectError,
)
from keyplane.certs.identity import (
    PIN_REQUIRED,
    check_pin,
    expected_aliases,
    fingerprint,
    generation_to_sign,
    label,
    parse_key_ref,
    pin_target,
    recorded_fingerprint,
    signing_key,
)
from keyplane.cloudcall import AccessDenied, CloudCallError, KeyStateError, Throttled
from keyplane.commands.audit_wiring import audit_options, build_audit_log
from keyplane.commands.post_apply import connection_options
from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.model.specs import Cloud
from keyplane.output import deliver, set_format, to_json

# What the KMS must report for a key that signs: KeyUsage (AWS), CryptoKey purpose (GCP).
SIGNING_USAGE = {Cloud.AWS: "SIGN_VERIFY", Cloud.GCP: "ASYMMETRIC_SIGN"}


@click.command("csr")
@click.argument("env")
@click.argument("key_ref", metavar="KEY[@gN]")
@click.option("--subject", "subject_text", required=True,
              help="The subject as an RFC 4514 string, most specific first, e.g. "
                   "'CN=signer.example.com,O=Example' ('' only with at least one --san).")
@click.option("--san", "san_values", multiple=True,
              help="A subject alternative name: DNS:name, IP:address, URI:uri or "
                   "email:address (repeatable).")
@click.option("--algorithm", "algorithm_name",
              help="The signing algorithm (default by spec: RSA keys "
                   "RSASSA_PKCS1_V1_5_SHA_256, ECC keys ECDSA with their curve's hash, Cloud KMS "
                   "versions their own algorithm), e.g. RSASSA_PSS_SHA_256.")
@click.option("--out", "--output", "-o", "out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the request to this file (atomically) instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["pem", "json"]), default="pem",
              show_default=True, help="The PEM request, or JSON with it and how it was signed.")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the inventory is.")
@click.option("--evidence-location",
              help="Where the drill evidence that pins the public key is read (a directory or "
                   "s3:// URI; default: the inventory's evidence_location).")
@connection_options("GCP project the credentials act in (default: the environment's).")
@audit_options
def csr(env: str, key_ref: str, subject_text: str, san_values: tuple[str, ...],
        algorithm_name: str | None, out: Path | None, fmt: str, environments_dir: Path,
        evidence_location: str | None, profile: str | None, endpoint_url: str | None,
        gcp_endpoint: str | None, gcp_project: str | None, use_sandbox: bool,
        sandbox_state_file: Path | None, max_attempts: int, retry_mode: str, audit_log: Path,
        audit_cloudwatch_log_group: str | None, audit_cloud_logging_log: str | None) -> None:
    """Write a certificate request for ENV's KEY, signed by its current generation in KMS.

    Only the current generation signs (a verify-only or disabled generation is refused),
    and only with the deployed key that its tags, the stack's aliases and the public key
    recorded at its first sign canary agree on (ca and production keys need that record).
    Exit 0 written, 1 the deployed key is not provably the generation's, 2 bad input,
    3 the KMS was throttled or unavailable.
    """
    set_format("json" if fmt == "json" else "text")
    # every input first: nothing reaches a cloud before all of it is known to be good
    ref = parse_key_ref(key_ref)
    subject = parse_subject(subject_text)
    sans = parse_sans(san_values)
    if len(subject) == 0 and not sans:
        raise SubjectError("an empty subject needs at least one --san (RFC 5280 4.2.1.6)")
    environment = load_targets([env], environments_dir).environments[0]
    if evidence_location:
        environment = environment.model_copy(update={"evidence_location": evidence_location})
    key = signing_key(environment, ref.name)
    generation = generation_to_sign(key, ref.generation)
    assert key.spec is not None  # filled in at load
    algorithm = choose_algorithm(key.cloud, key.spec, algorithm_name)
    name = label(key, generation)

    if use_sandbox:
        from keyplane.commands.post_apply import sandbox_endpoints

        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    from keyplane.commands.cloud_wiring import (
        CloudOptions,
        build_aws_clients,
        require_credentials,
    )
    from keyplane.commands.drill import _evidence

    where = environment.evidence_location or f"./evidence/{environment.name}"
    evidence_on_s3 = where.startswith("s3://")
    opts = CloudOptions(profile=profile, endpoint_url=endpoint_url, gcp_endpoint=gcp_endpoint,
                        gcp_project=gcp_project, retry_mode=retry_mode,
                        max_attempts=max_attempts,
                        skip_aws=key.cloud is not Cloud.AWS and not evidence_on_s3,
                        skip_gcp=key.cloud is not Cloud.GCP)
    require_credentials(environment, opts)
    aws: Any = None
    home = environment.aws.region if environment.aws is not None else None
    if environment.aws is not None and not opts.skip_aws:
        aws = build_aws_clients(account_id=environment.aws.account_id,
                                region=environment.aws.region, opts=opts,
                                environment=environment)
    audit = build_audit_log(command="csr", audit_log=audit_log,
                            audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                            audit_cloud_logging_log=audit_cloud_logging_log,
                            logs_client=(lambda: aws.client("logs", home))
                            if aws is not None else None,
                            gcp_endpoint=gcp_endpoint)
    audit.ensure_writable()  # a request signed with a production key is never unrecorded
    store, _, _ = _evidence(environment, aws)
    history = store.history(environment.name)

    with audit.step(action="csr.sign", environment=environment.name, resource=name) as step:
        try:
            kms, target_ref, info = _pinned_key(environment, key, generation, aws,
                                                gcp_endpoint=gcp_endpoint,
                                                gcp_project=gcp_project)
            if algorithm.name not in info.algorithms:
                raise DeployedKeyError(f"{name} ({target_ref}) does not offer {algorithm.name}; "
                                       f"it offers {', '.join(info.algorithms) or 'none'}")
            now = fingerprint(info.der)
            pinned = check_pin(key, generation, now,
                               recorded_fingerprint(history, key.name, generation),
                               env=environment.name, evidence=where)
            request = build_request(subject=subject, sans=sans, public_key=info.der,
                                    algorithm=algorithm, signer=kms.signer(target_ref))
        except CloudCallError as exc:
            raise _cloud_error(exc, name, key.cloud) from None
        step["details"] = {"key": key.name, "generation": generation, "ref": target_ref,
                           "algorithm": algorithm.name, "subject": subject.rfc4514_string(),
                           "sans": list(san_values), "public_key_sha256": now,
                           "pinned": pinned, "csr_sha256": request.sha256}
        # inside the step: a request that could not be written is not recorded as delivered
        if fmt == "json":
            deliver(to_json({"environment": environment.name, "key": key.name,
                             "generation": generation, "cloud": key.cloud.value,
                             "ref": target_ref, "tier": key.tier.value,
                             "algorithm": algorithm.name, "subject": subject.rfc4514_string(),
                             "sans": list(san_values), "public_key_sha256": now,
                             "pinned": pinned, "csr_sha256": request.sha256,
                             "csr_pem": request.pem}), out)
        else:
            deliver(request.pem, out)
    click.echo(_summary(environment.name, name, target_ref, request, now, pinned,
                        key.tier.value), err=True)


def _pinned_key(env: Any, key: Any, generation: int | None, aws: Any, *,
                gcp_endpoint: str | None, gcp_project: str | None
                ) -> tuple[Any, str, PublicKeyInfo]:
    """(the cloud's csr adapter, the pinned key's ARN or version name, its public key),
    once tags, aliases, state, spec, usage and public key agree it is the generation's."""
    assert key.spec is not None
    if key.cloud is Cloud.AWS:
        from keyplane.cloud.aws.csr_signer import AwsCsrKms

        kms: Any = AwsCsrKms(aws, env.aws.region)
        targets = kms.targets(key.name, key.alias)
        aliases = {a: kms.alias_target(a) for a in expected_aliases(key, generation)}
        target = pin_target(key, generation, targets, aliases=aliases,
                            account_id=env.aws.account_id)
    else:
        from keyplane.cloud.gcp.client import GcpConfig, build_client
        from keyplane.cloud.gcp.csr_signer import GcpCsrKms
        from keyplane.desired.gcp import plan_environment

        config = GcpConfig(project=gcp_project or env.gcp.project_id, endpoint=gcp_endpoint)
        plan = plan_environment(env)  # the desired state: where the crypto key lives
        crypto_key = next(k.resource_name(plan.project) for k in plan.keys if k.name == key.name)
        kms = GcpCsrKms(build_client(config), config)
        targets = kms.targets(key.name, crypto_key)
        target = pin_target(key, generation, targets, aliases={})
    info = kms.public_key(target.ref)
    want = SIGNING_USAGE[key.cloud]
    if info.usage != want:
        raise DeployedKeyError(f"{label(key, generation)} ({target.ref}) is deployed with usage "
                               f"{info.usage}, not {want}")
    if info.spec != key.spec:
        raise DeployedKeyError(f"{label(key, generation)} ({target.ref}) reports spec "
                               f"{info.spec}, the inventory declares {key.spec}")
    check_public_key(key.cloud, key.spec, info.der)
    return kms, target.ref, info


# What a caller needs, said when a call is denied: to use the generation, and to find it.
NEEDS = {Cloud.AWS: "kms:DescribeKey, kms:GetPublicKey and kms:Sign on the generation (a key "
                    "user of it) and kms:ListKeys, kms:ListResourceTags to find it",
         Cloud.GCP: "cloudkms.cryptoKeyVersions.viewPublicKey and "
                    "cloudkms.cryptoKeyVersions.useToSign on the version "
                    "(roles/cloudkms.signerVerifier) and cloudkms.cryptoKeys.get, "
                    "cloudkms.cryptoKeyVersions.list to find it"}


def _cloud_error(exc: CloudCallError, name: str, cloud: Cloud) -> Exception:
    """The coded error of a failed KMS call."""
    if isinstance(exc, KeyStateError):
        return DeployedKeyError(f"{name}: {exc.describe()}: {exc.message or exc.code}")
    if isinstance(exc, AccessDenied):
        return KmsCallError(f"{name}: {exc.describe()}: the caller needs {NEEDS[cloud]}",
                            transient=False)
    if exc.code == "KMSInvalidSigningAlgorithmException":
        return AlgorithmError(f"{name}: {exc.message or exc.code}")
    return KmsCallError(f"{name}: {exc.describe()}: {exc.message or exc.code}"
                        f"{'; try again later' if isinstance(exc, Throttled) else ''}",
                        transient=isinstance(exc, Throttled))


def _summary(env: str, name: str, ref: str, request: CertificateRequest, public_key: str,
             pinned: bool, tier: str) -> str:
    """One line on stderr: what signed, with what, and whether a drill record pinned it."""
    pin = ("pinned to its first sign canary" if pinned else
           f"not pinned: no sign canary recorded it yet (allowed for the {tier} tier; "
           f"required for {', '.join(sorted(t.value for t in PIN_REQUIRED))})")
    return (f"keyplane: certificate request for {env} {name} signed in kms by {ref} with "
            f"{request.algorithm.name} (csr sha256 {request.sha256[:16]}); public key "
            f"sha256 {public_key}, {pin}")
