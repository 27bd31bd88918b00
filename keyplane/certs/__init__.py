"""Certificate requests signed inside the KMS: logic over a signer port, no cloud SDK.

`keyplane csr ENV KEY[@gN]` encodes a PKCS#10 request (`csr`), pins the deployed key to
the generation as the sign canary does (`identity`), and has AWS KMS or Cloud KMS sign its
digest through the adapters in `keyplane.cloud`; renewal never needs key material outside
the HSM.
"""
