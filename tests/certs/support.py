"""An estate for certificate-request tests: every signing spec the tiers allow, synthesized once.

`lab` (non-production) holds one AWS signing key per KeySpec keyplane makes requests with
(RSA_2048 is allowed there only), a key with a current, a verify-only and a disabled
generation, an encryption key, and Cloud KMS signing keys (RSA PSS, RSA PKCS#1, EC P-256,
EC P-384). `shop` (production) holds one multi-Region signing key with two generations, to
prove the production rule: no request without a public key recorded by a sign canary.
The estate is synthesized once per test process through the real `keyplane synth`; each
test gets a copy with its own account and project ids, applied to the sandbox from its
synthesized stacks (the ids are plain literals in cdk.tf.json, so the copy is what synth
of the copy writes).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from keyplane.sandbox.server import Sandbox
from tests.conftest import REPO, scratch_dir

LAB_ACCOUNT = "760000000901"  # placeholders the estate is synthesized with
SHOP_ACCOUNT = "760000000902"
LAB_PROJECT = "kp-csr-lab"


def _signer(name: str, cloud: str, spec: str) -> str:
    return (f"  - {{name: {name}, tier: non-production, cloud: {cloud}, usage: sign, spec: {spec}, "
            "users: [issuer], generation: 1, generations: [{generation: 1, created_on: "
            "2026-05-01}]}\n")


AWS_SIGNERS = {"rsa-2048": "RSA_2048", "rsa-3072": "RSA_3072", "rsa-4096": "RSA_4096",
               "ecc-p256": "ECC_NIST_P256", "ecc-p384": "ECC_NIST_P384",
               "ecc-p521": "ECC_NIST_P521", "ecc-k256": "ECC_SECG_P256K1"}
GCP_SIGNERS = {"gcp-rsa-pss": "RSA_SIGN_PSS_2048_SHA256",
               "gcp-rsa-pkcs1": "RSA_SIGN_PKCS1_3072_SHA256",
               "gcp-ec-p256": "EC_SIGN_P256_SHA256", "gcp-ec-p384": "EC_SIGN_P384_SHA384"}

LAB = f"""\
name: lab
kind: non-production
aws:
  account_id: "{LAB_ACCOUNT}"
  region: eu-west-1
gcp:
  project_id: {LAB_PROJECT}
  location: europe-west1
evidence_location: ./evidence/lab
principals:
  key_admins:
    aws: [arn:aws:iam::{LAB_ACCOUNT}:role/admins]
    gcp: [group:admins@example.com]
  backup_operators:
    aws: [arn:aws:iam::{LAB_ACCOUNT}:role/backup]
  auditors:
    aws: [arn:aws:iam::{LAB_ACCOUNT}:role/audit]
  break_glass:
    aws: [arn:aws:iam::{LAB_ACCOUNT}:role/break-glass]
workloads:
  - name: issuer
    aws:
      role_arn: arn:aws:iam::{LAB_ACCOUNT}:role/issuer
    gcp:
      member: serviceAccount:issuer@{LAB_PROJECT}.iam.gserviceaccount.com
keys:
{"".join(_signer(n, "aws", s) for n, s in AWS_SIGNERS.items())}\
  - name: rotated-signer
    tier: non-production
    cloud: aws
    usage: sign
    spec: ECC_NIST_P256
    users: [issuer]
    generation: 3
    generations:
      - {{generation: 3, created_on: 2026-05-01}}
      - {{generation: 2, created_on: 2025-05-01, verify_until: 2099-01-01}}
      - {{generation: 1, created_on: 2024-05-01, verify_until: 2025-06-01, enabled: false}}
  - {{name: lab-data, tier: non-production, cloud: aws, usage: encrypt, users: [issuer]}}
{"".join(_signer(n, "gcp", s) for n, s in GCP_SIGNERS.items())}"""

SHOP = f"""\
name: shop
kind: production
aws:
  account_id: "{SHOP_ACCOUNT}"
  region: us-east-1
  replica_regions: [us-west-2]
evidence_location: ./evidence/shop
principals:
  key_admins:
    aws: [arn:aws:iam::{SHOP_ACCOUNT}:role/admins]
  backup_operators:
    aws: [arn:aws:iam::{SHOP_ACCOUNT}:role/backup]
  auditors:
    aws: [arn:aws:iam::{SHOP_ACCOUNT}:role/audit]
  break_glass:
    aws: [arn:aws:iam::{SHOP_ACCOUNT}:role/break-glass]
workloads:
  - name: release
    aws:
      role_arn: arn:aws:iam::{SHOP_ACCOUNT}:role/release
keys:
  - name: shop-signer
    tier: production
    cloud: aws
    usage: sign
    spec: ECC_NIST_P384
    users: [release]
    owner: release-engineering@example.com
    generation: 2
    generations:
      - {{generation: 2, created_on: 2026-05-01}}
      - {{generation: 1, created_on: 2025-09-01, verify_until: 2099-01-01}}
"""


@functools.lru_cache(maxsize=1)
def synthesized() -> Path:
    """`keyplane synth` of the estate, once per test process: the root holding
    `environments/` and `cdktf.out/`."""
    root = scratch_dir("csr-estate-")
    (root / "environments").mkdir()
    (root / "environments" / "lab.yaml").write_text(LAB, encoding="utf-8")
    (root / "environments" / "shop.yaml").write_text(SHOP, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", "from keyplane.cli import main; main()", "synth", "--out-dir",
         str(root / "cdktf.out"), "--environments-dir", str(root / "environments")],
        capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root


@dataclass(frozen=True)
class Applied:
    """A copy of the estate in the sandbox under its own ids."""

    envs: Path  # the environments directory
    lab_account: str
    shop_account: str
    project: str

    @property
    def evidence(self) -> Path:
        """A local evidence directory for this copy (drills write, requests read)."""
        return self.envs.parent / "evidence"


def applied_estate(sb: Sandbox, tmp: Path) -> Applied:
    """A fresh copy of the estate with new ids, created in the sandbox from its stacks."""
    from keyplane.model import load_estate
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.apply import apply_state
    from tests.sandbox.helpers import new_ids

    lab_account, project = new_ids()
    shop_account, _ = new_ids()
    swaps = {LAB_ACCOUNT: lab_account, SHOP_ACCOUNT: shop_account, LAB_PROJECT: project}
    src = synthesized()
    for sub in ("environments", "cdktf.out"):
        for path in sorted((src / sub).rglob("*")):
            if path.is_dir():
                continue
            dst = tmp / path.relative_to(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            text = path.read_text(encoding="utf-8")
            for old, new in swaps.items():
                text = text.replace(old, new)
            dst.write_text(text, encoding="utf-8")
    envs = tmp / "environments"
    for name in ("lab", "shop"):
        env = load_estate([envs / f"{name}.yaml"]).get(name)
        apply_state(expected_state(env, load_environment_stacks(env, tmp / "cdktf.out")),
                    aws_endpoint=sb.aws.url, gcp_endpoint=sb.gcp.target)
    return Applied(envs, lab_account, shop_account, project)


def copy_envs(applied: Applied, tmp: Path) -> Path:
    """A second environments directory of the same applied estate (to edit the inventory
    without touching the cloud)."""
    dst = tmp / "edited" / "environments"
    shutil.copytree(applied.envs, dst)
    return dst
