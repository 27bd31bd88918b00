"""Shared resources (trail, log group, vault, CloudHSM cluster): when their list was not read.

Not a check: the drift checks of shared resources call `unread` when the observed list of a
facet is None. A key's facet that failed is judged UNKNOWN by `CheckContext` itself; a shared
list has no such pairing, so each check judges its expected resources UNKNOWN here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from keyplane.findings import Cloud
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, unknown


def unread(ctx: CheckContext, facet: Facet, addresses: Iterable[str | None]) -> Iterator[Result]:
    """UNKNOWN for each expected resource (by its Terraform address) of a list not read.

    The subject is named as the collector names the failed read (`aws:<region>:<facet>`) and
    carries the read's own reason, so the run lists that failure once, as this check's.
    """
    recorded = next((u for u in ctx.observed.unknowns if u.facet == facet.value), None)
    if recorded is not None:
        resource, reason = recorded.resource, recorded.reason
    else:  # the run stopped before the read, or a saved read without it
        home = ctx.state.env.aws.region if ctx.state.env.aws else None
        resource = f"aws:{home}:{facet.value}" if home else f"aws:{facet.value}"
        reason = ctx.observed.stopped or f"the {facet.value} list was not read"
    for address in addresses:
        yield unknown(ctx.shared(resource, cloud=Cloud.AWS, address=address), reason)
