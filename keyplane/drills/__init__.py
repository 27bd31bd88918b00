"""Restore drills: logic over ports, no cloud SDK.

`keyplane drill ENV` proves, on the tier's schedule, that each key's signing or
decryption capability can be re-established: sign canaries, multi-Region replicas,
CloudHSM cluster restores, AWS Backup restores with integrity checks and escrow
copies. Every step emits an audit event; every drill writes an evidence record.
The adapters in `keyplane.cloud.aws.drills` and `keyplane.cloud.gcp.drills`
implement the ports in `keyplane.drills.ports`.
"""
