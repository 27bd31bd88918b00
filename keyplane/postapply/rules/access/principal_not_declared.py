"""Everyone with access to a key is a principal the environment declares."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.access import GCP_PUBLIC_MEMBERS
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.access._reach import (
    ACCOUNT,
    aws_reaches,
    declared_aws,
    declared_gcp,
    gcp_reaches,
)


@check(title="Every principal with access is declared", control=Control.ACCESS,
       needs={Facet.POLICY, Facet.GRANTS, Facet.ROLES, Facet.GCP_IAM})
def principal_not_declared(ctx: CheckContext) -> Iterator[Result]:
    """Every principal of the environment's own account that can use or administer a key
    (key policy, grant, or IAM policy where the key delegates to IAM), and every Cloud IAM
    member bound on a crypto key or its key ring, is one the environment declares: a
    keyplane role, a principal of a duty, or a workload.

    Why: access nobody declared is access nobody reviews: it does not show in the
    inventory, the gate never saw it, and it survives the next policy review unnoticed.

    Fix: remove the principal's access, or declare it in the inventory (a workload, or
    the principals of a duty) so the stack grants it and the gate reviews it.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html
    """
    env = ctx.state.env
    if env.aws is not None:
        declared = declared_aws(ctx.state)
        for item in aws_reaches(ctx):
            if isinstance(item, Result):
                yield item
                continue
            pair, reach = item
            for p in sorted(reach.who):
                acct = ACCOUNT.match(p)
                if p not in declared and acct is not None and acct.group(1) == env.aws.account_id:
                    yield pair.fail(f"{p} has access but is not declared in the environment",
                                    actual=p)
    members = declared_gcp(env)
    for gitem in gcp_reaches(ctx):
        if isinstance(gitem, Result):
            yield gitem
            continue
        gpair, g = gitem
        for m in g.members:
            if m not in GCP_PUBLIC_MEMBERS and m not in members:
                yield gpair.fail(f"{m} has access but is not declared in the environment",
                                 actual=m)
