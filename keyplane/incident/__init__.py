"""The compromise runbook of one key generation, as one command: logic over ports, no SDK.

`keyplane incident ENV KEY@gN --reason ...` pins the deployed key of the generation (tags,
never an alias alone), then, once confirmed: disables it (and its multi-Region replicas)
through the break-glass role, revokes its grants, asks the audit trail who used it in the
exposure window, lists the certificates bound to it, and writes the rotation into the
inventory. Without `--execute` it prints that plan and changes nothing. Every step is
journaled before it is taken, so a killed run is resumed by the next; the incident record
goes where drill evidence goes. The adapters in `keyplane.cloud.aws.incident` and
`keyplane.cloud.gcp.incident` implement the ports in `keyplane.incident.ports`.
"""
