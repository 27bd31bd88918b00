"""No key lets any principal in: no unconditioned wildcard statement, grant or public member."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.access import GCP_PUBLIC_MEMBERS
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.access._reach import aws_reaches, gcp_reaches


@check(title="No key is open to any principal", control=Control.ACCESS,
       needs={Facet.POLICY, Facet.GRANTS, Facet.GCP_IAM})
def wildcard_principal(ctx: CheckContext) -> Iterator[Result]:
    """No key policy statement allows `*` (or a whole account) without a condition on the
    caller's organization, account or ARN; no grant goes to `*` or the account root; no
    crypto key or key ring binds `allUsers` or `allAuthenticatedUsers`.

    Why: a wildcard principal hands the key to every identity the condition does not
    exclude (with no condition: every AWS account, or everyone on the internet); an
    account-root grant lets any IAM policy of the account use the key, outside the key
    policy the gate reviewed.

    Fix: name the principals in the key policy (or add an `aws:PrincipalOrgID` /
    `aws:PrincipalAccount` condition), retire the grant (`aws kms revoke-grant`), remove the
    public member (`gcloud kms keys remove-iam-policy-binding`); then `keyplane synth` and
    apply, so the deployed policy is the declared one again.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
    """
    for item in aws_reaches(ctx, iam=False):
        if isinstance(item, Result):
            yield item
            continue
        pair, reach = item
        for sid in reach.wildcards:
            yield pair.fail(f"{sid} allows any principal without an organization or account "
                            "condition", actual=sid)
    for gitem in gcp_reaches(ctx):
        if isinstance(gitem, Result):
            yield gitem
            continue
        gpair, g = gitem
        for m in g.members:
            if m in GCP_PUBLIC_MEMBERS:
                roles = g.use.get(m, set()) | g.admin.get(m, set())
                yield gpair.fail(f"{m} is granted {', '.join(sorted(roles))}", actual=m)
