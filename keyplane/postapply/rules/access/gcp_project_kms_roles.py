"""No Cloud KMS role is granted on the whole GCP project unless the stack grants it."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Cloud, Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail, unknown


def carries_kms(role: str) -> bool:
    """Whether `role` is a Cloud KMS role (predefined `roles/cloudkms.*`). The basic Owner
    and Editor roles are left out: every project has an Owner, and they are reviewed as the
    project's administration, not as key access."""
    return role.startswith("roles/cloudkms.")


@check(title="No Cloud KMS role is granted on the whole project", control=Control.ACCESS,
       needs={Facet.GCP_PROJECT_IAM})
def gcp_project_kms_roles(ctx: CheckContext) -> Iterator[Result]:
    """The project's own IAM policy grants no Cloud KMS role (`roles/cloudkms.*`) to a member
    the synthesized stack does not grant it to at project level. keyplane grants on key
    rings and crypto keys only.

    Why: a project-level grant is inherited by every key ring and key in the project, now
    and later: `roles/cloudkms.cryptoKeyEncrypterDecrypter` or `signer` on the project lets
    its member use every key, outside the per-key review keyplane's access checks make, and
    without showing on any key's own IAM policy.

    Fix: remove the binding (`gcloud projects remove-iam-policy-binding PROJECT --member=...
    --role=...`), grant what the member needs on its key in the inventory instead, then find
    out who called SetIamPolicy on the project (its Admin Activity audit log).

    See: https://cloud.google.com/kms/docs/iam
    """
    env = ctx.state.env
    if env.gcp is None or not ctx.state.gcp_keys:
        return
    project = env.gcp.project_id
    subject = ctx.shared(f"projects/{project}", cloud=Cloud.GCP)
    bindings = ctx.observed.gcp_project_iam
    if bindings is None:
        yield unknown(subject, ctx.why_unread(
            facet=Facet.GCP_PROJECT_IAM,
            default=f"the IAM policy of project {project} was not read"))
        return
    declared = ctx.state.gcp_project_grants
    extra: list[str] = []
    for b in bindings:
        if not carries_kms(b.role):
            continue
        allowed = declared.get(b.role, frozenset())
        members = sorted(m for m in b.members if m not in allowed)
        if members:
            when = f" (if {b.condition})" if b.condition else ""
            extra.append(f"{b.role} to {', '.join(members)}{when}")
    if extra:
        yield fail(subject, f"project {project} grants {'; '.join(extra)}: inherited by every "
                            "key ring and key in it", actual=extra)
