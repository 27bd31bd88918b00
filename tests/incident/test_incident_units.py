"""The incident's logic without a cloud: which key is the generation, the journal's open
incident, the callers table, the inventory change (on a copy of the example estate), and a
run over in-memory ports whose reads fail and then recover."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from keyplane.audit.events import AuditLog, MemorySink
from keyplane.cloudcall import Throttled
from keyplane.commands.incident import NoCertificateInventory, YamlInventory
from keyplane.drills.journal import LocalJournalStore
from keyplane.drills.lock import FileLock
from keyplane.drills.ports import KeyTarget
from keyplane.incident.errors import (
    GenerationError,
    IdentityMismatchError,
    IncidentInputError,
    NotDeployedError,
)
from keyplane.incident.identity import locate, resolve
from keyplane.incident.journal import IncidentJournal
from keyplane.incident.model import DeployedKey, Grant, Outcome, StepId, TrailEvent, callers
from keyplane.incident.plan import Acting, check_reason, make_plan, parse_since
from keyplane.incident.runner import IncidentContext, IncidentPorts, execute
from keyplane.incident.store import LocalIncidentStore
from keyplane.model.loader import load_environment
from keyplane.schema import validate
from tests.conftest import EXAMPLE_ENVIRONMENTS

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
ARN = "arn:aws:kms:us-east-1:210987654321:key/{}"


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    d = tmp_path / "environments"
    shutil.copytree(EXAMPLE_ENVIRONMENTS, d)
    return d


def target(ref: str, *, generation: int | None, key: str = "code-signing",
           tagged: bool = True, current: bool = False) -> KeyTarget:
    return KeyTarget(key=key, generation=None, ref=ref, state="Enabled", spec="ECC_NIST_P384",
                     current=current, tagged=tagged, tag_key=key if tagged else None,
                     tag_generation=generation)


# --- which key is the generation -------------------------------------------------------------


def test_resolve_names_what_is_declared(envs: Path) -> None:
    env = load_environment(envs / "prod.yaml")
    key, gen = resolve(env, "code-signing@g3")
    assert (key.name, gen.generation, gen.verify_until.isoformat()) == (
        "code-signing", 3, "2026-12-16")
    with pytest.raises(GenerationError, match=r"generation 5 of code-signing is not declared "
                       r"\(declared: g4 \(current\), g3 \(verify-only until 2026-12-16\)\)"):
        resolve(env, "code-signing@g5")
    with pytest.raises(IncidentInputError, match="name the compromised generation"):
        resolve(env, "code-signing")


def test_locate_trusts_tags_and_reports_a_moved_alias(envs: Path) -> None:
    key = load_environment(envs / "prod.yaml").key("code-signing")
    g4, g3, stray = ARN.format("mrk-4"), ARN.format("mrk-3"), ARN.format("other")
    targets = [target(g4, generation=4, current=True), target(g3, generation=3)]
    got = locate(key, 4, targets, aliases={"alias/code-signing": stray,
                                           "alias/code-signing/g4": g4},
                 account_id="210987654321")
    assert got.target.ref == g4
    assert got.warnings == (f"alias alias/code-signing resolves to {stray}, not to {g4}, the key "
                            "tagged as code-signing@g4: the incident acts on the tagged key; "
                            "find out who moved the alias (UpdateAlias in the audit trail)",)
    # a verify-only generation: only its own alias is checked (the key's alias moved on)
    assert locate(key, 3, targets, aliases={"alias/code-signing/g3": None}).warnings == (
        "alias alias/code-signing/g3 does not exist",)


def test_fails_locate_without_one_key_of_the_generation_in_the_account(envs: Path) -> None:
    key = load_environment(envs / "prod.yaml").key("code-signing")
    untagged = target(ARN.format("x"), generation=None, tagged=False, current=True)
    with pytest.raises(NotDeployedError, match=r"code-signing@g4 is not deployed \(deployed "
                       r"generations of code-signing: g3\)"):
        locate(key, 4, [untagged, target(ARN.format("mrk-3"), generation=3)], aliases={})
    twins = [target(ARN.format("a"), generation=4), target(ARN.format("b"), generation=4)]
    with pytest.raises(IdentityMismatchError, match="2 keys claim to be code-signing@g4"):
        locate(key, 4, twins, aliases={})
    elsewhere = "arn:aws:kms:us-east-1:999999999999:key/mrk-4"
    with pytest.raises(NotDeployedError, match="is in account 999999999999, the environment's "
                       "account is 210987654321"):
        locate(key, 4, [target(elsewhere, generation=4)], aliases={},
               account_id="210987654321")


def test_parse_since_and_reason() -> None:
    assert parse_since("2026-11-20", NOW) == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    assert parse_since("2026-11-20T09:30:00+01:00", NOW) == dt.datetime(2026, 11, 20, 8, 30,
                                                                         tzinfo=dt.UTC)
    with pytest.raises(IncidentInputError, match="with a zone"):
        parse_since("2026-11-20T09:30:00", NOW)
    assert check_reason("  leaked\n  in CI  ") == "leaked in CI"
    assert check_reason("key AKIAABCDEFGHIJKLMNOP was in the log") == \
        "key [redacted] was in the log"
    with pytest.raises(IncidentInputError, match="at most 500 characters"):
        check_reason("x" * 501)


# --- the callers table -------------------------------------------------------------------------


def event(name: str, who: str, minute: int, error: str | None = None,
          region: str = "us-east-1") -> TrailEvent:
    return TrailEvent(event_id=f"{who}-{minute}", event_name=name,
                      event_time=NOW + dt.timedelta(minutes=minute), principal_arn=who,
                      role_arn=None, region=region, key_ref=ARN.format("k"), error_code=error)


def test_callers_count_successes_and_refusals_per_principal_and_operation() -> None:
    rows = callers([event("Sign", "a", 3), event("Sign", "a", 1, region="us-west-2"),
                    event("Sign", "a", 5, error="DisabledException"), event("Decrypt", "b", 2),
                    event("Verify", "b", 4)])
    assert [(r["principal_arn"], r["event_name"], r["count"], r["failed"], r["consequence"],
             r["first"], r["last"], r["regions"]) for r in rows] == [
        ("a", "Sign", 2, 1, "re-sign", "2026-11-29T12:01:00Z", "2026-11-29T12:03:00Z",
         ["us-west-2", "us-east-1"]),
        ("b", "Decrypt", 1, 0, "data-read", "2026-11-29T12:02:00Z", "2026-11-29T12:02:00Z",
         ["us-east-1"]),
        ("b", "Verify", 1, 0, "verify-only", "2026-11-29T12:04:00Z", "2026-11-29T12:04:00Z",
         ["us-east-1"])]


# --- the journal ---------------------------------------------------------------------------------


def test_the_journal_reopens_the_latest_unfinished_incident(tmp_path: Path) -> None:
    store = LocalJournalStore(tmp_path)
    t = [1_000.0]

    def journal(run: str) -> IncidentJournal:
        return IncidentJournal(store, key="code-signing", generation=4, run_id=run,
                               clock=lambda: t[0])
    first = journal("r1")
    first.started("r1", keys=[{"ref": "k"}], since="2026-11-01T00:00:00Z", today="2026-11-29")
    first.intent("r1", StepId.DISABLE)
    first.settled("r1", StepId.DISABLE, {"outcome": "done", "summary": "ok"})
    first.finished("r1", "rec")
    assert journal("r2").open_incident() is None
    second = journal("r2")
    second.started("r2", keys=[{"ref": "k"}], since="2026-11-01T00:00:00Z", today="2026-11-29")
    second.intent("r2", StepId.DISABLE)
    second.settled("r2", StepId.DISABLE, {"outcome": "done", "summary": "ok"})
    second.intent("r2", StepId.REVOKE_GRANTS)
    second.settled("r2", StepId.REVOKE_GRANTS, {"outcome": "failed", "summary": "throttled"})
    second.intent("r2", StepId.AUDIT_TRAIL)  # killed here
    opened = journal("r3").open_incident()
    assert opened is not None
    assert (opened.incident_id, opened.runs, opened.refs) == ("r2", ["r2"], ["k"])
    assert sorted(opened.settled) == [StepId.DISABLE]  # a failed step is taken again
    assert opened.interrupted is StepId.AUDIT_TRAIL


# --- the inventory change ----------------------------------------------------------------------


def test_the_current_generation_is_rotated_as_keyplane_rotate_writes_it(envs: Path) -> None:
    path = envs / "prod.yaml"
    before = path.read_text(encoding="utf-8")
    inv = YamlInventory(path)
    change = inv.change("code-signing", 4, dt.date(2026, 11, 29))
    assert (change.kind, change.needed, change.previous, change.new) == ("rotate", True, 4, 5)
    assert path.read_text(encoding="utf-8") == before  # `change` only reads
    inv.apply("code-signing", 4, dt.date(2026, 11, 29))
    key = load_environment(path).key("code-signing")
    assert [(g.generation, g.verify_until, g.enabled) for g in key.generations][:2] == [
        (5, None, True), (4, dt.date(2026, 11, 29), False)]
    after = path.read_text(encoding="utf-8")
    assert "# Production PKI estate of Acme Corp." in after  # comments are kept
    assert inv.apply("code-signing", 4, dt.date(2026, 11, 29)).needed is False  # resumed: done


def test_a_disabled_generation_needs_no_change_and_a_ca_key_names_its_ceremony(
        envs: Path) -> None:
    inv = YamlInventory(envs / "prod.yaml")
    assert inv.change("pki-issuing-ca", 1, dt.date(2026, 11, 29)).lines == (
        "pki-issuing-ca@g1 is already disabled in the inventory (enabled: false)",)
    ca = inv.change("pki-issuing-ca", 2, dt.date(2026, 11, 29))
    assert ca.kind == "rotate" and ca.lines[-1].startswith("ca tier: the new generation's key "
                                                           "is created in a key ceremony")


# --- a run over in-memory ports ----------------------------------------------------------------


class FakeKms:
    """One key with one grant; ListGrants throttled, once the plan is made, while `throttled`
    is set."""

    cloud = "aws"
    grants_supported = True

    def __init__(self) -> None:
        self.states = {ARN.format("mrk-4"): "Enabled"}
        self.grant_list = [Grant(key_ref=ARN.format("mrk-4"), grant_id="g-1",
                                 grantee="arn:aws:iam::210987654321:role/x",
                                 operations=("Sign",))]
        self.throttled = False
        self.planned = False
        self.disabled: list[str] = []

    def targets(self, key: Any) -> list[KeyTarget]:
        return [target(ARN.format("mrk-4"), generation=4, current=True)]

    def alias_target(self, alias: str) -> str | None:
        return ARN.format("mrk-4")

    def related(self, t: KeyTarget) -> list[DeployedKey]:
        return [DeployedKey(ref=t.ref, region="us-east-1", state=self.states[t.ref],
                            role="primary")]

    def state(self, key: DeployedKey) -> str:
        return self.states[key.ref]

    def disable(self, key: DeployedKey) -> None:
        self.disabled.append(key.ref)
        self.states[key.ref] = "Disabled"

    def grants(self, key: DeployedKey) -> list[Grant]:
        if self.throttled and self.planned:
            raise Throttled("ListGrants", "ThrottlingException", "rate exceeded")
        return list(self.grant_list)

    def revoke(self, grant: Grant) -> bool:
        gone = grant not in self.grant_list
        self.grant_list = [g for g in self.grant_list if g != grant]
        return not gone


def run_once(envs: Path, tmp_path: Path, kms: FakeKms, run_id: str) -> tuple[Any, MemorySink]:
    env = load_environment(envs / "prod.yaml")
    key, gen = resolve(env, "code-signing@g4")
    store = LocalJournalStore(tmp_path / "journal")
    sink = MemorySink()
    audit = AuditLog(sinks=[sink], command="incident", actor="tester", run_id=run_id)
    journal = IncidentJournal(store, key="code-signing", generation=4, run_id=run_id,
                              clock=NOW.timestamp)
    plan = make_plan(env, key, gen, reason="test", since=None, now=NOW.timestamp, kms=kms,
                     trail=None, trail_unavailable=lambda keys, since: "no trail here",
                     certificates=NoCertificateInventory("prod"),
                     inventory=YamlInventory(envs / "prod.yaml"),
                     acting=Acting(principal="tester", assumed=False, how="test"),
                     evidence_where=str(tmp_path / "ev"), max_events=10,
                     resume=journal.open_incident(), account_id="210987654321")
    kms.planned = True
    ctx = IncidentContext(run_id=run_id, actor="tester", audit=audit, clock=NOW.timestamp)
    ports = IncidentPorts(kms=kms, trail=None, inventory=YamlInventory(envs / "prod.yaml"),
                          store=LocalIncidentStore(tmp_path / "ev"), journal_store=store,
                          lock=FileLock(tmp_path / "locks"))
    return execute(ctx, plan, ports), sink


def test_a_failed_read_fails_its_step_only_and_the_next_run_finishes(
        envs: Path, tmp_path: Path) -> None:
    kms = FakeKms()
    kms.throttled = True
    first, sink = run_once(envs, tmp_path, kms, "run-1")
    assert first.exit_code == 3
    doc = first.record
    validate(doc, "incident")
    outcomes = {s["id"]: s["outcome"] for s in doc["steps"]}
    assert outcomes == {"disable": "done", "revoke-grants": "failed",
                        "audit-trail": "not-available", "certificates": "not-available",
                        "rotate": "done"}
    assert doc["steps"][1]["summary"] == ("revoke grants: ListGrants throttled "
                                          "(ThrottlingException): rate exceeded; try again later, "
                                          "then --execute again resumes here")
    assert [e.action for e in sink.events][-1] == "incident.incomplete"
    kms.throttled = False
    kms.planned = False
    second, _ = run_once(envs, tmp_path, kms, "run-2")
    assert second.exit_code == 0
    assert second.record["incident_id"] == "run-1"
    assert [(s["id"], s["adopted"]) for s in second.record["steps"]] == [
        ("disable", True), ("revoke-grants", False), ("audit-trail", True),
        ("certificates", True), ("rotate", True)]
    assert kms.disabled == [ARN.format("mrk-4")]  # once, by the first run
    assert kms.grant_list == []
    assert Outcome(second.record["steps"][1]["outcome"]) is Outcome.DONE
    assert len(list((tmp_path / "ev" / "incidents").glob("*.json"))) == 2


def test_execute_asks_for_the_generation_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyplane.commands.incident as cmd
    from keyplane.incident.errors import NotConfirmedError

    monkeypatch.setattr(cmd.sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter(["code-signing@g4", "code-signing"])
    monkeypatch.setattr(cmd.click, "prompt", lambda *a, **k: next(answers))
    cmd._confirm("code-signing@g4", yes=False)  # typed right: goes on
    with pytest.raises(NotConfirmedError, match="confirmation 'code-signing' is not "
                       "code-signing@g4: nothing was changed"):
        cmd._confirm("code-signing@g4", yes=False)
    monkeypatch.setattr(cmd.sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(NotConfirmedError, match="confirm with --yes"):
        cmd._confirm("code-signing@g4", yes=False)
    cmd._confirm("code-signing@g4", yes=True)
