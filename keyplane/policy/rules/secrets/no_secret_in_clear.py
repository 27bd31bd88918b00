"""No configuration or plan carries secret material in an attribute that is not sensitive."""

from __future__ import annotations

from typing import Any

from keyplane.model.secrets import find_secrets
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed
from keyplane.policy.registry import ANY_TYPE, RuleContext, rule


def _clear(node: Any) -> Any:
    """`node` without what is already hidden or not a value: redacted (sensitive) and
    unknown leaves, and `${...}` references, which name a secret without holding it."""
    if isinstance(node, dict):
        return {k: c for k, v in node.items() if (c := _clear(v)) is not None}
    if isinstance(node, list):
        return [c for v in node if (c := _clear(v)) is not None]
    if isinstance(node, str):
        return None if "${" in node else node
    if isinstance(node, int | float | bool) or node is None:
        return node
    return None  # SENSITIVE, UNKNOWN


@rule(title="No attribute holds secret material in the clear", severity=Severity.CRITICAL,
      control=Control.PROTECTION, types=(ANY_TYPE,), needs_tier=False, guardrail=True)
def no_secret_in_clear(res: Resource, ctx: RuleContext) -> Verdict | None:
    """No attribute that Terraform does not treat as sensitive holds a password, a private
    key, an access key or a service-account key.

    Why: a plan file, its `terraform show -json` and the state are read by CI jobs, PR
    comments and everyone with state access; a secret in a non-sensitive attribute is
    printed in plans and kept in state forever. (A secret in a sensitive argument is
    redacted in plans but still kept in state: `no_secret_in_state`.)

    Fix: read the secret at apply time (a data source or an ephemeral resource) into a
    sensitive or write-only argument, never a literal; rotate any secret that was committed.

    See: https://developer.hashicorp.com/terraform/language/manage-sensitive-data
    """
    found = find_secrets(_clear(dict(res.values)))
    if found:
        path, kind = found[0]
        where = ".".join(str(p) for p in path)
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return failed(f"{where} holds {kind} in the clear{more}; the value is not shown", where)
    return passed("no secret material in clear attributes")
