"""AWS constructs: tiered KMS keys, separation-of-duties IAM, CloudHSM key store, audit
sink, alarms and backup vault.

`policy` and `errors` are pure; the other modules import cdktn and the AWS bindings,
so only the stacks (and the synth tests) import them.
"""
