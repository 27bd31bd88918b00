"""`keyplane matrix`: the CI matrix from the inventory, shards past 256 jobs, and drills that
are due by their tier's cadence and the evidence of their last run."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from keyplane.audit.evidence import DrillResult, LocalEvidenceStore
from keyplane.drills.runner import plan
from keyplane.estate import matrix as matrix_mod
from keyplane.estate.errors import ESTATE_TOO_LARGE, EstateError
from keyplane.estate.matrix import (
    MAX_MATRIX_JOBS,
    Target,
    build_matrix,
    drill_targets,
    stack_targets,
)
from keyplane.estate.shard import select_shard
from keyplane.model.environment import AwsAccount, Environment
from keyplane.model.loader import load_environment, load_targets
from keyplane.model.specs import Cloud
from keyplane.model.tiers import TIERS
from tests.conftest import BASE_ENV, EXAMPLE_ENVIRONMENTS, REPO, write_env
from tests.estate.support import (
    at,
    drill_with_the_runner,
    env_text,
    example_estate,
    run_matrix,
    write_estate,
)

DAY = dt.date(2026, 3, 1)


def stacks_of(envs: list[Environment]) -> set[tuple[str, str]]:
    """(environment, cloud) of every stack `keyplane synth` writes."""
    return {(e.name, c.value) for e in envs for c in Cloud if e.keys_on(c)}


def matrix_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_matrix(capsys, *args)
    assert code == 0, out + err
    assert out.count("\n") == 1, "the matrix is one line (what $GITHUB_OUTPUT takes)"
    data: dict[str, Any] = json.loads(out)
    assert list(data) == ["include"], "any other top-level key would be a matrix dimension"
    return data


def drills_of(data: dict[str, Any]) -> dict[str, list[tuple[str, str | None, bool]]]:
    """stack -> [(kind, key, due)]."""
    return {e["stack"]: [(d["kind"], d["key"], d["due"]) for d in e["drills"]]
            for e in data["include"]}


# ---- pr and drift: one entry per stack ------------------------------------------------------

@pytest.mark.parametrize("purpose", ["pr", "drift"])
def test_every_stack_of_the_example_estate_is_one_entry(capsys: pytest.CaptureFixture[str],
                                                        purpose: str) -> None:
    envs = {e.name: e for e in example_estate()}
    data = matrix_json(capsys, "--for", purpose, "-d", str(EXAMPLE_ENVIRONMENTS))
    include = data["include"]
    assert {(m["environment"], m["cloud"]) for m in include} == stacks_of(list(envs.values()))
    assert [m["stack"] for m in include] == sorted(f"{e}-{c}" for e, c in stacks_of(
        list(envs.values())))
    for m in include:
        env = envs[m["environment"]]
        if m["cloud"] == "aws":
            assert env.aws is not None
            assert (m["account"], m["region"]) == (env.aws.account_id, env.aws.region)
            replicas = {r for k in env.keys_on(Cloud.AWS) for r in k.replica_regions or ()}
            assert m["regions"] == [env.aws.region, *sorted(replicas)]
        else:
            assert env.gcp is not None
            assert (m["account"], m["region"], m["regions"]) == (
                env.gcp.project_id, env.gcp.location, [env.gcp.location])
        assert "role_arn" not in m and "drills" not in m
    prod_aws = next(m for m in include if m["stack"] == "prod-aws")
    assert prod_aws["regions"] == ["us-east-1", "us-west-2"]  # the replica Region is reached


def test_an_environment_without_keys_on_a_cloud_has_no_entry_there(
        env_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE_ENV.split("  - name: attest")[0]  # the gcp key removed, the gcp section kept
    write_env(env_dir, text)
    data = matrix_json(capsys, "--for", "drift", "-d", str(env_dir))
    assert [(m["environment"], m["cloud"]) for m in data["include"]] == [("prod", "aws")]


def test_a_gcp_key_in_another_location_adds_that_region(env_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    write_env(env_dir, BASE_ENV.replace("    spec: EC_SIGN_P384_SHA384\n",
                                        "    spec: EC_SIGN_P384_SHA384\n"
                                        "    location: europe-west1\n"))
    data = matrix_json(capsys, "--for", "pr", "-d", str(env_dir))
    gcp = next(m for m in data["include"] if m["cloud"] == "gcp")
    assert (gcp["region"], gcp["regions"]) == ("us-east1", ["us-east1", "europe-west1"])


def test_the_role_is_carried_only_when_the_environment_names_one() -> None:
    env = example_estate()[1]
    assert env.name == "prod" and env.aws is not None
    # a model without the field (read with getattr): no role_arn in the entry
    bare = env.model_copy(update={"aws": SimpleNamespace(
        account_id=env.aws.account_id, region=env.aws.region,
        replica_regions=env.aws.replica_regions)})
    assert "role_arn" not in stack_targets([bare])[0].to_dict()

    class WithRole(AwsAccount):
        role_arn: str | None = None

    role = f"arn:aws:iam::{env.aws.account_id}:role/keyplane-ci"
    fields = {k: v for k, v in env.aws.model_dump().items() if k != "role_arn"}
    named = env.model_copy(update={"aws": WithRole(**fields, role_arn=role)})
    aws, gcp = stack_targets([named])
    assert aws.to_dict()["role_arn"] == role
    assert "role_arn" not in gcp.to_dict()  # the role is AWS's


def test_the_role_of_the_inventory_reaches_the_entry(env_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    if "role_arn" not in AwsAccount.model_fields:
        pytest.skip("this keyplane's inventory has no aws.role_arn")
    role = "arn:aws:iam::111122223333:role/keyplane-ci"
    write_env(env_dir, BASE_ENV.replace("  region: us-east-1\n",
                                        f"  region: us-east-1\n  role_arn: {role}\n", 1))
    data = matrix_json(capsys, "--for", "drift", "-d", str(env_dir))
    assert {m["cloud"]: m.get("role_arn") for m in data["include"]} == {"aws": role, "gcp": None}


# ---- estates larger than one matrix: shards ----------------------------------------------

@pytest.fixture(scope="module")
def big_estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 environments on both clouds: 600 stacks, more than one matrix runs."""
    return write_estate(tmp_path_factory.mktemp("big") / "environments", 300)


@pytest.fixture(scope="module")
def big_envs(big_estate: Path) -> list[Environment]:
    return list(load_targets([], big_estate).environments)


def test_300_environments_become_shards_that_each_fit_one_matrix(
        big_estate: Path, big_envs: list[Environment], capsys: pytest.CaptureFixture[str]
        ) -> None:
    data = matrix_json(capsys, "--for", "drift", "-d", str(big_estate))
    shards = data["include"]
    count = int(shards[0]["shard"].split("/")[1])
    assert count == matrix_mod.auto_shard_count(stack_targets(big_envs))
    assert 3 <= count <= MAX_MATRIX_JOBS and len(shards) <= count
    assert [s["shard"] for s in shards] == [f"{i}/{count}" for i in range(1, len(shards) + 1)]
    seen = [(t["environment"], t["cloud"]) for s in shards for t in s["targets"]]
    assert len(seen) == len(set(seen)) == 600  # every stack exactly once
    assert set(seen) == stacks_of(big_envs)
    for s in shards:
        assert s["size"] == len(s["targets"]) <= MAX_MATRIX_JOBS
        assert set(s) == {"shard", "size", "targets"}


def test_a_shard_lists_what_select_shard_picks(big_envs: list[Environment]) -> None:
    targets = stack_targets(big_envs)
    whole = build_matrix(targets).to_dict()["include"]
    count = int(whole[0]["shard"].split("/")[1])
    for i, entry in enumerate(whole, start=1):
        picked = select_shard(targets, f"{i}/{count}", key=lambda t: t.shard_key)
        assert [t.to_dict() for t in picked] == entry["targets"]


def test_shard_i_of_n_lists_that_shards_targets_one_entry_each(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--for", "pr", "-d", str(EXAMPLE_ENVIRONMENTS)]
    shards = matrix_json(capsys, *args, "--shards", "2")["include"]
    for entry in shards:
        flat = matrix_json(capsys, *args, "--shard", entry["shard"])
        assert flat["include"] == [{**t, "shard": entry["shard"]} for t in entry["targets"]]
    same_n = matrix_json(capsys, *args, "--shards", "2", "--shard", shards[0]["shard"])
    assert same_n["include"] == [{**t, "shard": shards[0]["shard"]} for t in shards[0]["targets"]]


def test_adding_an_environment_moves_no_target_to_another_shard(
        big_envs: list[Environment], tmp_path: Path) -> None:
    def shards(envs: list[Environment]) -> dict[str, str]:
        return {t["stack"]: s["shard"] for s in build_matrix(stack_targets(envs), shards=4)
                .to_dict()["include"] for t in s["targets"]}

    extra = tmp_path / "e300.yaml"
    extra.write_text(env_text(300), encoding="utf-8")
    before = shards(big_envs)
    after = shards([*big_envs, load_environment(extra)])
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"e300-aws", "e300-gcp"}


def test_shards_can_be_asked_for_on_a_small_estate(capsys: pytest.CaptureFixture[str]) -> None:
    data = matrix_json(capsys, "--for", "pr", "-d", str(EXAMPLE_ENVIRONMENTS), "--shards", "2")
    assert {s["shard"] for s in data["include"]} <= {"1/2", "2/2"}
    assert {(t["environment"], t["cloud"]) for s in data["include"] for t in s["targets"]} == \
        stacks_of(example_estate())


def test_a_shard_too_large_for_one_matrix_is_named(big_envs: list[Environment],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert build_matrix(stack_targets(big_envs), shards=1).oversized() == [("1/1", 600)]
    import keyplane.commands.matrix as command

    for module in (matrix_mod, command):  # a matrix of 4 jobs: the example's 6 stacks overflow
        monkeypatch.setattr(module, "MAX_MATRIX_JOBS", 4)
    code, out, err = run_matrix(capsys, "--for", "pr", "-d", str(EXAMPLE_ENVIRONMENTS),
                                "--shards", "1")
    assert code == 0
    assert json.loads(out)["include"][0]["size"] == 6
    assert "keyplane: shard 1/1 holds 6 targets, more than one matrix runs (4); run it in one " \
           "job, or use more shards" in err


def test_fails_when_not_even_256_shards_of_256_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix_mod, "MAX_MATRIX_JOBS", 4)  # 4 shards of 4: 16 at most
    targets = [Target(environment=f"e{i}", cloud=Cloud.AWS, account=f"{i:012d}",
                      region="us-east-1", regions=("us-east-1",)) for i in range(20)]
    with pytest.raises(EstateError) as info:
        build_matrix(targets)
    assert info.value.code == ESTATE_TOO_LARGE == "KP927"
    assert info.value.message.startswith("20 targets do not fit 4 shards of 4 jobs")
    assert len(build_matrix(targets[:3]).include()) == 3  # what fits stays one entry each


# ---- drills: only what is due ---------------------------------------------------------------

def test_without_evidence_every_scheduled_drill_is_due(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    (tmp_path / "evidence").mkdir()
    data = matrix_json(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                       "--evidence-dir", str(tmp_path / "evidence"), "--today", DAY.isoformat())
    envs = {e.name: e for e in example_estate()}
    expected: dict[str, list[tuple[str, str | None, bool]]] = {}
    for env in envs.values():
        for d in plan(env):
            cloud = d.key.cloud.value if d.key else "aws"
            name = d.key.name if d.key else (d.resource.name if d.resource else None)
            expected.setdefault(f"{env.name}-{cloud}", []).append((d.kind, name, True))
    assert drills_of(data) == expected
    assert "dev-gcp" not in expected  # dev's only gcp key is ephemeral: never drilled
    for entry in data["include"]:
        env = envs[entry["environment"]]
        assert {d["reason"] for d in entry["drills"]} == {"no drill recorded"}
        assert {d["last"] for d in entry["drills"]} == {None}
        assert entry["evidence_location"] == env.evidence_location
        # a drill run reaches every cloud the environment declares (identity, lock, evidence)
        assert entry["clouds"]["aws"] == {"account": env.aws.account_id,
                                          "region": env.aws.region}
        assert entry["clouds"]["gcp"] == {"project": env.gcp.project_id,
                                          "location": env.gcp.location}
    prod_aws = next(e for e in data["include"] if e["stack"] == "prod-aws")
    assert prod_aws["tiers"] == ["ca", "production"]


def test_every_listed_drill_is_what_keyplane_drill_runs_for_its_kind_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the drill workflow runs `keyplane drill ENV --kind KIND [--key KEY]` per listed drill
    (tmp_path / "evidence").mkdir()
    data = matrix_json(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                       "--evidence-dir", str(tmp_path / "evidence"), "--today", DAY.isoformat())
    envs = {e.name: e for e in example_estate()}
    for entry in data["include"]:
        for d in entry["drills"]:
            (one,) = plan(envs[entry["environment"]], key=d["key"], kinds=(d["kind"],))
            subject = one.key.name if one.key else (one.resource.name if one.resource else None)
            assert (one.kind, subject, one.tier.value) == (d["kind"], d["key"], d["tier"])


def test_drills_run_yesterday_are_not_due(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    evidence = tmp_path / "evidence"
    for env in example_estate():
        drill_with_the_runner(env, evidence, at(DAY))
    data = matrix_json(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                       "--evidence-dir", str(evidence), "--today", (DAY + dt.timedelta(1))
                       .isoformat())
    assert data == {"include": []}


@pytest.mark.parametrize(("days", "due_tiers"), [
    (29, set()), (30, {"production"}), (89, {"production"}),
    (90, {"ca", "production", "non-production"}),
])
def test_each_tier_comes_due_on_its_cadence(tmp_path: Path, days: int, due_tiers: set[str]
                                            ) -> None:
    evidence = tmp_path / "evidence"
    envs = example_estate()
    records = {env.name: drill_with_the_runner(env, evidence, at(DAY)) for env in envs}
    targets = drill_targets(envs, records, DAY + dt.timedelta(days))
    due = {d.tier.value for t in targets for d in t.drills}
    assert due == due_tiers
    for t in targets:
        for d in t.drills:
            cadence = TIERS[d.tier].drill_cadence_in_days
            assert d.due and d.last == DAY.isoformat()
            assert d.reason == (f"last run {DAY.isoformat()}, {days} days ago; the "
                                f"{d.tier.value} tier drills every {cadence} days")


def test_read_from_disk_the_runners_records_give_the_same_answer(tmp_path: Path) -> None:
    # the command reads the records back from the evidence store: same verdicts as in memory
    from keyplane.commands.matrix import read_evidence

    evidence = tmp_path / "evidence"
    envs = example_estate()
    written = {env.name: drill_with_the_runner(env, evidence, at(DAY)) for env in envs}
    records, unread, read = read_evidence(envs, [evidence])
    assert unread == {}
    assert {n: sorted(r.record_name() for r in rs) for n, rs in records.items()} == \
        {n: sorted(r.record_name() for r in rs) for n, rs in written.items()}
    assert sorted(read) == sorted([str(evidence), *(str(evidence / e.name) for e in envs)])


def _put(store: LocalEvidenceStore, env: str, kind: str, key: str, tier: str, day: dt.date,
         outcome: str, cloud: str = "aws", generation: int | None = None,
         run: str = "r") -> None:
    when = at(day).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    store.put(DrillResult(run_id=f"{day:%Y%m%d}-{run}", environment=env, kind=kind, key=key,
                          generation=generation, tier=tier, started_at=when, ended_at=when,
                          outcome=outcome, reason="recorded", identity="ci",
                          cloud=cloud).with_finding_fields())


def test_the_newest_run_decides_a_failed_or_unfinished_one_is_due_again(tmp_path: Path) -> None:
    envs = {e.name: e for e in example_estate()}
    store = LocalEvidenceStore(tmp_path / "prod")
    production = "production"
    yesterday, week_ago = DAY - dt.timedelta(1), DAY - dt.timedelta(7)
    # passed, then failed: due again
    _put(store, "prod", "sign-canary", "code-signing", production, week_ago, "PASSED",
         generation=4)
    _put(store, "prod", "sign-canary", "code-signing", production, yesterday, "FAILED",
         generation=4)
    # failed, then passed: done
    _put(store, "prod", "sign-canary", "document-signing", production, week_ago, "FAILED",
         generation=2)
    _put(store, "prod", "sign-canary", "document-signing", production, yesterday, "PASSED",
         generation=2)
    # one generation of the newest run timed out: the run did not complete
    _put(store, "prod", "sign-canary", "release-artifacts", production, yesterday, "PASSED")
    _put(store, "prod", "sign-canary", "release-artifacts", production, yesterday, "TIMED_OUT",
         run="s")
    # skipped (nothing the drill could prove): complete, not due
    _put(store, "prod", "sign-canary", "release-attestation", production, yesterday, "SKIPPED",
         cloud="gcp", generation=1)
    _put(store, "prod", "cloudhsm", "cluster", "ca", yesterday, "ERROR")
    judged = {(d.kind, d.key): d for t in drill_targets(
        [envs["prod"]], {"prod": store.history("prod")}, DAY, every=True) for d in t.drills}
    assert judged[("sign-canary", "code-signing")].due
    assert judged[("sign-canary", "code-signing")].reason == \
        f"newest run ({yesterday.isoformat()}) ended FAILED"
    assert not judged[("sign-canary", "document-signing")].due
    assert judged[("sign-canary", "document-signing")].reason == \
        f"last run {yesterday.isoformat()}; next due {(yesterday + dt.timedelta(30)).isoformat()}"
    assert judged[("sign-canary", "release-artifacts")].due
    assert "TIMED_OUT" in judged[("sign-canary", "release-artifacts")].reason
    assert not judged[("sign-canary", "release-attestation")].due
    assert judged[("cloudhsm", None)].due and "ERROR" in judged[("cloudhsm", None)].reason
    assert judged[("sign-canary", "mesh-mtls-issuer")].reason == "no drill recorded"


def test_a_replica_region_missing_from_the_newest_run_is_due(env_dir: Path, tmp_path: Path
                                                             ) -> None:
    write_env(env_dir, BASE_ENV.replace("replica_regions: [us-west-2]",
                                        "replica_regions: [us-west-2, eu-central-1]"))
    env = load_environment(env_dir / "prod.yaml")
    evidence = tmp_path / "evidence"
    drill_with_the_runner(env, evidence, at(DAY))
    records = {"prod": LocalEvidenceStore(evidence / "prod").history("prod")}
    assert not drill_targets([env], records, DAY + dt.timedelta(1))
    # a later run that drilled one Region only (the other was added since)
    store = LocalEvidenceStore(evidence / "prod")
    _put(store, "prod", "replica", "code-signing@us-west-2", "production",
         DAY + dt.timedelta(2), "PASSED")
    records = {"prod": store.history("prod")}
    (target,) = drill_targets([env], records, DAY + dt.timedelta(3))
    (due,) = target.drills
    assert (due.kind, due.key, due.due) == ("replica", "code-signing", True)
    assert due.reason == f"newest run ({(DAY + dt.timedelta(2)).isoformat()}) did not drill " \
                         "eu-central-1"


def test_tier_and_all_scheduled_select_the_drills(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    evidence = tmp_path / "evidence"
    for env in example_estate():
        drill_with_the_runner(env, evidence, at(DAY))
    base = ["--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS), "--evidence-dir", str(evidence),
            "--today", (DAY + dt.timedelta(5)).isoformat()]
    data = matrix_json(capsys, *base, "--all-scheduled", "--tier", "ca")
    assert drills_of(data) == {"prod-aws": [("sign-canary", "pki-root-ca", False),
                                            ("sign-canary", "pki-issuing-ca", False),
                                            ("cloudhsm", None, False)]}
    everything = matrix_json(capsys, *base, "--all-scheduled")
    assert sum(len(e["drills"]) for e in everything["include"]) == \
        sum(len(plan(e)) for e in example_estate())
    assert not any(d["due"] for e in everything["include"] for d in e["drills"])
    assert matrix_json(capsys, *base, "--tier", "production", "--tier", "ca") == {"include": []}


def test_the_environments_local_evidence_is_read_and_remote_evidence_counts_as_due(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    monkeypatch.chdir(tmp_path)  # dev's evidence_location is ./evidence/dev
    envs = {e.name: e for e in example_estate()}
    drill_with_the_runner(envs["dev"], tmp_path / "evidence", at(DAY))
    code, out, err = run_matrix(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                                "--today", (DAY + dt.timedelta(1)).isoformat())
    assert code == 0, err
    stacks = {e["stack"]: e for e in json.loads(out)["include"]}
    assert "dev-aws" not in stacks  # drilled yesterday, read from ./evidence/dev
    prod = stacks["prod-aws"]["drills"][0]
    assert prod["due"] and prod["reason"] == \
        "no evidence read (evidence at s3://acme-keyplane-evidence-prod/drills/ is remote)"
    assert ("keyplane: prod: evidence at s3://acme-keyplane-evidence-prod/drills/ is remote: "
            "keyplane matrix reads local directories only") in err


def test_an_evidence_dir_is_read_with_its_environment_subdirectories(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs = {e.name: e for e in example_estate()}
    flat = tmp_path / "flat"
    results = drill_with_the_runner(envs["staging"], tmp_path / "tree", at(DAY))
    for r in results:  # staging's records directly in the directory, not under staging/
        LocalEvidenceStore(flat).put(r)
    drill_with_the_runner(envs["dev"], flat, at(DAY))  # dev's under flat/dev
    data = matrix_json(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                       "--evidence-dir", str(flat), "--today", (DAY + dt.timedelta(1))
                       .isoformat())
    assert {e["environment"] for e in data["include"]} == {"prod"}


def test_markdown_says_what_is_due_and_why(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    code, out, _ = run_matrix(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                              "--evidence-dir", str(evidence), "--today", DAY.isoformat(),
                              "--tier", "ca", "--format", "markdown")
    assert code == 0
    assert out.startswith(f"### keyplane matrix --for drill on {DAY.isoformat()}\n")
    assert "| prod-aws | 210987654321 | us-east-1, us-west-2 | - | **due**: sign-canary " \
           "pki-root-ca (ca): no drill recorded<br>" in out
    for env in example_estate():
        drill_with_the_runner(env, evidence, at(DAY))
    code, out, _ = run_matrix(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                              "--evidence-dir", str(evidence), "--today", DAY.isoformat(),
                              "--format", "markdown")
    assert (code, out.splitlines()[-1]) == (0, "No drill is due.")


# ---- bad input: coded errors, exit 2, no traceback ----------------------------------------

@pytest.mark.parametrize(("args", "code", "message"), [
    (["--shards", "0"], "KP922", "--shards must be a whole number from 1 to 256 (the shards are "
                                 "themselves one matrix), got '0'"),
    (["--shards", "257"], "KP922", "got '257'"),
    (["--shards", "two"], "KP922", "got 'two'"),
    (["--shards", "-1"], "KP922", "got '-1'"),
    (["--shards", "1.5"], "KP922", "got '1.5'"),
    (["--for", "nightly"], "KP921", "--for must be one of pr, drift, drill, got 'nightly'"),
    (["--for", "drils"], "KP921", "got 'drils'; did you mean 'drill'?"),
    (["--format", "yaml"], "KP921", "--format must be one of json, markdown, got 'yaml'"),
    (["--for", "drill", "--tier", "ephemeral"], "KP921",
     "--tier must be one of ca, production, non-production (ephemeral keys are never "
     "drilled), got 'ephemeral'"),
    (["--for", "drill", "--today", "2026-13-01"], "KP924",
     "--today must be a date (yyyy-mm-dd), got '2026-13-01'"),
    (["--for", "drill", "--today", "2026-02-30"], "KP924", "got '2026-02-30'"),
    (["--for", "drill", "--today", "20260301"], "KP924", "got '20260301'"),
    (["--for", "drill", "--today", "tomorrow"], "KP924", "got 'tomorrow'"),
    (["--shard", "0/3"], "KP923", "--shard i must be between 1 and N (3), got 0 in '0/3'"),
    (["--shard", "4/3"], "KP923", "--shard i must be between 1 and N (3), got 4 in '4/3'"),
    (["--shard", "1of3"], "KP923", "--shard must be i/N"),
    (["--shards", "2", "--shard", "1/3"], "KP928",
     "--shard 1/3 names 3 shards but --shards is 2; give the same N, or --shard alone"),
    (["--for", "pr", "--today", "2026-03-01"], "KP928",
     "--today applies to --for drill only, got --for pr"),
    (["--for", "drift", "--all-scheduled", "--tier", "ca"], "KP928",
     "--tier, --all-scheduled apply to --for drill only, got --for drift"),
    (["nowhere"], "KP003", "unknown environment 'nowhere'"),
])
def test_fails_with_a_coded_error_on_bad_input(capsys: pytest.CaptureFixture[str],
                                               args: list[str], code: str, message: str) -> None:
    exit_code, out, err = run_matrix(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), *args)
    assert exit_code == 2, out + err
    error = json.loads(out)  # --format json: the error is a JSON object, like every command's
    assert error["error"] == code
    assert message in error["message"]
    assert "Traceback" not in out + err


def test_fails_on_a_missing_evidence_dir_or_a_file(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    for path in (tmp_path / "missing", tmp_path / "a-file"):
        exit_code, _, _ = run_matrix(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                                     "--evidence-dir", str(path), "--format", "markdown")
        assert exit_code == 2
    _, _, err = run_matrix(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                           "--evidence-dir", str(tmp_path / "missing"), "--format", "markdown")
    assert err == (f"keyplane: error KP925: --evidence-dir {tmp_path / 'missing'} does not "
                   "exist; give the directory the drill evidence records were copied to\n")
    _, _, err = run_matrix(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                           "--evidence-dir", str(tmp_path / "a-file"), "--format", "markdown")
    assert "KP925" in err and "is a file, not a directory" in err


def test_fails_closed_on_an_unreadable_evidence_record(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    (tmp_path / "prod").mkdir()
    bad = tmp_path / "prod" / "20260301T000000Z-r-sign-canary-code-signing-g4.json"
    bad.write_text('{"run_id": "r", "environment": "prod"', encoding="utf-8")
    exit_code, out, err = run_matrix(capsys, "--for", "drill", "-d", str(EXAMPLE_ENVIRONMENTS),
                                     "--evidence-dir", str(tmp_path))
    assert exit_code == 2
    error = json.loads(out)
    assert error["error"] == "KP926" and str(bad) in error["message"]
    assert "Traceback" not in out + err


def test_the_real_entry_point_exits_2_without_a_traceback() -> None:
    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()",
                           "matrix", "--shards", "0", "--format", "markdown"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("keyplane: error KP922: --shards must be a whole number")
    assert "Traceback" not in proc.stderr + proc.stdout


def test_the_matrix_imports_no_cloud_sdk_and_no_cdk(tmp_path: Path) -> None:
    probe = ("import sys\n"
             "from keyplane.cli import main\n"
             "for args in (['--for', 'pr'], ['--for', 'drill', '--evidence-dir', sys.argv[1]]):\n"
             "    try:\n"
             "        main(['matrix', '-d', sys.argv[2], *args])\n"
             "    except SystemExit as e:\n"
             "        assert e.code in (0, None), e.code\n"
             "heavy = {'boto3', 'botocore', 'google', 'grpc', 'cdktn', 'cdktf', 'constructs',\n"
             "         'jsii', 'moto', 'cdktn_provider_aws', 'cdktn_provider_google'}\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & heavy), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(tmp_path), str(EXAMPLE_ENVIRONMENTS)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_a_record_whose_time_is_no_date_leaves_the_drill_due(tmp_path: Path) -> None:
    envs = {e.name: e for e in example_estate()}
    store = LocalEvidenceStore(tmp_path / "dev")
    store.put(DrillResult(run_id="r", environment="dev", kind="sign-canary", key="dev-tls-issuer",
                          generation=None, tier="non-production", started_at="sometime",
                          ended_at="later", outcome="PASSED", reason="recorded", identity="ci",
                          cloud="aws").with_finding_fields())
    (target,) = drill_targets([envs["dev"]], {"dev": store.history("dev")}, DAY)
    (due,) = target.drills
    assert (due.due, due.last, due.reason) == (True, None, "newest run's time 'later' is not a date")
