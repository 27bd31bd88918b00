"""Wrapping imported key material for AWS KMS, and the escrow drill of imported RSA keys.

The unit tests decode what `ImportWrapping.wrap` produces by AWS's documented format
(RSAES-OAEP of the material; or RSAES-OAEP of a 256-bit AES key followed by the material
under RFC 5649 AES key wrap with padding), independently of the sandbox. The sandbox tests
seed the example estate's staging environment, whose imported signing key
partner-test-signing is RSA_3072 (and a copy of it as RSA_4096), and run its escrow drill.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

from keyplane.drills.import_wrapping import (
    ImportWrapping,
    WrappingError,
    import_wrapping,
    oaep_capacity,
)
from keyplane.sandbox.server import Sandbox
from tests.conftest import EXAMPLE_ENVIRONMENTS, synthesize_example_estate
from tests.drills.support import drill, outcomes, result, use_clock
from tests.sandbox.helpers import aws, patch_backoff, start_sandbox


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _spki(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def wrapping_keys() -> dict[str, rsa.RSAPrivateKey]:
    """The private halves of RSA wrapping keys of each spec (as KMS holds them)."""
    return {f"RSA_{b}": rsa.generate_private_key(public_exponent=65537, key_size=b)
            for b in (2048, 3072, 4096)}


def _oaep(algorithm: str) -> padding.OAEP:
    """RSAES-OAEP as AWS documents it for `algorithm`: MGF1 with the same hash, no label."""
    h = hashes.SHA1 if algorithm.endswith("_SHA_1") else hashes.SHA256
    return padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)


# --- choosing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key_spec", "algorithm"), [
    ("RSA_2048", "RSA_AES_KEY_WRAP_SHA_256"), ("RSA_3072", "RSA_AES_KEY_WRAP_SHA_256"),
    ("RSA_4096", "RSA_AES_KEY_WRAP_SHA_256"), ("ECC_NIST_P256", "RSAES_OAEP_SHA_256"),
    ("ECC_NIST_P384", "RSAES_OAEP_SHA_256"), ("ECC_NIST_P521", "RSAES_OAEP_SHA_256"),
    ("ECC_SECG_P256K1", "RSAES_OAEP_SHA_256"), ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256"),
    ("HMAC_256", "RSAES_OAEP_SHA_256"), ("HMAC_512", "RSAES_OAEP_SHA_256")])
def test_import_wrapping_picks_rsa_aes_for_rsa_material_and_always_an_rsa_4096_key(
        key_spec: str, algorithm: str) -> None:
    chosen = import_wrapping(key_spec)
    assert chosen == ImportWrapping(algorithm, "RSA_4096")
    assert chosen.request() == {"WrappingAlgorithm": algorithm, "WrappingKeySpec": "RSA_4096"}


@pytest.mark.parametrize("key_spec", ["SM2", "ML_DSA_44", "RSA_1024", ""])
def test_fails_import_wrapping_for_a_key_spec_keyplane_does_not_import(key_spec: str) -> None:
    with pytest.raises(WrappingError, match="does not import key material of key spec"):
        import_wrapping(key_spec)


def test_oaep_capacity_is_modulus_minus_two_hashes_minus_two() -> None:
    got = {(a, s): oaep_capacity(a, s) for a in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
           for s in ("RSA_2048", "RSA_3072", "RSA_4096")}
    assert got == {("RSAES_OAEP_SHA_1", "RSA_2048"): 214, ("RSAES_OAEP_SHA_256", "RSA_2048"): 190,
                   ("RSAES_OAEP_SHA_1", "RSA_3072"): 342, ("RSAES_OAEP_SHA_256", "RSA_3072"): 318,
                   ("RSAES_OAEP_SHA_1", "RSA_4096"): 470, ("RSAES_OAEP_SHA_256", "RSA_4096"): 446}


# --- wrapping, decoded by the documented format -------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_rsa_aes_key_wrap_is_oaep_of_a_256_bit_aes_key_then_rfc5649_of_the_material(
        wrapping_keys: dict[str, rsa.RSAPrivateKey], algorithm: str, spec: str) -> None:
    material = _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    wrapping = wrapping_keys[spec]
    blob = ImportWrapping(algorithm, spec).wrap(material, _spki(wrapping))
    k = wrapping.key_size // 8
    aes_key = wrapping.decrypt(blob[:k], _oaep(algorithm))
    assert len(aes_key) == 32
    assert aes_key_unwrap_with_padding(aes_key, blob[k:]) == material
    # RFC 5649: the material padded to a multiple of 8 bytes, plus the 8-byte integrity block
    assert len(blob) == k + -(-len(material) // 8) * 8 + 8
    # a fresh AES key per call
    again = ImportWrapping(algorithm, spec).wrap(material, _spki(wrapping))
    assert wrapping.decrypt(again[:k], _oaep(algorithm)) != aes_key


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_rsaes_oaep_wraps_the_material_itself(
        wrapping_keys: dict[str, rsa.RSAPrivateKey], algorithm: str, spec: str) -> None:
    material = _pkcs8(ec.generate_private_key(ec.SECP384R1()))  # 185 bytes: fits even RSA_2048
    wrapping = wrapping_keys[spec]
    blob = ImportWrapping(algorithm, spec).wrap(material, _spki(wrapping))
    assert len(blob) == wrapping.key_size // 8
    assert wrapping.decrypt(blob, _oaep(algorithm)) == material


def test_fails_rsaes_oaep_for_material_larger_than_it_holds_without_naming_the_material(
        wrapping_keys: dict[str, rsa.RSAPrivateKey]) -> None:
    rsa_material = _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=3072))
    p521 = _pkcs8(ec.generate_private_key(ec.SECP521R1()))
    with pytest.raises(WrappingError) as big:
        ImportWrapping("RSAES_OAEP_SHA_256", "RSA_4096").wrap(rsa_material,
                                                              _spki(wrapping_keys["RSA_4096"]))
    assert str(big.value) == (f"{len(rsa_material)} bytes of key material do not fit "
                              "RSAES_OAEP_SHA_256 under RSA_4096 (at most 446); use an "
                              "RSA_AES_KEY_WRAP algorithm")
    with pytest.raises(WrappingError, match=r"^241 bytes .* RSAES_OAEP_SHA_1 under RSA_2048 "
                                            r"\(at most 214\)"):
        ImportWrapping("RSAES_OAEP_SHA_1", "RSA_2048").wrap(p521, _spki(wrapping_keys["RSA_2048"]))
    assert rsa_material.hex() not in str(big.value) and repr(rsa_material) not in str(big.value)


def test_fails_wrapping_under_a_public_key_that_is_not_the_named_spec(
        wrapping_keys: dict[str, rsa.RSAPrivateKey]) -> None:
    material = b"\x01" * 32
    with pytest.raises(WrappingError, match="is not a RSA_4096 key"):
        ImportWrapping("RSAES_OAEP_SHA_256", "RSA_4096").wrap(material,
                                                              _spki(wrapping_keys["RSA_2048"]))
    ec_pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(WrappingError, match="is not a RSA_2048 key"):
        ImportWrapping("RSAES_OAEP_SHA_256", "RSA_2048").wrap(material, ec_pub)
    with pytest.raises(WrappingError, match="not a DER public key"):
        ImportWrapping("RSAES_OAEP_SHA_256", "RSA_2048").wrap(material, b"not a key")
    with pytest.raises(WrappingError, match="unsupported wrapping algorithm RSAES_PKCS1_V1_5"):
        ImportWrapping("RSAES_PKCS1_V1_5", "RSA_2048").wrap(material,
                                                            _spki(wrapping_keys["RSA_2048"]))
    with pytest.raises(WrappingError, match="unsupported wrapping key spec SM2"):
        ImportWrapping("RSAES_OAEP_SHA_256", "SM2").wrap(material, _spki(wrapping_keys["RSA_2048"]))
    with pytest.raises(WrappingError, match="no key material"):
        ImportWrapping("RSA_AES_KEY_WRAP_SHA_256", "RSA_2048").wrap(
            b"", _spki(wrapping_keys["RSA_2048"]))


# --- the escrow drill of the staging environment's imported RSA key ---------------------------

STAGING_ACCOUNT = "345678901234"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def staging_copy(tmp: Path, account: str, *, rsa_bits: int = 3072) -> Path:
    """An environments dir holding the example staging environment in `account` (its imported
    key partner-test-signing as RSA_<rsa_bits>, buckets named after the account), and beside
    it (`<tmp>/cdktf.out`) its synthesized stacks with the same replacements."""
    def edit(text: str) -> str:
        return (text.replace(STAGING_ACCOUNT, account)
                .replace("RSA_3072", f"RSA_{rsa_bits}")
                .replace("acme-pki-escrow-staging", f"escrow-{account}")
                .replace("acme-keyplane-evidence-nonprod", f"evidence-{account}"))

    d = tmp / "environments"
    d.mkdir(parents=True)
    (d / "staging.yaml").write_text(
        edit((EXAMPLE_ENVIRONMENTS / "staging.yaml").read_text(encoding="utf-8")),
        encoding="utf-8")
    synthesized = synthesize_example_estate()
    assert synthesized.exit_code == 0, synthesized.stderr[-2000:]
    manifest: dict[str, object] = {"version": "0.24.0", "stacks": {}}
    stacks: dict[str, object] = {}
    for src in sorted((synthesized.out / "stacks").glob("staging-*/cdk.tf.json")):
        name = src.parent.name
        dst = tmp / "cdktf.out" / "stacks" / name / "cdk.tf.json"
        dst.parent.mkdir(parents=True)
        dst.write_text(edit(src.read_text(encoding="utf-8")), encoding="utf-8")
        stacks[name] = {"name": name, "constructPath": name,
                        "synthesizedStackPath": f"stacks/{name}/cdk.tf.json",
                        "workingDirectory": f"stacks/{name}"}
    manifest["stacks"] = stacks
    (tmp / "cdktf.out" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return d


def _apply(sb: Sandbox, envs: Path) -> list[str]:
    from keyplane.model import load_estate
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.apply import apply_state

    env = load_estate([envs / "staging.yaml"]).get("staging")
    stacks = load_environment_stacks(env, envs.parent / "cdktf.out")
    return apply_state(expected_state(env, stacks), aws_endpoint=sb.aws.url,
                       gcp_endpoint=None).aws


@pytest.mark.integration
@pytest.mark.parametrize(("rsa_bits", "account"), [(3072, "345600000001"), (4096, "345600000002")])
def test_escrow_drill_of_an_imported_rsa_key_passes_against_the_sandbox(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, rsa_bits: int, account: str) -> None:
    from keyplane.drills.escrow import unwrap

    patch_backoff(monkeypatch)
    envs = staging_copy(tmp_path, account, rsa_bits=rsa_bits)
    seeded = _apply(sb, envs)
    assert f"imported material of partner-test-signing, escrow at s3://escrow-{account}/" \
           "partner-test-signing/" in seeded
    kms = aws(sb, account, "kms")
    md = kms.describe_key(KeyId="alias/partner-test-signing")["KeyMetadata"]
    assert (md["Origin"], md["KeySpec"], md["KeyState"]) == ("EXTERNAL", f"RSA_{rsa_bits}",
                                                              "Enabled")
    use_clock(monkeypatch, sb)
    code, report, err = drill(capsys, sb, envs, "staging", "--kind", "escrow")
    assert code == 0, err
    assert outcomes(report) == {("escrow", "partner-test-signing", 1): "PASSED"}
    r = result(report, "escrow", "partner-test-signing")
    assert r["details"]["deployed_public_key_sha256"] == r["details"]["escrowed_public_key_sha256"]
    # the escrowed key is the imported one, of the declared size (recovered here only to check)
    from keyplane.cloud.aws.drills import AwsKmsDrill
    from keyplane.cloud.aws.session import AwsClients, AwsConfig
    from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key

    clients = AwsClients(AwsConfig(region="us-east-1", endpoint_url=sb.aws.url,
                                   access_key_id=sandbox_access_key(account),
                                   secret_access_key=SANDBOX_SECRET))
    blob = aws(sb, account, "s3").get_object(Bucket=f"escrow-{account}",
                                             Key="partner-test-signing/")["Body"].read()
    priv = unwrap(blob, "partner-test-signing", AwsKmsDrill(clients, "us-east-1"),
                  "alias/staging-escrow-wrap")
    assert isinstance(priv, rsa.RSAPrivateKey) and priv.key_size == rsa_bits
    assert _spki(priv) == kms.get_public_key(KeyId="alias/partner-test-signing")["PublicKey"]
    der = _pkcs8(priv)
    haystack = json.dumps(report) + err + (envs.parent / "ev.jsonl").read_text(encoding="utf-8") \
        + "\n".join(seeded)
    assert [n for n in (der.hex(), str(priv.private_numbers().d)) if n in haystack] == []
