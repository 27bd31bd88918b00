"""Who administers a key cannot also use it (separation of duties)."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tiers import TIERS, SeparationOfDuties
from keyplane.policy.policydoc import ADMIN_ACTIONS, USE_ACTIONS
from keyplane.postapply.access import GCP_PUBLIC_MEMBERS
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.access._reach import aws_reaches, gcp_reaches

# Creating a grant is both: it is not what makes an administrator a user.
_USE = USE_ACTIONS - {"kms:creategrant"}
_ADMIN = ADMIN_ACTIONS - {"kms:creategrant"}


@check(title="Administrators cannot use keys", control=Control.ACCESS,
       needs={Facet.POLICY, Facet.GRANTS, Facet.ROLES, Facet.GCP_IAM})
def admin_can_use(ctx: CheckContext) -> Iterator[Result]:
    """No principal can both administer a key (change its policy, disable or delete it)
    and use it (sign, decrypt, encrypt, MAC), on a tier that separates duties.

    Why: an administrator who can also use the key can grant themselves what they need and
    use it, with nobody else involved; separating the duties means misuse needs two
    people, and each one's actions show in the audit trail.

    Fix: take the use actions from the administrator (the stack's deny statement for key
    administrators, or their IAM policy), or the administer actions from the user; use a
    separate role for each duty, as the inventory's principals declare.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/least-privilege.html
    """
    for item in aws_reaches(ctx):
        if isinstance(item, Result):
            yield item
            continue
        pair, reach = item
        if TIERS[pair.subject.tier].separation_of_duties is SeparationOfDuties.NONE:
            continue
        for p, acts in sorted(reach.who.items()):
            if p != "*" and acts & _USE and acts & _ADMIN:
                yield pair.fail(f"{p} can both administer and use the key", actual=p)
    for gitem in gcp_reaches(ctx):
        if isinstance(gitem, Result):
            yield gitem
            continue
        gpair, g = gitem
        if TIERS[gpair.subject.tier].separation_of_duties is SeparationOfDuties.NONE:
            continue
        for m in g.members:
            if m not in GCP_PUBLIC_MEMBERS and m in g.use and m in g.admin:
                yield gpair.fail(f"{m} can both administer and use the key", actual=m)
