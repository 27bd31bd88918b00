"""A declared Cloud KMS key has the declared purpose."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Cloud KMS keys have the declared purpose", control=Control.PROTECTION)
def gcp_purpose(ctx: CheckContext) -> Iterator[Result]:
    """A crypto key the stack declares has the declared purpose (ENCRYPT_DECRYPT,
    ASYMMETRIC_SIGN, MAC...).

    Why: the purpose fixes what the key can do; a key with another purpose is not the key
    the stack built (it was created outside Terraform under the declared name, or the
    declaration changed after it was made), and the workloads that use it break or use it
    for something its tier was not reviewed for.

    Fix: a crypto key's purpose cannot change: declare a new generation with the right
    purpose (`keyplane rotate`), move the workloads to it, and find out who created this one.

    See: https://cloud.google.com/kms/docs/algorithms#key_purposes
    """
    for pair in ctx.gcp_keys():
        want, got = pair.expected.purpose, pair.observed.key.purpose
        if want != got:
            yield pair.fail(f"purpose is {got}, declared {want}", expected=want, actual=got)
