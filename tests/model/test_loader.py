"""The inventory loader: the example estate loads, and every fault of SCENARIOS.md 1-8 is
reported with its code, file:line:col and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyplane.errors import InventoryError, Problem
from keyplane.model import Cloud, GenerationState, RotationMode, Tier, load_estate, resolve_targets
from keyplane.model.loader import load_environment
from tests.conftest import BASE_ENV, EXAMPLE_ENVIRONMENTS, write_env


def problems_of(path: Path, *, scope: list[Path] | None = None) -> list[Problem]:
    """Load `path` expecting failure; return its problems."""
    with pytest.raises(InventoryError) as info:
        load_estate([path], isolation_scope=scope or [])
    return info.value.problems()


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line number of the nth line containing `needle`."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


# ---- the example estate ----

def test_example_estate_loads_with_every_tier_and_both_clouds() -> None:
    estate = load_estate(resolve_targets([], EXAMPLE_ENVIRONMENTS))
    assert [e.name for e in estate.environments] == ["dev", "prod", "staging"]
    keys = [k for e in estate.environments for k in e.keys]
    assert len(keys) >= 12
    assert {k.tier for k in keys} == set(Tier)
    assert {k.cloud for k in keys} == set(Cloud)
    prod = estate.get("prod")
    assert {k.name for k in prod.keys if k.tier is Tier.CA} == {"pki-root-ca", "pki-issuing-ca"}
    assert all(e.principals.key_admins.aws and e.principals.auditors.aws
               for e in estate.environments)


def test_defaults_are_filled_from_the_tier_table() -> None:
    prod = load_environment(EXAMPLE_ENVIRONMENTS / "prod.yaml")
    root = prod.key("pki-root-ca")
    assert (root.origin.value, root.spec, root.deletion_window_in_days) == (
        "cloudhsm", "SYMMETRIC_DEFAULT", 30)
    assert root.rotation_mode is RotationMode.CEREMONY
    assert root.max_key_age_in_days == 3650
    assert root.replica_regions == ()
    signing = prod.key("code-signing")
    assert signing.alias == "alias/code-signing"
    assert signing.replica_regions == ("us-west-2",)
    assert signing.rotation_mode is RotationMode.GENERATIONS
    assert signing.rotation_period_in_days is None
    assert [signing.generation_state(g) for g in signing.generations] == [
        GenerationState.CURRENT, GenerationState.VERIFY_ONLY]
    data = prod.key("release-artifacts")
    assert data.rotation_period_in_days == 180
    assert data.rotation_mode is RotationMode.AUTOMATIC
    attest = prod.key("release-attestation")
    assert (attest.protection_level, attest.key_ring, attest.location) == (
        "HSM", "keyplane-prod", "us-east1")
    assert prod.aws is not None and prod.aws.cloudhsm is not None
    assert prod.aws.cloudhsm.backup_retention_in_days == 379
    dev = load_environment(EXAMPLE_ENVIRONMENTS / "dev.yaml")
    assert dev.key("per-deploy-data").protection_level == "SOFTWARE"
    assert dev.key("dev-tls-issuer").deletion_window_in_days == 14


def test_next_rotation_due_is_created_on_plus_max_age(env_dir: Path) -> None:
    env = load_environment(write_env(env_dir, BASE_ENV))
    assert env.key("code-signing").next_rotation_due().isoformat() == "2027-06-01"
    assert env.key("data").next_rotation_due() is None


def test_a_key_may_tighten_its_tier(env_dir: Path) -> None:
    text = BASE_ENV.replace("    usage: encrypt\n    users: [signer]\n",
                            "    usage: encrypt\n    users: [signer]\n"
                            "    rotation_period_in_days: 90\n")
    env = load_environment(write_env(env_dir, text))
    assert env.key("data").rotation_period_in_days == 90


# ---- 1. malformed, truncated, wrongly encoded ----

def test_fails_on_malformed_yaml_with_line_and_column(env_dir: Path) -> None:
    text = BASE_ENV.replace("  region: us-east-1\n", "  region: [us-east-1\n", 1)
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP101"
    assert p.message.startswith("yaml syntax error")
    assert p.line is not None and p.column is not None


def test_fails_on_truncated_file_and_yields_no_inventory(env_dir: Path) -> None:
    text = (EXAMPLE_ENVIRONMENTS / "prod.yaml").read_text()
    truncated = text[: text.index("    spec: ECC_NIST_P384") + len("    spec: ECC_NI")]
    problems = problems_of(write_env(env_dir, truncated))
    assert [p.code for p in problems] == ["KP104"]
    assert problems[0].message.startswith("spec 'ECC_NI' is not a aws key spec; allowed: "
                                          "SYMMETRIC_DEFAULT, RSA_2048")
    assert problems[0].line == line_of(truncated, "spec: ECC_NI")


def test_fails_on_truncated_mid_quote(env_dir: Path) -> None:
    truncated = BASE_ENV[: BASE_ENV.index('"111122223333"') + 5]
    p = only(problems_of(write_env(env_dir, truncated)))
    assert p.code == "KP101"


def test_fails_on_wrong_encoding(env_dir: Path) -> None:
    path = env_dir / "prod.yaml"
    path.write_bytes(BASE_ENV.replace("name: prod", "name: prod\ndescription: caf\xe9",
                                      1).encode("latin-1"))
    p = only(problems_of(path))
    assert (p.code, p.line, p.column) == ("KP102", 2, 17)
    assert p.message == "file is not valid utf-8 (byte 0xe9); save it as utf-8"


def test_fails_on_empty_file(env_dir: Path) -> None:
    p = only(problems_of(write_env(env_dir, "")))
    assert p.code == "KP103"
    assert p.message == "an environment file must be a mapping, got an empty file"


# ---- 2. unknown tier, typo in a field ----

def test_fails_on_unknown_tier_listing_valid_values(env_dir: Path) -> None:
    text = BASE_ENV.replace("    tier: production\n    cloud: aws\n    usage: encrypt",
                            "    tier: prod\n    cloud: aws\n    usage: encrypt")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP104"
    assert p.message == ("tier must be one of ca, production, non-production, ephemeral, "
                         "got 'prod'")
    assert p.path == "keys[data].tier"  # the key's name, as the reader finds it in the file
    assert p.line == line_of(text, "tier: prod")


def test_fails_on_a_misspelt_tier_suggesting_the_closest(env_dir: Path) -> None:
    text = BASE_ENV.replace("    tier: production\n    cloud: aws\n    usage: encrypt",
                            "    tier: producton\n    cloud: aws\n    usage: encrypt")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == ("KP104", "tier must be one of ca, production, non-production, "
                                            "ephemeral, got 'producton'; did you mean "
                                            "'production'?")


def test_fails_on_typo_in_field_with_suggestion(env_dir: Path) -> None:
    text = BASE_ENV.replace("    usage: encrypt\n", "    usage: encrypt\n    rotation_perid_in_days: 90\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP103"
    assert p.message.startswith("unknown field 'rotation_perid_in_days'; did you mean "
                                "'rotation_period_in_days'? allowed: adopt, alias, backed_up,")
    assert (p.line, p.column) == (line_of(text, "rotation_perid"), 5)


def test_fails_on_missing_required_field(env_dir: Path) -> None:
    text = BASE_ENV.replace("kind: production\n", "")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == ("KP105", "missing required field 'kind'")


def test_fails_on_unquoted_account_id(env_dir: Path) -> None:
    text = BASE_ENV.replace('"111122223333"', "111122223333")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == ("KP104", "account_id must be a string (quote it), got int")


# ---- 3. duplicates, including confusable ones ----

def test_fails_on_duplicate_key_name_naming_both_places(env_dir: Path) -> None:
    text = BASE_ENV.replace("  - name: attest\n", "  - name: data\n")
    path = write_env(env_dir, text)
    p = only(problems_of(path))
    first = line_of(text, "- name: data")
    assert p.code == "KP106"
    assert p.message == f"duplicate key name 'data': also declared as 'data' at {path}:{first}:5"
    assert p.line == line_of(text, "- name: data", 2)


def test_fails_on_confusable_aliases(env_dir: Path) -> None:
    text = BASE_ENV.replace("    usage: encrypt\n",
                            "    usage: encrypt\n    alias: alias/Code_Signing\n")
    path = write_env(env_dir, text)
    p = only(problems_of(path))
    assert p.code == "KP106"
    assert p.message.startswith("alias 'alias/Code_Signing' is also the implied alias of the key at")


def test_fails_on_duplicate_yaml_mapping_key(env_dir: Path) -> None:
    text = BASE_ENV.replace("kind: production\n", "kind: production\nkind: production\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP101"
    assert "duplicate key" in p.message


# ---- 4. names invalid for the target ----

@pytest.mark.parametrize(("alias", "message"), [
    ("code-signing", "alias 'code-signing' must start with 'alias/' and contain only letters, "
                     "digits, '/', '_' and '-'"),
    ("alias/aws/s3", "alias 'alias/aws/s3' is reserved for aws managed keys (alias/aws/...); "
                     "choose another"),
])
def test_fails_on_invalid_aws_alias(env_dir: Path, alias: str, message: str) -> None:
    text = BASE_ENV.replace("    usage: encrypt\n", f"    usage: encrypt\n    alias: {alias}\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message, p.path) == ("KP107", message, "keys[data].alias")


def test_fails_on_gcp_id_outside_allowed_characters(env_dir: Path) -> None:
    text = BASE_ENV.replace("    spec: EC_SIGN_P384_SHA384\n",
                            "    spec: EC_SIGN_P384_SHA384\n    key_ring: pki.ring\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == ("KP107", "key_ring 'pki.ring' must match ^[a-zA-Z0-9_-]{1,63}$")


def test_fails_on_key_name_with_uppercase(env_dir: Path) -> None:
    text = BASE_ENV.replace("  - name: data\n", "  - name: Data\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP107"
    assert p.message.startswith("key name 'Data' must be 1-63 lowercase letters")


# ---- 5. isolation ----

def test_fails_when_two_environments_share_an_account(env_dir: Path) -> None:
    prod = write_env(env_dir, BASE_ENV)
    staging_text = (BASE_ENV.replace("name: prod", "name: staging")
                    .replace("kind: production", "kind: non-production")
                    .replace("acme-test-prod", "acme-test-stg")
                    .replace("tier: production", "tier: non-production")
                    .replace("    replica_regions: [us-west-2]\n", ""))
    staging = write_env(env_dir, staging_text, "staging")
    with pytest.raises(InventoryError) as info:
        load_estate([prod, staging])
    p = only(info.value.problems())
    assert p.code == "KP108"
    assert p.file == str(staging)
    assert p.message == (f"aws account_id '111122223333' is also used by environment 'prod' at "
                         f"{prod}:4:3 (production shares with non-production); every environment "
                         "needs its own account/project")


def test_isolation_is_checked_when_validating_one_environment(env_dir: Path) -> None:
    prod = write_env(env_dir, BASE_ENV)
    other = write_env(env_dir, BASE_ENV.replace("name: prod", "name: prod2")
                      .replace("acme-test-prod", "acme-test-prd2"), "prod2")
    problems = problems_of(other, scope=[prod, other])
    assert [p.code for p in problems] == ["KP108"]


def test_fails_on_production_key_in_non_production_environment(env_dir: Path) -> None:
    text = BASE_ENV.replace("kind: production", "kind: non-production")
    problems = problems_of(write_env(env_dir, text))
    assert {p.code for p in problems} == {"KP108"}
    assert problems[0].message == ("a production key cannot live in a non-production "
                                   "environment; allowed: production")


# ---- 6. provider limits and tier floors ----

@pytest.mark.parametrize(("extra", "code", "message"), [
    ("deletion_window_in_days: 45", "KP109",
     "deletion_window_in_days must be between 7 and 30 days, got 45 "
     "(https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html)"),
    ("deletion_window_in_days: 10", "KP110",
     "deletion_window_in_days must be at least 30 for the production tier, got 10"),
    ("rotation_period_in_days: 30", "KP109",
     "rotation_period_in_days must be between 90 and 2560 days, got 30 "
     "(https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html)"),
    ("rotation_period_in_days: 400", "KP110",
     "rotation_period_in_days must be at most 365 for the production tier, got 400"),
])
def test_fails_outside_limits_or_below_floor(env_dir: Path, extra: str, code: str,
                                             message: str) -> None:
    text = BASE_ENV.replace("    usage: encrypt\n", f"    usage: encrypt\n    {extra}\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == (code, message)
    assert p.line == line_of(text, extra)


def test_fails_on_software_protection_for_production_gcp_key(env_dir: Path) -> None:
    text = BASE_ENV.replace("    spec: EC_SIGN_P384_SHA384\n",
                            "    spec: EC_SIGN_P384_SHA384\n    protection_level: SOFTWARE\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == (
        "KP110", "protection_level 'SOFTWARE' is below the production tier; allowed: HSM")


def test_fails_on_production_key_without_replica(env_dir: Path) -> None:
    text = BASE_ENV.replace("  replica_regions: [us-west-2]\n", "")
    problems = problems_of(write_env(env_dir, text))
    assert {p.code for p in problems} == {"KP110"}
    assert problems[0].message == ("production keys need at least 1 replica region(s), got 0; "
                                   "set aws.replica_regions")


def test_fails_on_weak_rsa_for_production(env_dir: Path) -> None:
    text = BASE_ENV.replace("spec: ECC_NIST_P384", "spec: RSA_2048")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == (
        "KP110", "spec 'RSA_2048' has 2048-bit rsa; the production tier needs at least 3072 bits")


def test_fails_on_exportable_production_key(env_dir: Path) -> None:
    text = BASE_ENV.replace("    spec: ECC_NIST_P384\n", "    spec: ECC_NIST_P384\n"
                                                        "    origin: external\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == (
        "KP110", "production keys are never exportable; origin external is allowed only for "
                 "non-production keys")


def test_fails_on_hsm_in_a_location_without_cloud_hsm(env_dir: Path) -> None:
    text = BASE_ENV.replace("    spec: EC_SIGN_P384_SHA384\n",
                            "    spec: EC_SIGN_P384_SHA384\n    location: global\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP117"
    assert p.message.startswith("protection_level HSM is not offered in gcp location 'global'; "
                                "choose a regional or multi-regional location (https://")
    assert p.path == "keys[attest].location"


# ---- 7. rotation asked of a key that cannot rotate ----

def test_fails_on_rotation_for_asymmetric_key_pointing_to_generations(env_dir: Path) -> None:
    text = BASE_ENV.replace("    spec: ECC_NIST_P384\n",
                            "    spec: ECC_NIST_P384\n    rotation_period_in_days: 180\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP111"
    assert p.message == ("key 'code-signing' cannot rotate automatically: asymmetric keys cannot "
                         "rotate automatically; use generations (declare 'generation' and "
                         "'generations' instead of rotation_period_in_days)")


def test_fails_on_rotation_for_gcp_signing_key(env_dir: Path) -> None:
    text = BASE_ENV.replace("    spec: EC_SIGN_P384_SHA384\n",
                            "    spec: EC_SIGN_P384_SHA384\n    rotation_period_in_days: 90\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP111"
    assert p.path == "keys[attest].rotation_period_in_days"


def test_fails_on_signing_key_in_cloudhsm_key_store(env_dir: Path) -> None:
    text = BASE_ENV.replace("  - name: data\n    tier: production\n    cloud: aws\n"
                            "    usage: encrypt\n    users: [signer]\n",
                            "  - name: root\n    tier: ca\n    cloud: aws\n    usage: sign\n"
                            "    spec: ECC_NIST_P384\n    generation: 1\n    generations:\n"
                            "      - {generation: 1, created_on: 2026-01-01}\n")
    codes = [(p.code, p.message.split(";")[0]) for p in problems_of(write_env(env_dir, text))]
    assert ("KP113", "aws custom key stores hold only SYMMETRIC_DEFAULT keys (got "
                     "'ECC_NIST_P384')") in codes
    assert ("KP105", "origin cloudhsm needs an 'aws.cloudhsm' section (hsms, "
                     "key_store_password_ssm_parameter)") in codes
    assert ("KP105", "the environment holds ca keys, so principals.ceremony (the one named "
                     "ceremony role, mfa required) is needed") in codes


def test_fails_on_generation_without_current(env_dir: Path) -> None:
    text = BASE_ENV.replace("    generation: 2\n", "    generation: 3\n")
    problems = problems_of(write_env(env_dir, text))
    assert sorted(p.code for p in problems) == ["KP105", "KP115"]
    p = next(p for p in problems if p.code == "KP115")
    assert p.message == "current generation 3 is not in 'generations'; listed: 1, 2"


def test_fails_on_previous_generation_without_verify_until(env_dir: Path) -> None:
    text = BASE_ENV.replace("        verify_until: 2026-07-01\n", "")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.path) == ("KP105", "keys[code-signing].generations[1]")


def test_fails_on_signing_key_without_generations(env_dir: Path) -> None:
    text = BASE_ENV.replace("""    generation: 1
    generations:
      - generation: 1
        created_on: 2026-01-01
""", "")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP105"
    assert p.message.startswith("key 'attest' cannot rotate automatically, so it needs")


# ---- separation of duties ----

def test_fails_on_human_workload_using_production_key(env_dir: Path) -> None:
    text = BASE_ENV.replace("  - name: signer\n", "  - name: signer\n    human: true\n")
    problems = problems_of(write_env(env_dir, text))
    assert {p.code for p in problems} == {"KP116"}
    assert problems[0].message == ("human workload 'signer' cannot use a production key; humans "
                                   "may use non-production keys only (with mfa)")


def test_fails_on_wildcard_oidc_subject(env_dir: Path) -> None:
    text = BASE_ENV.replace("repo:acme/app:environment:production", "repo:acme/app:*")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP116"
    assert p.path == "workloads[signer].aws.oidc.subject"


def test_fails_when_admin_is_also_auditor(env_dir: Path) -> None:
    text = BASE_ENV.replace("arn:aws:iam::111122223333:role/audit",
                            "arn:aws:iam::111122223333:role/admins")
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP116"
    assert p.message == ("'arn:aws:iam::111122223333:role/admins' is in both key_admins and "
                         "auditors; the production tier needs distinct principals")


def test_fails_on_unknown_workload(env_dir: Path) -> None:
    text = BASE_ENV.replace("    usage: encrypt\n    users: [signer]\n",
                            "    usage: encrypt\n    users: [singer]\n")
    p = only(problems_of(write_env(env_dir, text)))
    assert (p.code, p.message) == (
        "KP114", "key 'data' names user 'singer', which is not a workload of this environment; "
                 "declared: signer")


# ---- 8. secret material: refused, never echoed ----

SECRETS = {
    "password": ('  cloudhsm_password: "Tr0ub4dor&3-very-secret"\n', "Tr0ub4dor&3-very-secret"),
    "access key": ("  access: AKIAZ7QX3N5B2KDL4MPE\n", "AKIAZ7QX3N5B2KDL4MPE"),
    "pem": ('  note: "-----BEGIN RSA PRIVATE KEY-----\\nMIIEow"\n', "MIIEow"),
    "service account": ('  sa: \'{"type": "service_account", "private_key_id": "5c1f9e"}\'\n',
                        "5c1f9e"),
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_fails_on_secret_material_without_echoing_it(env_dir: Path, kind: str) -> None:
    line, secret = SECRETS[kind]
    text = BASE_ENV.replace("  region: us-east-1\n", "  region: us-east-1\n" + line)
    p = only(problems_of(write_env(env_dir, text)))
    assert p.code == "KP112"
    assert p.line == 6
    assert secret not in p.render()
    assert "refuses secret material" in p.message


# ---- every problem of a file in one run ----

def test_reports_every_problem_of_a_file_in_one_run(env_dir: Path) -> None:
    text = (BASE_ENV.replace("    usage: encrypt\n", "    usage: encrypt\n"
                                                      "    deletion_window_in_days: 3\n")
            .replace("    spec: ECC_NIST_P384\n",
                     "    spec: ECC_NIST_P384\n    rotation_period_in_days: 180\n")
            .replace("  - name: attest\n", "  - name: data\n"))
    problems = problems_of(write_env(env_dir, text))
    assert sorted(p.code for p in problems) == ["KP106", "KP109", "KP111"]
