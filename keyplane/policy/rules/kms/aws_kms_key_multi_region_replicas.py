"""Multi-Region keys and replicas match the tier: required for production, refused for ca."""

from __future__ import annotations

from keyplane.policy.facts import AWS_REPLICA_TYPES, as_bool
from keyplane.policy.model import (
    UNKNOWN,
    Control,
    Resource,
    Severity,
    Verdict,
    failed,
    not_applicable,
    passed,
    unknown,
)
from keyplane.policy.registry import RuleContext, rule


@rule(title="Multi-Region replicas match the tier", severity=Severity.HIGH, control=Control.PROTECTION,
      types=("aws_kms_key", "aws_kms_external_key"))
def aws_kms_key_multi_region_replicas(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A key has at least the tier's number of replica Regions, and none where replicas
    are not allowed.

    Why: production keys survive the loss of their Region through a replica; `ca` keys
    live in a single-Region custom key store (recovery is through CloudHSM backups) and
    ephemeral keys need no copy.

    Fix: set `multi_region = true` and declare `aws_kms_replica_key` resources (keyplane
    synthesizes them from `replica_regions`), or remove replicas where the tier forbids them.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
    """
    assert ctx.policy is not None
    replicas = ctx.index.referrers(res, types=AWS_REPLICA_TYPES, attrs=("primary_key_arn",))
    multi = res.get("multi_region")
    if multi is UNKNOWN:
        return unknown("multi_region is known only after apply", "multi_region")
    is_multi = as_bool(multi) is True
    need = ctx.policy.min_replica_regions
    if not ctx.policy.replicas_allowed:
        if is_multi or replicas:
            return failed(f"{ctx.policy.tier.value} keys must not be multi-region or have "
                          "replicas", "multi_region")
        return passed("single-region key")
    if need == 0:
        return not_applicable("replicas are optional for this tier")
    if not is_multi:
        return failed(f"multi_region is not true; {ctx.policy.tier.value} keys need at least "
                      f"{need} replica region(s)", "multi_region")
    if len(replicas) < need:
        return failed(f"{len(replicas)} replica key(s), {ctx.policy.tier.value} keys need at "
                      f"least {need}", "multi_region")
    return passed(f"{len(replicas)} replica key(s)")
