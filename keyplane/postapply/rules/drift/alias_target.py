"""Every alias the stack declares for a key points to that key."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.ports import Alias
from keyplane.postapply.registry import CheckContext, Result, check, unknown
from keyplane.postapply.rules.drift.alias_missing import aliases_unread, region_aliases


@check(title="Declared aliases point to their keys", control=Control.PROTECTION,
       needs={Facet.ALIASES})
def alias_target(ctx: CheckContext) -> Iterator[Result]:
    """Every alias the stack declares for a key points to that key (a missing alias is
    drift.alias_missing).

    Why: callers that name the alias use whatever key it points to: an alias moved to
    another key sends signatures or ciphertexts to a key the stack does not describe, and
    possibly one an attacker controls.

    Fix: point it back (`aws kms update-alias --alias-name <alias> --target-key-id <id>`,
    or re-apply the synthesized stack) and find out who moved it (UpdateAlias) from the
    audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html
    """
    read: dict[str, dict[str, Alias] | None] = {}
    for pair in ctx.aws_keys():
        if not pair.expected.aliases:
            continue
        k = pair.observed.key
        if k.region not in read:
            read[k.region] = region_aliases(ctx, k.region)
        aliases = read[k.region]
        if aliases is None:
            yield unknown(pair.subject, aliases_unread(ctx, k.region))
            continue
        for name in pair.expected.aliases:
            a = aliases.get(name)
            if a is not None and a.target_key_id != k.key_id:
                yield pair.fail(f"{name} points to {a.target_key_id}, not to this key",
                                expected=k.key_id, actual=a.target_key_id)
