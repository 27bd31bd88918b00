"""What should exist, per environment and cloud, as plain data: the desired state.

`keyplane.desired.aws.plan_environment(env)` and `keyplane.desired.gcp.plan_environment(env)`
validate an environment's declarations and return frozen records of every resource keyplane
creates for it; `keyplane.constructs` renders those records one to one. `names` holds every
name keyplane gives a resource, `policy` the IAM and key-policy documents, `errors` the
refusals. Pure: the model only, no cdktn, no cloud SDK, so the gate, post-apply, drills,
the sandbox and the report can ask what should exist without starting Node.
"""
