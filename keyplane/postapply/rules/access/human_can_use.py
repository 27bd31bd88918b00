"""No human can sign or decrypt with a key of a tier that allows no human use."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.policy.policydoc import SENSITIVE_USE
from keyplane.postapply.access import GCP_PUBLIC_MEMBERS, GCP_SENSITIVE_ROLES
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.access._reach import (
    action_names,
    aws_reaches,
    gcp_reaches,
    is_human_arn,
    strict,
)


@check(title="Humans cannot use ca or production keys", control=Control.ACCESS,
       needs={Facet.POLICY, Facet.GRANTS, Facet.ROLES, Facet.GCP_IAM})
def human_can_use(ctx: CheckContext) -> Iterator[Result]:
    """No human (an IAM user, an IAM Identity Center role, a workload declared human, a
    Google user or group) can Sign, Decrypt, GenerateMac or DeriveSharedSecret with a `ca`
    or `production` key, nor with a key of any tier that allows no human use.

    Why: a person who can sign or decrypt with a production key can produce a valid
    signature or read protected data outside every pipeline that reviews and logs that
    use; the tiers keep such keys to workloads, and ceremonies to their break-glass path.

    Fix: remove the human from the key policy, the grant or the IAM binding, and let the
    workload that needs the key use it. A human who must use a key of a lower tier is
    declared as a human workload in the inventory.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/iam-policies-best-practices.html
    """
    env = ctx.state.env
    for item in aws_reaches(ctx):
        if isinstance(item, Result):
            yield item
            continue
        pair, reach = item
        tier = pair.subject.tier
        if not strict(tier):
            continue
        for p, acts in sorted(reach.who.items()):
            sensitive = acts & SENSITIVE_USE
            if p != "*" and sensitive and is_human_arn(p, env):
                yield pair.fail(f"human principal {p} can {action_names(sensitive)} with a "
                                f"{tier.value} key", actual=p)
    for gitem in gcp_reaches(ctx):
        if isinstance(gitem, Result):
            yield gitem
            continue
        gpair, g = gitem
        tier = gpair.subject.tier
        if not strict(tier):
            continue
        for m in g.members:
            sensitive = g.use.get(m, set()) & GCP_SENSITIVE_ROLES
            if m not in GCP_PUBLIC_MEMBERS and sensitive and m.startswith(("user:", "group:")):
                yield gpair.fail(f"human member {m} holds {', '.join(sorted(sensitive))} on a "
                                 f"{tier.value} key", actual=m)
