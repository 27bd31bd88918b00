"""Every alias the stack declares for a key exists."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.ports import Alias
from keyplane.postapply.registry import CheckContext, Result, check, unknown


def region_aliases(ctx: CheckContext, region: str) -> dict[str, Alias] | None:
    """The aliases read in `region`, by name (None: they could not be read)."""
    listed = (ctx.observed.aliases or {}).get(region)
    return None if listed is None else {a.name: a for a in listed}


def aliases_unread(ctx: CheckContext, region: str) -> str:
    """Why the aliases of `region` are not known: the failed read's own reason when recorded."""
    return ctx.why_unread(resource=f"aws:{region}:aliases",
                          default=f"the aliases in {region} could not be read")


@check(title="Declared aliases exist", control=Control.PROTECTION, needs={Facet.ALIASES})
def alias_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every alias the stack declares for a key (the key's alias and its per-generation
    alias) exists in the key's Region.

    Why: workloads and relying parties find the key by its alias: a missing alias breaks
    every caller that names it, and lets anyone with CreateAlias claim the name for a key
    of their own.

    Fix: re-apply the synthesized stack (or `aws kms create-alias`), and find out who
    deleted it (DeleteAlias) from the audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html
    """
    read: dict[str, dict[str, Alias] | None] = {}
    for pair in ctx.aws_keys():
        if not pair.expected.aliases:
            continue
        region = pair.observed.key.region
        if region not in read:
            read[region] = region_aliases(ctx, region)
        aliases = read[region]
        if aliases is None:
            yield unknown(pair.subject, aliases_unread(ctx, region))
            continue
        for name in pair.expected.aliases:
            if name not in aliases:
                yield pair.fail(f"{name} does not exist", expected=name)
