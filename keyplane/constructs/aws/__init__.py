"""AWS constructs: tiered KMS keys, separation-of-duties IAM, CloudHSM key store, audit
sink, alarms and backup vault, rendered from `keyplane.desired.aws.plan_environment`.

Every module here imports cdktn and the AWS bindings, so only the stacks (and the synth
tests) import them; what should exist, and the policies, live in `keyplane.desired`.
"""
