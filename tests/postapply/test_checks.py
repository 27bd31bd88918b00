"""Every post-apply check against its fixtures: changes to a read of Terraform-built state.

Each case of `fixtures/checks/<check_id>.json` changes the recorded read of an environment
(`fixtures/observed/<env>.json`, what post-apply read after real Terraform built it), runs
that one check, and compares the subjects it reports with the case's exact list: FAIL for
`fail_*`, UNKNOWN for `unknown_*`, nothing for `pass_*`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyplane.findings import Status
from keyplane.model import load_estate
from keyplane.policy.packs import CHECKS as PACK_ROWS
from keyplane.policy.packs import check_severity
from keyplane.postapply.expected import ExpectedState, expected_state
from keyplane.postapply.match import match
from keyplane.postapply.registry import CheckContext, discover, run_checks
from keyplane.postapply.stack import load_environment_stacks
from tests.conftest import EXAMPLE_ENVIRONMENTS, Synthesized
from tests.postapply.checks_support import (
    CHECKS,
    OBSERVED,
    declared,
    judged_at,
    observed_for,
    subject_of,
)

CASES = [(path.stem, name, case) for path in sorted(CHECKS.glob("*.json"))
         for name, case in json.loads(path.read_text(encoding="utf-8"))["cases"].items()]
_STATES: dict[str, ExpectedState] = {}


def _state(env_name: str, synth: Path) -> ExpectedState:
    if env_name not in _STATES:
        env = load_estate([EXAMPLE_ENVIRONMENTS / f"{env_name}.yaml"]).get(env_name)
        _STATES[env_name] = expected_state(env, load_environment_stacks(env, synth))
    return _STATES[env_name]


def _doc(check_id: str) -> dict:
    return json.loads((CHECKS / f"{check_id}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("check_id", "name", "case"), CASES,
                         ids=[f"{c}:{n}" for c, n, _ in CASES])
def test_check_case(check_id: str, name: str, case: dict,
                    synthesized_estate: Synthesized) -> None:
    assert synthesized_estate.exit_code == 0, synthesized_estate.stderr[-2000:]
    env_name = case.get("environment") or _doc(check_id)["environment"]
    state = declared(_state(env_name, synthesized_estate.out), case.get("declared", []))
    observed, recorded_at = observed_for(env_name, case.get("changes", []))
    now = judged_at(case, recorded_at)
    ctx = CheckContext(state=state, observed=observed, matched=match(state, observed), now=now)
    found = run_checks([discover()[check_id]], ctx, check_severity)
    want = Status.UNKNOWN if name.startswith("unknown_") else Status.FAIL
    got = sorted(subject_of(f, state.env) for f in found if f.status is want)
    assert got == sorted(case.get("expect", [])), [f.reason for f in found]
    assert all(f.status in (Status.FAIL, Status.UNKNOWN) for f in found), found
    if name.startswith("pass_"):
        assert found == [], [f.to_dict() for f in found]
    for f in found:  # the one model: every field the report reads is set
        assert (f.rule_id, f.control, f.environment) == (check_id, discover()[check_id].control,
                                                         env_name)
        assert f.cloud is not None and f.tier is not None and f.reason


def test_every_check_has_pass_fail_and_unknown_cases() -> None:
    missing = {}
    for check_id, chk in discover().items():
        path = CHECKS / f"{check_id}.json"
        names = list(json.loads(path.read_text())["cases"]) if path.exists() else []
        kinds = {n.split("_", 1)[0] for n in names}
        need = {"pass", "fail"} | ({"unknown"} if chk.needs else set())
        if need - kinds:
            missing[check_id] = sorted(need - kinds)
    assert missing == {}


def test_every_fixture_names_a_registered_check() -> None:
    assert {p.stem for p in CHECKS.glob("*.json")} <= set(discover())


def test_every_check_is_in_the_packs_and_documented() -> None:
    checks = discover()
    assert set(checks) <= set(PACK_ROWS), sorted(set(checks) - set(PACK_ROWS))
    for check_id, chk in checks.items():
        assert chk.module == f"keyplane.postapply.rules.{chk.area}.{check_id.split('.', 1)[1]}"
        assert chk.title and "Why:" in chk.doc and "Fix:" in chk.doc and "See:" in chk.doc, \
            check_id


def test_the_recorded_reads_are_clean(synthesized_estate: Synthesized) -> None:
    """The baseline every case changes judges clean under every check."""
    for path in sorted(OBSERVED.glob("*.json")):
        state = _state(path.stem, synthesized_estate.out)
        observed, now = observed_for(path.stem, [])
        ctx = CheckContext(state=state, observed=observed, matched=match(state, observed),
                           now=now)
        found = run_checks(list(discover().values()), ctx, check_severity)
        assert [f.to_dict() for f in found if f.severity.value != "info"] == [], path.stem


def test_docs_checks_md_is_current() -> None:
    from keyplane.postapply.docs import checks_markdown

    committed = (Path(__file__).resolve().parents[2] / "docs" / "checks.md").read_text()
    assert committed == checks_markdown(), (
        "docs/checks.md is stale: run `keyplane post-apply --list-checks --format markdown "
        "--output docs/checks.md`")
