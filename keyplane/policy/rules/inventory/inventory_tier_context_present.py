"""A key, crypto key or backup vault carries keyplane's env and tier tags."""

from __future__ import annotations

from keyplane.model import tags as T
from keyplane.model.tiers import Tier
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed
from keyplane.policy.registry import RuleContext, rule

_TIERS = ", ".join(t.value for t in Tier)


@rule(title="Keys, crypto keys and backup vaults carry keyplane's env and tier",
      severity=Severity.HIGH, control=Control.PROTECTION, needs_tier=False,
      types=("aws_kms_key", "aws_kms_external_key", "aws_kms_replica_key",
             "aws_kms_replica_external_key", "google_kms_crypto_key", "aws_backup_vault"))
def inventory_tier_context_present(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Every KMS key, Cloud KMS crypto key and backup vault carries a valid tier and an env.

    Why: the gate reads each resource's controls from its tier; a key without one is a key
    outside the inventory, whose controls nobody chose and nobody reviews.

    Fix: declare the key in `environments/<env>.yaml` and let `keyplane synth` tag it
    (`keyplane:env`/`keyplane:tier` on AWS, `keyplane-env`/`keyplane-tier` labels on GCP).

    See: shared/TIERS.md
    """
    c = res.context
    tier_attr = T.GCP_LABEL_TIER if res.provider == "google" else T.AWS_TAG_TIER
    env_attr = T.GCP_LABEL_ENV if res.provider == "google" else T.AWS_TAG_ENV
    where = "labels" if res.provider == "google" else "tags"
    if c.tier is None and c.tier_raw is not None:
        return failed(f"{where} {tier_attr} is '{c.tier_raw}', not one of {_TIERS}",
                      f"{where}.{tier_attr}")
    if c.tier is None:
        return failed(f"no {tier_attr} {where[:-1]}: a key or vault outside the inventory",
                      f"{where}.{tier_attr}")
    if c.inherited_from is not None:
        return failed(f"no {tier_attr} {where[:-1]} of its own (only the resource it references, "
                      f"{c.inherited_from}, has one)", f"{where}.{tier_attr}")
    if c.env is None:
        return failed(f"no {env_attr} {where[:-1]}: the resource does not say which "
                      "environment it belongs to", f"{where}.{env_attr}")
    return passed(f"tier {c.tier.value} in environment {c.env}")
