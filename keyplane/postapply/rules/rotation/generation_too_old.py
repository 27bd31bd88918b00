"""A key that cannot rotate in place is replaced before its tier's maximum age."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tags import AWS_TAG_CREATED_ON
from keyplane.model.tiers import TIERS, RotationMode
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, unknown


def _created(tags: dict[str, str] | None, fallback: dt.datetime | None) -> dt.date | None:
    """The `keyplane:created-on` tag's date, else the key's creation date."""
    raw = (tags or {}).get(AWS_TAG_CREATED_ON)
    if raw:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    return fallback.date() if fallback else None


@check(title="Generations are replaced before the maximum age", control=Control.ROTATION,
       needs={Facet.TAGS, Facet.GCP_VERSIONS})
def generation_too_old(ctx: CheckContext) -> Iterator[Result]:
    """The current generation of a key that cannot rotate in place (asymmetric, HMAC,
    imported, custom key store; Cloud KMS keys without `rotation_period`) is younger than
    the key's maximum age (its `max_key_age_in_days`, else the tier's). AWS: the age is
    read from the `keyplane:created-on` tag, else the key's creation date; Cloud KMS: from
    the newest enabled version, never older than the declared generation.

    Why: such a key is renewed only by a new generation (a new key and an alias swap, or a
    ceremony); past the maximum age it has outlived the tier's cryptoperiod and everything
    it signs or encrypts widens what a compromise would expose.

    Fix: run `keyplane rotate <env> <key> --reason policy-change`, review and merge the pull
    request it opens, and apply it.

    See: https://csrc.nist.gov/pubs/sp/800/57/pt1/r5/final
    """
    today = ctx.today
    for pair in ctx.aws_keys(Facet.TAGS):
        exp, obs = pair.expected, pair.observed
        key = exp.key
        if obs.key.key_state == "PendingDeletion" or key.rotation_mode is RotationMode.AUTOMATIC:
            continue
        created = _created(obs.tags, obs.key.creation_date) or exp.created_on
        if not exp.current or created is None:
            continue
        max_age = key.max_key_age_in_days or TIERS[key.tier].max_key_age_in_days
        age = (today - created).days
        if age > max_age:
            yield pair.fail(f"generation {exp.generation} is {age} days old, above the "
                            f"{key.tier.value} maximum of {max_age} d; run `keyplane rotate "
                            f"{ctx.env_name} {key.name} --reason policy-change`",
                            expected=f"<= {max_age} d", actual=f"{age} d")
    for gpair in ctx.gcp_keys():
        key, gobs = gpair.expected.key, gpair.observed
        if gpair.expected.rotation_period_seconds:
            continue
        if Facet.GCP_VERSIONS.value in gobs.unknown:
            yield unknown(gpair.subject, gobs.unknown[Facet.GCP_VERSIONS.value])
            continue
        max_age = key.max_key_age_in_days or TIERS[key.tier].max_key_age_in_days
        newest = max((v.create_time for v in gobs.versions or []
                      if v.state == "ENABLED" and v.create_time), default=None)
        cur = key.current_generation()
        created = newest.date() if newest else (cur.created_on if cur else None)
        if cur is not None and created is not None and cur.created_on > created:
            created = cur.created_on
        if created is not None and (today - created).days > max_age:
            age = (today - created).days
            yield gpair.fail(f"the newest enabled version is {age} days old, above the "
                             f"{key.tier.value} maximum of {max_age} d; run `keyplane rotate "
                             f"{ctx.env_name} {key.name} --reason policy-change`",
                             expected=f"<= {max_age} d", actual=f"{age} d")
