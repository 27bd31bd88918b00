"""The inventory's `adopt` and `review` fields: validated where they are written (KP120 with
file:line), and carried into the desired state as `import_id`s.

What is refused here is what would make an import target differ from the declaration, so the
first plan would replace a key instead of importing it.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from keyplane.desired import aws as desired_aws
from keyplane.desired import gcp as desired_gcp
from keyplane.desired.errors import AwsDeclarationError, GcpAdoptError
from keyplane.errors import InventoryError
from keyplane.model.loader import load_environment
from tests.conftest import write_env

ACCT = "210000000001"
MRK = "mrk-1234abcd12ab34cd56ef1234567890ab"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
RING = "projects/acme-legacy-dev/locations/europe-west1/keyRings/legacy"

HEAD = textwrap.dedent(f"""\
    name: dev
    kind: non-production
    aws:
      account_id: "{ACCT}"
      region: us-east-1
      replica_regions: [us-west-2]
      cloudhsm:
        hsms:
          - availability_zone: us-east-1a
            subnet_id: subnet-0a1b2c3d4e5f60718
          - availability_zone: us-east-1b
            subnet_id: subnet-0f1e2d3c4b5a69788
        backup_retention_in_days: 365
        key_store_password_ssm_parameter: /keyplane/dev/kmsuser
        trust_anchor_certificate_ssm_parameter: /keyplane/dev/anchor
    gcp:
      project_id: acme-legacy-dev
      location: europe-west1
    principals:
      key_admins:
        aws: [arn:aws:iam::{ACCT}:role/admins]
        gcp: [group:admins@example.com]
      backup_operators:
        aws: [arn:aws:iam::{ACCT}:role/backup]
      auditors:
        aws: [arn:aws:iam::{ACCT}:role/audit]
      break_glass:
        aws: [arn:aws:iam::{ACCT}:role/break-glass]
    """)

KEYS = textwrap.dedent(f"""\
    keys:
      - name: shared-data
        tier: non-production
        cloud: aws
        usage: encrypt
        alias: alias/shared-data
        description: shared data
        replica_regions: [us-west-2]
        review: true
        adopt:
          aws_key_id: {MRK}
          aliases: [alias/shared-data]
          replicas: {{us-west-2: {MRK}}}
          replica_aliases: {{us-west-2: [alias/shared-data]}}
          tags: {{cost-center: "42"}}
      - name: legacy-hsm
        tier: non-production
        cloud: aws
        usage: encrypt
        origin: cloudhsm
        generation: 1
        generations:
          - generation: 1
            created_on: 2024-05-01
        adopt:
          aws_key_id: {KEY}
          generation: 1
          custom_key_store: legacy-hsm
      - name: legacy-tls
        tier: non-production
        cloud: gcp
        usage: sign
        spec: EC_SIGN_P256_SHA256
        key_ring: legacy
        deletion_window_in_days: 30
        generation: 1
        generations:
          - generation: 1
            created_on: 2024-05-01
        adopt:
          gcp_crypto_key: {RING}/cryptoKeys/legacy-tls
          key_ring: {RING}
          crypto_key_version: {RING}/cryptoKeys/legacy-tls/cryptoKeyVersions/3
          generation: 1
          labels: {{team: pki}}
    adopt:
      aws_roles: [keyplane-dev-key-admin]
      aws_role_policies: [keyplane-dev-key-admin]
    """)


def _load(tmp_path: Path, text: str) -> object:
    return load_environment(write_env(tmp_path, text, name="dev"))


def test_adopted_entries_load_and_keep_their_adopt_blocks(tmp_path: Path) -> None:
    env = _load(tmp_path, HEAD + KEYS)
    shared = env.key("shared-data")  # type: ignore[attr-defined]
    assert shared.review is True and shared.adopt.aws_key_id == MRK
    assert shared.adopt.replicas == {"us-west-2": MRK}
    assert env.adopt.aws_roles == ("keyplane-dev-key-admin",)  # type: ignore[attr-defined]
    assert env.key("legacy-hsm").review is False  # type: ignore[attr-defined]


def test_the_aws_plan_imports_key_replica_aliases_and_role(tmp_path: Path) -> None:
    plan = desired_aws.plan_environment(_load(tmp_path, HEAD + KEYS))  # type: ignore[arg-type]
    shared = plan.key("shared-data")
    key = shared.current
    assert key.import_id == MRK
    assert [(r.region, r.import_id) for r in key.replicas] == [("us-west-2", MRK)]
    assert {(a.region, a.name, a.import_id) for a in shared.aliases} == {
        (None, "alias/shared-data", "alias/shared-data"),
        ("us-west-2", "alias/shared-data", "alias/shared-data")}
    # the existing description is kept verbatim, the owner's tags beside keyplane's
    assert key.description == "shared data" == key.replicas[0].description
    assert key.tags["cost-center"] == "42" and key.tags["keyplane:key"] == "shared-data"
    hsm = plan.key("legacy-hsm")
    assert hsm.current.import_id == KEY
    assert hsm.current.description == ""  # verbatim: the key had none
    # the generation alias is keyplane's own name: created, never imported
    assert [a.import_id for a in hsm.current.aliases] == [None]
    assert plan.cloudhsm is not None
    assert [(s.path, s.name) for s in plan.cloudhsm.adopted_stores] == [
        ("cloudhsm/key-store-legacy-hsm", "legacy-hsm")]
    assert hsm.current.custom_key_store_id == desired_aws.ref("cloudhsm/key-store-legacy-hsm",
                                                              "id")
    role = plan.iam.role_named("keyplane-dev-key-admin")
    assert role.import_id == "keyplane-dev-key-admin"
    assert [p.import_id for p in role.inline_policies] == ["keyplane-dev-key-admin:keyplane"]
    assert all(r.import_id is None for r in plan.iam.roles if r.name != role.name)
    assert plan.audit.key.import_id is None  # keyplane's own keys are created


def test_only_the_adopted_generation_is_imported(tmp_path: Path) -> None:
    old = ("    generation: 1\n    generations:\n      - generation: 1\n"
           "        created_on: 2024-05-01\n    adopt:\n      aws_key_id")
    assert (HEAD + KEYS).count(old) == 1
    text = (HEAD + KEYS).replace(old, (
        "    generation: 2\n    generations:\n      - generation: 2\n"
        "        created_on: 2026-01-01\n      - generation: 1\n        created_on: 2024-05-01\n"
        "        verify_until: 2026-02-01\n    adopt:\n      aws_key_id"))
    plan = desired_aws.plan_environment(_load(tmp_path, text))  # type: ignore[arg-type]
    hsm = plan.key("legacy-hsm")
    assert {k.generation: k.import_id for k in hsm.keys} == {1: KEY, 2: None}
    assert hsm.generation(2).description == "legacy-hsm (generation 2)"


def test_the_gcp_plan_imports_ring_key_and_version(tmp_path: Path) -> None:
    plan = desired_gcp.plan_environment(_load(tmp_path, HEAD + KEYS))  # type: ignore[arg-type]
    key = plan.key("legacy-tls")
    assert key.import_id == f"{RING}/cryptoKeys/legacy-tls"
    assert key.ring.import_id == RING
    assert [(v.generation, v.import_id) for v in key.versions] == [
        (1, f"{RING}/cryptoKeys/legacy-tls/cryptoKeyVersions/3")]
    # an existing key has versions: the creation-only flag would force a new key
    assert key.skip_initial_version_creation is False
    assert key.labels["team"] == "pki" and key.labels["keyplane-key"] == "legacy-tls"
    audit = plan.audit.audit_key if plan.audit else None
    assert audit is not None and audit.import_id is None and audit.ring.import_id is None


def test_fails_two_keys_adopting_one_ring_under_two_names(tmp_path: Path) -> None:
    env = _load(tmp_path, HEAD + KEYS)
    other = env.key("legacy-tls").model_copy(update={  # type: ignore[attr-defined]
        "name": "legacy-tls-2", "adopt": env.key("legacy-tls").adopt.model_copy(  # type: ignore[attr-defined]
            update={"key_ring": f"{RING}x", "gcp_crypto_key": None})})
    twice = env.model_copy(update={"keys": (*env.keys, other)})  # type: ignore[attr-defined]
    with pytest.raises(GcpAdoptError) as exc:
        desired_gcp.plan_environment(twice)
    assert exc.value.code == "KP327"
    assert exc.value.message == (f"key ring 'legacy' in europe-west1 is adopted as both '{RING}' "
                                 f"and '{RING}x'")


def test_fails_adopting_a_role_keyplane_does_not_plan(tmp_path: Path) -> None:
    env = _load(tmp_path, HEAD + KEYS)
    odd = env.model_copy(update={"adopt": env.adopt.model_copy(  # type: ignore[attr-defined]
        update={"aws_roles": ("keyplane-dev-ceremony",), "aws_role_policies": ()})})
    with pytest.raises(AwsDeclarationError) as exc:
        desired_aws.plan_environment(odd)  # type: ignore[arg-type]
    assert exc.value.code == "KP312"
    assert exc.value.message.startswith("adopt.aws_roles: 'keyplane-dev-ceremony' is not a role "
                                        "keyplane plans for environment 'dev'; planned: ")


# ---- refusals, located ----------------------------------------------------------------------


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        _load(tmp_path, text)
    return [p.render().split(": ", 1)[1] for p in exc.value.problems()]


@pytest.mark.parametrize(("old", "new", "expected"), [
    (f"aws_key_id: {MRK}", f"aws_key_id: {KEY}",
     f"KP120 key 'shared-data' declares replica_regions but adopt.aws_key_id '{KEY}' is a "
     "single-region key; a key cannot become multi-region (the plan would replace it) "
     "(keys[shared-data].adopt.aws_key_id)"),
    (f"aws_key_id: {KEY}\n", f"aws_key_id: {MRK}\n",
     f"KP120 adopt.aws_key_id '{MRK}' is a multi-region key; declare its replica_regions "
     "(without them the plan would replace it) (keys[legacy-hsm].adopt.aws_key_id)"),
    ("aliases: [alias/shared-data]", "aliases: [alias/other]",
     "KP120 adopt.aliases: 'alias/other' is not the key's alias 'alias/shared-data'; keyplane "
     "manages the declared alias only (other aliases are left as they are) "
     "(keys[shared-data].adopt.aliases[0])"),
    (f"replicas: {{us-west-2: {MRK}}}", f"replicas: {{eu-west-1: {MRK}}}",
     "KP120 adopt.replicas: region 'eu-west-1' is not in replica_regions (us-west-2) "
     "(keys[shared-data].adopt.replicas.eu-west-1)"),
    (f"replicas: {{us-west-2: {MRK}}}", "replicas: {us-west-2: mrk-0000abcd12ab34cd56ef1234567890ab}",
     "KP120 adopt.replicas.us-west-2: 'mrk-0000abcd12ab34cd56ef1234567890ab' must be the "
     f"primary's key id '{MRK}' (a multi-region replica shares it) "
     "(keys[shared-data].adopt.replicas.us-west-2)"),
    ("tags: {cost-center: \"42\"}", "tags: {\"keyplane:tier\": ca}",
     "KP120 adopt.tags: 'keyplane:tier' is reserved (keyplane: tags are keyplane's own, aws: "
     "tags are aws's) (keys[shared-data].adopt.tags.keyplane:tier)"),
    ("      generation: 1\n      custom_key_store", "      custom_key_store",
     "KP120 key 'legacy-hsm' is managed as generations: adopt.generation names the generation "
     "the existing key became (keys[legacy-hsm].adopt)"),
    ("      generation: 1\n      custom_key_store", "      generation: 4\n      custom_key_store",
     "KP120 adopt.generation 4 is not a declared generation (1); once the adopted generation is "
     "retired, remove the adopt block (keys[legacy-hsm].adopt.generation)"),
    ("    origin: cloudhsm\n", "",
     "KP120 adopt.custom_key_store applies to keys with origin cloudhsm only "
     "(keys[legacy-hsm].adopt.custom_key_store)"),
    (f"gcp_crypto_key: {RING}/cryptoKeys/legacy-tls", f"gcp_crypto_key: {RING}/cryptoKeys/old-tls",
     f"KP120 adopt.gcp_crypto_key must be the declared key '{RING}/cryptoKeys/legacy-tls' "
     f"(project, location, key_ring and name of the entry), got '{RING}/cryptoKeys/old-tls' "
     "(keys[legacy-tls].adopt.gcp_crypto_key)"),
    (f"key_ring: {RING}\n", "key_ring: projects/acme-legacy-dev/locations/us/keyRings/legacy\n",
     f"KP120 adopt.key_ring must be the declared key ring '{RING}', got "
     "'projects/acme-legacy-dev/locations/us/keyRings/legacy' (keys[legacy-tls].adopt.key_ring)"),
    ("cryptoKeyVersions/3", "versions/3",
     f"KP120 adopt.crypto_key_version must be a version of '{RING}/cryptoKeys/legacy-tls' "
     f"({RING}/cryptoKeys/legacy-tls/cryptoKeyVersions/N), got "
     f"'{RING}/cryptoKeys/legacy-tls/versions/3' (keys[legacy-tls].adopt.crypto_key_version)"),
    ("labels: {team: pki}", "labels: {keyplane-tier: ca}",
     "KP120 adopt.labels: 'keyplane-tier' is reserved for keyplane's own labels "
     "(keys[legacy-tls].adopt.labels.keyplane-tier)"),
    ("      generation: 1\n      labels", "      aws_key_id: " + KEY
     + "\n      generation: 1\n      labels",
     "KP120 adopt.aws_key_id applies to aws keys only; a gcp key's adopt takes: gcp_crypto_key, "
     "key_ring, crypto_key_version, labels, generation (keys[legacy-tls].adopt.aws_key_id)"),
    ("aws_roles: [keyplane-dev-key-admin]", "aws_roles: [admins]",
     "KP120 adopt.aws_roles: 'admins' is not a keyplane role of this environment (they are named "
     "keyplane-dev-...) (adopt.aws_roles[0])"),
])
def test_fails_adopt_blocks_whose_import_would_not_be_the_declared_key(
        tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = HEAD + KEYS
    assert text.count(old) >= 1, old
    problems = _problems(tmp_path, text.replace(old, new, 1))
    assert expected in problems


def test_fails_adopt_role_policies_without_their_role(tmp_path: Path) -> None:
    text = (HEAD + KEYS).replace("aws_role_policies: [keyplane-dev-key-admin]",
                                 "aws_role_policies: [keyplane-dev-auditor]")
    assert _problems(tmp_path, text) == [
        "KP120 adopt.aws_role_policies: 'keyplane-dev-auditor' is not in adopt.aws_roles; a "
        "role's inline policy is imported with its role (adopt.aws_role_policies[0])"]


def test_fails_an_unknown_adopt_field_naming_the_allowed_ones(tmp_path: Path) -> None:
    text = (HEAD + KEYS).replace("custom_key_store: legacy-hsm", "custom_keystore: legacy-hsm")
    (problem,) = _problems(tmp_path, text)
    assert problem.startswith("KP103 unknown field 'custom_keystore'; did you mean "
                              "'custom_key_store'? allowed: aliases, aws_key_id, ")
    line = text.splitlines().index("      custom_keystore: legacy-hsm") + 1
    assert _located(tmp_path, text) == f"dev.yaml:{line}"


def _located(tmp_path: Path, text: str) -> str:
    with pytest.raises(InventoryError) as exc:
        _load(tmp_path, text)
    p = exc.value.problems()[0]
    return f"{Path(p.file or '').name}:{p.line}"


def test_fails_a_malformed_key_id_with_the_pattern(tmp_path: Path) -> None:
    text = (HEAD + KEYS).replace(f"aws_key_id: {KEY}", "aws_key_id: alias/legacy-hsm")
    (problem,) = _problems(tmp_path, text)
    assert problem.startswith("KP104 aws_key_id must match ^(mrk-[0-9a-f]{32}|(mrk-)?")
    assert problem.endswith("got 'alias/legacy-hsm' (keys[legacy-hsm].adopt.aws_key_id)")


def test_entries_without_adopt_plan_no_imports(tmp_path: Path) -> None:
    env = _load(tmp_path, HEAD + KEYS)
    plain = env.model_copy(update={  # type: ignore[attr-defined]
        "adopt": None, "keys": tuple(k.model_copy(update={"adopt": None})
                                     for k in env.keys)})  # type: ignore[attr-defined]
    plan = desired_aws.plan_environment(plain)
    ids = [k.import_id for k in plan.kms_keys()] + [r.import_id for r in plan.iam.roles]
    ids += [a.import_id for k in plan.keys for a in k.aliases]
    assert set(ids) == {None}
    assert plan.cloudhsm is not None and plan.cloudhsm.adopted_stores == ()
    gplan = desired_gcp.plan_environment(plain)
    assert gplan.key("legacy-tls").skip_initial_version_creation is True
    assert dataclasses.replace(gplan.key("legacy-tls").ring).import_id is None
