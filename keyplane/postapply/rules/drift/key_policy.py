"""A declared key's policy is the synthesized one."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.policy.policydoc import compare
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Key policies are as synthesized", control=Control.ACCESS, needs={Facet.POLICY})
def key_policy(ctx: CheckContext) -> Iterator[Result]:
    """A key's policy means the same as the policy in the synthesized stack: statements
    are compared semantically (order, single values against lists, and principal
    spelling do not count).

    Why: the key policy is the root of access to a key: a statement added by hand can
    hand use or administration to anyone, a statement removed can lock the admins out.
    The gate reviewed the synthesized policy, not this one.

    Fix: re-apply the synthesized stack, or declare the access in the inventory and
    synthesize again; find out who changed it (PutKeyPolicy) from the audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
    """
    for pair in ctx.aws_keys(Facet.POLICY):
        want, got = pair.expected.policy, pair.observed.policy
        if want is None or got is None:  # no synthesized policy to compare with
            continue
        diff = compare(want, got)
        if diff:
            yield pair.fail(f"key policy differs from the synthesized one: {diff.describe()}")
