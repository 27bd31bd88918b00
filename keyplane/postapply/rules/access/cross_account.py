"""No key can be used or administered from another account or project."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.access import GCP_PUBLIC_MEMBERS
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.access._reach import (
    ACCOUNT,
    GCP_PROJECT,
    action_names,
    aws_reaches,
    gcp_reaches,
)


@check(title="No access from other accounts or projects", control=Control.ACCESS,
       needs={Facet.POLICY, Facet.GRANTS, Facet.GCP_IAM})
def cross_account(ctx: CheckContext) -> Iterator[Result]:
    """No principal of another AWS account can use or administer a key (through its key
    policy or a grant), and no service account of another GCP project holds a role on a
    crypto key or its key ring.

    Why: access from another account is governed by that account's IAM, which neither
    this environment's reviews nor its audit trail see; a key usable from outside is only
    as safe as the least guarded account that can reach it.

    Fix: remove the principal from the key policy (or revoke the grant, or the IAM
    binding). Access another account truly needs is declared in the inventory (e.g. the
    backup copy account) so the stack grants it and the gate reviews it.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
    """
    env = ctx.state.env
    account = env.aws.account_id if env.aws else ""
    for item in aws_reaches(ctx, iam=False):
        if isinstance(item, Result):
            yield item
            continue
        pair, reach = item
        for p, acts in sorted(reach.who.items()):
            m = ACCOUNT.match(p)
            if p != "*" and m and m.group(1) != account:
                yield pair.fail(f"{p} in another account can {action_names(acts)}", actual=p)
    project = env.gcp.project_id if env.gcp else ""
    for gitem in gcp_reaches(ctx):
        if isinstance(gitem, Result):
            yield gitem
            continue
        gpair, g = gitem
        for member in g.members:
            pm = GCP_PROJECT.search(member)
            if member not in GCP_PUBLIC_MEMBERS and pm and pm.group(1) != project:
                roles = g.use.get(member, set()) | g.admin.get(member, set())
                yield gpair.fail(f"{member} from project {pm.group(1)} is granted "
                                 f"{', '.join(sorted(roles))}", actual=member)
