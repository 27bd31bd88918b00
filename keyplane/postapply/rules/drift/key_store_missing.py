"""The custom key store of a declared key exists."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, unknown


def key_stores_unread(ctx: CheckContext) -> str:
    """Why the custom key stores are not known: the failed read's own reason when recorded."""
    return ctx.why_unread(facet=Facet.KEY_STORES,
                          default="the custom key stores could not be read")


@check(title="Custom key stores of declared keys exist", control=Control.PROTECTION,
       needs={Facet.KEY_STORES})
def key_store_missing(ctx: CheckContext) -> Iterator[Result]:
    """A key in a custom key store (CloudHSM) names a key store the account still has.

    Why: without its key store the key cannot be used at all, and the key material lives
    only in the CloudHSM cluster behind the store: a deleted store means the cluster and
    its backups are the last copy.

    Fix: recreate the custom key store on the cluster (from its backup when the cluster
    is gone) with the same trust anchor, then connect it: `keyplane keystore connect ENV`
    does both once the cluster is back.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/keystore-cloudhsm.html
    """
    stores = ctx.observed.key_stores
    known = {s.id for s in stores or []}
    for pair in ctx.aws_keys():
        store_id = pair.observed.key.custom_key_store_id
        if not store_id:
            continue
        if stores is None:
            yield unknown(pair.subject, key_stores_unread(ctx))
        elif store_id not in known:
            yield pair.fail(f"custom key store {store_id} is not in the account")
