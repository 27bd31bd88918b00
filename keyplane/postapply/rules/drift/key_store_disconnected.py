"""The custom key store of a declared key is connected."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, unknown
from keyplane.postapply.rules.drift.key_store_missing import key_stores_unread


@check(title="Custom key stores of declared keys are connected", control=Control.PROTECTION,
       needs={Facet.KEY_STORES})
def key_store_disconnected(ctx: CheckContext) -> Iterator[Result]:
    """The custom key store (CloudHSM) of a key is CONNECTED.

    Why: while its key store is disconnected, every cryptographic operation with the key
    fails: for a CA key, nothing can be issued or revoked.

    Fix: `keyplane keystore status ENV` shows AWS's `ConnectionErrorCode`; fix the cause
    (cluster HSMs, the kmsuser password), then `keyplane keystore connect ENV` (with
    `--update-password` after a password change).

    See: https://docs.aws.amazon.com/kms/latest/developerguide/disconnect-keystore.html
    """
    stores = ctx.observed.key_stores
    by_id = {s.id: s for s in stores or []}
    for pair in ctx.aws_keys():
        store_id = pair.observed.key.custom_key_store_id
        if not store_id:
            continue
        if stores is None:
            yield unknown(pair.subject, key_stores_unread(ctx))
            continue
        store = by_id.get(store_id)
        if store is not None and store.connection_state != "CONNECTED":
            yield pair.fail(f"custom key store {store.name} is {store.connection_state}: the "
                            "key cannot be used until it is reconnected",
                            expected="CONNECTED", actual=store.connection_state)
