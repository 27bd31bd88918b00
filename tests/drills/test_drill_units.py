"""Drill logic without a cloud: waiter, locks, journal, offline crypto, planning, comparison."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keyplane.audit.events import AuditLog, MemorySink
from keyplane.cloudcall import Throttled
from keyplane.drills import lock as lock_mod
from keyplane.drills.backup import BackupSettings, compare, scratch_name
from keyplane.drills.crypto import sign_locally, signing_algorithms, verify_offline
from keyplane.drills.deadlines import restore_deadline
from keyplane.drills.errors import AlreadyRunningError, DrillSetupError, WaitTimeout
from keyplane.drills.journal import DrillResource, Journal, LocalJournalStore
from keyplane.drills.runner import SCHEDULE, plan
from keyplane.drills.waiter import Poll, Timing, Waiter
from keyplane.model import load_estate
from keyplane.model.tiers import TIERS, Tier
from tests.conftest import EXAMPLE_ENVIRONMENTS


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s

    def timing(self) -> Timing:
        return Timing(clock=lambda: self.t, sleep=self.sleep)


def test_waiter_returns_the_first_done_response_and_treats_throttling_as_not_yet() -> None:
    ft = FakeTime()
    answers = iter([Poll(False, "a", "PENDING"), Throttled("Describe", "Throttling"),
                    Poll(True, "done")])

    def poll() -> Poll:
        got = next(answers)
        if isinstance(got, Exception):
            raise got
        return got
    w = Waiter(name="job 1", delay_seconds=30, deadline_seconds=600, timing=ft.timing())
    assert (w.wait(poll), w.polls, ft.sleeps) == ("done", 3, [30, 30])


def test_fails_waiter_timeout_carries_name_reason_and_last_response() -> None:
    ft = FakeTime()
    w = Waiter(name="restore job X", delay_seconds=40, deadline_seconds=100, timing=ft.timing())
    with pytest.raises(WaitTimeout) as info:
        w.wait(lambda: Poll(False, {"Status": "RUNNING"}, "state RUNNING"))
    exc = info.value
    assert (exc.code, exc.name, exc.reason, exc.last_response) == (
        "KP705", "restore job X", "state RUNNING", {"Status": "RUNNING"})
    assert exc.message == "restore job X did not finish within 100 s: state RUNNING"
    assert ft.sleeps == [40, 40, 20]


def test_file_lock_single_flight_expiry_and_owner_release(tmp_path: Path) -> None:
    store = lock_mod.FileLock(tmp_path)
    assert store.acquire("prod/backup/db", "run-1", now=0, expires_at=100) is None
    holder = store.acquire("prod/backup/db", "run-2", now=50, expires_at=150)
    assert holder is not None and (holder.owner, holder.expires_at) == ("run-1", 100)
    store.release("prod/backup/db", "run-2")  # not the owner: nothing happens
    assert store.acquire("prod/backup/db", "run-2", now=60, expires_at=160) is not None
    assert store.acquire("prod/backup/db", "run-2", now=101, expires_at=200) is None  # expired
    store.release("prod/backup/db", "run-2")
    assert store.acquire("prod/backup/db", "run-3", now=102, expires_at=300) is None


def test_fails_held_lock_says_already_running_with_owner_and_heartbeat(tmp_path: Path) -> None:
    store = lock_mod.FileLock(tmp_path)
    store.acquire("prod/cloudhsm/cluster", "run-1 ci", now=0, expires_at=1_800_000_000)
    with pytest.raises(AlreadyRunningError) as info, lock_mod.held(
            store, env="prod", target="cloudhsm/cluster", owner="run-2", clock=lambda: 10.0):
        pass
    assert (info.value.code, info.value.exit_code, info.value.message) == (
        "KP702", 3, "drill cloudhsm/cluster of prod is already running (owner run-1 ci, last "
                    "heartbeat 2027-01-15T07:55:00Z); if that run died, its lock is taken over "
                    "after 2027-01-15T08:00:00Z")


def test_a_live_run_beats_and_a_dead_one_is_taken_over_with_a_note(tmp_path: Path) -> None:
    store = lock_mod.FileLock(tmp_path)
    now = [1000.0]
    lease_s = lock_mod.LEASE_SECONDS
    with lock_mod.held(store, env="prod", target="backup/db", owner="run-1",
                       clock=lambda: now[0]) as lease:
        assert lease.taken_over is None
        now[0] += lease_s * 0.9  # a long restore poll later: the lease is renewed
        lease.beat()
        holder = store.peek("prod/backup/db")
        assert holder is not None and holder.expires_at == now[0] + lease_s
        # another run now finds it alive, although the first lease would have ended
        now[0] += lease_s * 0.2
        with pytest.raises(AlreadyRunningError), lock_mod.held(
                store, env="prod", target="backup/db", owner="run-2", clock=lambda: now[0]):
            pass
        # run-1 is killed here: no release, no more beats
        store.release = lambda name, owner: None  # type: ignore[method-assign]
    del store.release
    now[0] += lease_s  # one silent lease later
    with lock_mod.held(store, env="prod", target="backup/db", owner="run-3",
                       clock=lambda: now[0]) as taken:
        assert taken.taken_over is not None
        assert taken.taken_over.startswith("took over the lock of run-1, whose heartbeat "
                                           "stopped after ")
        assert taken.taken_over.endswith("; its journal is adopted")
    assert store.peek("prod/backup/db") is None  # released by its owner


def test_journal_open_entries_follow_the_latest_event_per_resource(tmp_path: Path) -> None:
    store = LocalJournalStore(tmp_path)
    first = Journal(store, target="backup/db", run_id="r1", clock=lambda: 0.0)
    job = DrillResource(kind="restore-job", id="J1", account="1")
    copy = DrillResource(kind="scratch", id="arn:t")
    first.intent(job)
    first.created(job)
    first.created(copy)
    first.deleted(copy)
    with (tmp_path / "backup_db.jsonl").open("a") as fh:
        fh.write('{"torn": ')  # killed mid-write
    second = Journal(store, target="backup/db", run_id="r2", clock=lambda: 10.0)
    opened = second.open_entries()
    assert [(o.run_id, o.event, o.resource.id) for o in opened] == [("r1", "created", "J1")]
    second.gone(job, "r1")
    assert second.open_entries() == []


def test_offline_verification_accepts_good_and_rejects_bad_signatures() -> None:
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for priv, spec in ((ec_key, "ECC_NIST_P384"), (rsa_key, "RSA_2048")):
        pub = priv.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        algs = signing_algorithms("aws", spec)
        assert algs
        for alg in algs:
            digest = os.urandom(alg.digest_size)
            sig = sign_locally(priv, alg, digest)
            assert verify_offline(pub, alg, digest, sig)
            assert not verify_offline(pub, alg, digest, sig[:-1] + bytes([sig[-1] ^ 1]))
            assert not verify_offline(pub, alg, os.urandom(alg.digest_size), sig)
    assert [a.scheme for a in signing_algorithms("aws", "RSA_3072")] == ["PSS", "PKCS1"]
    assert [(a.scheme, a.hash_name) for a in signing_algorithms(
        "gcp", "RSA_SIGN_PKCS1_4096_SHA512")] == [("PKCS1", "SHA512")]
    assert signing_algorithms("aws", "ML_DSA_65") == ()


def test_plan_follows_the_tier_schedule() -> None:
    env = load_estate([EXAMPLE_ENVIRONMENTS / "prod.yaml"]).get("prod")
    got = sorted(d.target for d in plan(env))
    assert "cloudhsm/cluster" in got and "backup/ca-database" in got
    assert "replica/code-signing" in got and "sign-canary/pki-root-ca" in got
    assert [d.target for d in plan(env, key="code-signing")] == [
        "sign-canary/code-signing", "replica/code-signing"]
    assert [d.target for d in plan(env, key="ca-database")] == ["backup/ca-database"]
    assert {d.kind for d in plan(env, tier="ca")} == {"cloudhsm", "sign-canary"}
    assert SCHEDULE[Tier.EPHEMERAL] == ()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"key": "nope"}, "key nope is not declared in environment dev; declared: dev-tls-issuer, "
                      "ci-job-data, per-deploy-data, webhook-hmac"),
    ({"key": "ci-job-data"}, "no drill applies to key ci-job-data of dev on the tier schedule "
                             "(ephemeral keys are never drilled; replica needs a multi-region "
                             "key, escrow an external key, cloudhsm a cluster, backup "
                             "backed-up resources)"),
    ({"kinds": ("restore",)}, "--kind must be one of sign-canary, replica, cloudhsm, backup, "
                              "escrow, got restore"),
])
def test_fails_plan_for_a_selection_with_nothing_to_drill(kwargs: dict, message: str) -> None:
    env = load_estate([EXAMPLE_ENVIRONMENTS / "dev.yaml"]).get("dev")
    with pytest.raises(DrillSetupError) as info:
        plan(env, **kwargs)
    assert (info.value.code, info.value.message) == ("KP704", message)


def test_compare_and_scratch_names() -> None:
    ok, diff = compare({"a": "1", "b": "2"}, {"a": "1", "b": "2", "c": "3"})
    assert ok and diff["restored_count"] == 3
    ok, diff = compare({"a": "1", "b": "2"}, {"a": "x"})
    assert (ok, diff["missing"], diff["altered"]) == (False, ["b"], ["a"])
    name = scratch_name("20261128T211929Z-85f73a129ad8", "Certificate_Inventory")
    assert name == "kp-drill-20261128t211929z-85f73a129ad8-certificate-inventory"
    assert len(scratch_name("20261128T211929Z-85f73a129ad8", "x" * 80)) == 63


def test_fails_forensic_window_outside_the_validation_window_limit() -> None:
    with pytest.raises(ValueError) as info:
        BackupSettings(vault="v", backup_role_arn="r", restore_role_arn="r",
                       forensic_keep_hours=200)
    assert str(info.value) == "forensic_keep_hours must be between 0 and 168 hours, got 200"


def test_deadlines_cover_every_drilled_tier() -> None:
    for tier in Tier:
        drilled = TIERS[tier].drill_cadence_in_days is not None
        assert (TIERS[tier].restore_deadline_in_minutes is not None) == drilled
    assert restore_deadline(Tier.PRODUCTION, 0.01) == 72.0


def test_audit_events_of_a_step_hold_identifiers_only() -> None:
    from keyplane.drills.base import DrillContext

    sink = MemorySink()
    env = load_estate([EXAMPLE_ENVIRONMENTS / "dev.yaml"]).get("dev")
    ctx = DrillContext(env=env, run_id="r", identity="me", audit=AuditLog(
        sinks=[sink], command="drill", actor="me"), journal_store=LocalJournalStore(Path("/x")))
    ctx.step("backup.validate", "arn:x", outcome="failed", reason="2 missing", count=3)
    e = sink.events[0]
    assert (e.action, e.outcome, e.resource, e.details) == (
        "drill.backup.validate", "failed", "arn:x", {"count": 3})


@pytest.mark.parametrize(("outcomes", "locked", "exit_code"), [
    ((), False, 0), (("PASSED", "SKIPPED"), False, 0), (("PASSED", "TIMED_OUT"), False, 3),
    (("ERROR", "PASSED"), False, 3), (("TIMED_OUT", "KEY_STATE"), False, 1),
    (("INTEGRITY_ALARM",), False, 1), (("PASSED",), True, 3)])
def test_a_run_exits_by_the_findings_of_its_results(outcomes: tuple[str, ...], locked: bool,
                                                     exit_code: int) -> None:
    from keyplane.audit.evidence import DrillResult
    from keyplane.drills.runner import DrillReport

    report = DrillReport(environment="dev", run_id="r", identity="me",
                         already_running=["drill sign-canary/k is already running"] if locked
                         else [])
    report.results = [DrillResult(
        run_id="r", environment="dev", kind="sign-canary", key="k", generation=n, tier="ca",
        started_at="2026-01-01T00:00:00Z", ended_at="2026-01-01T00:00:01Z", outcome=o,
        reason="why", identity="me", cloud="gcp").with_finding_fields()
        for n, o in enumerate(outcomes, 1)]
    data = report.to_dict()
    assert (report.exit_code, data["exit_code"], data["schema_version"]) == (exit_code, exit_code, "1")
    assert [(f["resource"], f["severity"], f["cloud"]) for f in data["findings"]] == [
        (f"k@g{n}", "critical", "gcp") for n in range(1, len(outcomes) + 1)]
