"""The local sandbox: moto's server behind a small fault-injecting front, and a Cloud KMS fake.

A playground and a test bed for keyplane's post-apply commands; never a deploy.
Only the sandbox hosts servers; clients live in `keyplane.cloud`.
"""
