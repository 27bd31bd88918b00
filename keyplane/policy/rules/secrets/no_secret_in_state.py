"""No resource takes a secret through an argument Terraform keeps in state."""

from __future__ import annotations

from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed
from keyplane.policy.registry import RuleContext, rule

# Arguments that carry a secret into state whatever their value: the provider stores them
# as given (sensitive or not) and has no write-only twin for them (hashicorp/aws 5.100
# through 6.x). A write-only argument (`*_wo`) is never stored and passes.
SECRET_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "aws_kms_custom_key_store": ("key_store_password",),
}


@rule(title="No secret goes into Terraform state through an argument",
      severity=Severity.CRITICAL, control=Control.PROTECTION, types=tuple(SECRET_ARGUMENTS),
      needs_tier=False, guardrail=True)
def no_secret_in_state(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A resource does not set an argument whose value is a secret Terraform writes to
    state: the kmsuser password of an `aws_kms_custom_key_store`.

    Why: whoever reads the state (every plan job, every state backup, everyone with
    `s3:GetObject` on the state bucket) reads the password of the crypto user that KMS
    logs in to the CloudHSM cluster as. Marking it sensitive only hides it from plan output;
    reading it from SSM with a data source still stores the value in state.

    Fix: do not manage the custom key store in Terraform. `keyplane keystore connect ENV`
    creates and connects it, reading the password from SSM at run time; the keys find it
    with `data "aws_kms_custom_key_store"` by name (keyplane's stacks do this).

    See: https://developer.hashicorp.com/terraform/language/manage-sensitive-data
    """
    given = [a for a in SECRET_ARGUMENTS.get(res.type, ()) if res.is_set(a) is not False]
    if given:
        return failed(f"{', '.join(given)} is set: Terraform keeps its value in state (and "
                      "in saved plans); create the key store outside Terraform with "
                      "`keyplane keystore connect`", given[0])
    return passed("no secret argument is set")
