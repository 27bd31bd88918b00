"""A declared key carries no grant the stack does not declare."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Keys carry no undeclared grants", control=Control.ACCESS, needs={Facet.GRANTS})
def grant_not_declared(ctx: CheckContext) -> Iterator[Result]:
    """A key (or replica) has no grant: keyplane declares access in the key policy only.

    Why: a grant gives use of the key outside the key policy, invisible to anyone who
    reads the policy and to the gate; grants are a common way to keep access after a
    policy review.

    Fix: find out who created it (CreateGrant in the audit trail) and retire or revoke it
    (`aws kms revoke-grant --key-id <id> --grant-id <grant>`); declare the access in the
    inventory when it is needed.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
    """
    for pair in ctx.aws_keys(Facet.GRANTS):
        for g in pair.observed.grants or []:
            yield pair.fail(f"grant {g.grant_id[:12]} to {g.grantee_principal} "
                            f"({', '.join(g.operations)}) is not declared",
                            actual={"grant_id": g.grant_id, "grantee": g.grantee_principal,
                                    "operations": list(g.operations)})
    for pair in ctx.aws_replicas(Facet.GRANTS):
        for g in pair.observed.grants or []:
            yield pair.fail(f"grant to {g.grantee_principal} on the replica is not declared",
                            actual={"grantee": g.grantee_principal})
