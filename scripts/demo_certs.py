"""`make demo`'s certificates: two certificates for the key behind a CSR, and an inventory
that declares them.

The demo's CSR is signed inside KMS by a key generation keyplane manages, so its public key
is that generation's. A throwaway CA (its key only in this process's memory, never written)
issues two certificates for it: one valid for 300 days, inside the generation's life, and
one valid for 4000 days, longer than the key's tier lets a generation live. The example
environments are copied to OUT/repo/environments with `certificates: {files: [../certs]}`
added to KEY of ENV, so `keyplane certs` and `keyplane post-apply` read both certificates and
bind them to the generation (the second is a finding: it outlives its key).

    python scripts/demo_certs.py CSR ENV KEY OUT
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent


def issue(csr: x509.CertificateSigningRequest, ca_key: ec.EllipticCurvePrivateKey,
          ca_name: x509.Name, serial: int, days: int) -> bytes:
    """A leaf certificate for the CSR's subject and public key, `days` long, as PEM."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_name)
            .public_key(csr.public_key()).serial_number(serial)
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def main() -> None:
    """Issue the two certificates and write the declaring copy of the environments."""
    csr_path, env, key, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    if not csr.is_signature_valid:
        raise SystemExit(f"{csr_path}: the request's signature does not verify")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyplane demo CA")])
    repo = out / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    certs = repo / "certs"
    certs.mkdir(parents=True)
    (certs / f"{key}.pem").write_bytes(issue(csr, ca_key, ca_name, 1, 300))
    (certs / f"{key}-4000-days.pem").write_bytes(issue(csr, ca_key, ca_name, 2, 4000))
    shutil.copytree(REPO / "environments", repo / "environments")
    path = repo / "environments" / f"{env}.yaml"
    yaml = YAML(typ="rt")
    doc = yaml.load(path.read_text(encoding="utf-8"))
    entry = next(k for k in doc["keys"] if k["name"] == key)
    entry["certificates"] = {"files": ["../certs"]}
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    print(f"{certs}: {key}.pem (300 days) and {key}-4000-days.pem, declared by {key} in {path}")


if __name__ == "__main__":
    main()
