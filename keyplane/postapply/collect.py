"""Reading the deployed state through the ports, in a bounded thread pool.

One task per Region-level list and one per key. A throttled or denied read makes
that resource (or facet) UNKNOWN and the run goes on; AccessDenied on a Region's
key list makes the whole Region UNKNOWN and the other Regions go on; expired
credentials stop the run: no new task starts, and what was read is kept so the
report can be resumed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

from keyplane.findings import Control
from keyplane.model.specs import AWS_KEY_SPECS, Cloud, KeyFamily, Origin, rotation_eligibility
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.ports import (
    AlertPolicy,
    Alias,
    AwsKey,
    AwsRegionReader,
    BackupVault,
    CloudHsmCluster,
    CredentialsExpired,
    CryptoKey,
    CryptoKeyVersion,
    CustomKeyStore,
    GcpProjectReader,
    Grant,
    IamBinding,
    IamRole,
    KeyRotation,
    LogGroup,
    LogMetric,
    MetricAlarm,
    MetricFilter,
    NotFound,
    ReadError,
    RotationStatus,
    Trail,
)
from keyplane.postapply.report import Unknown

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64


class Facet(StrEnum):
    """What a job needs read."""

    TAGS = "tags"
    ROTATION = "rotation"  # GetKeyRotationStatus
    ROTATIONS = "rotations"  # ListKeyRotations
    POLICY = "policy"
    GRANTS = "grants"
    ALIASES = "aliases"
    KEY_STORES = "key-stores"
    TRAILS = "trails"
    LOG_GROUPS = "log-groups"
    VAULTS = "vaults"
    CLUSTERS = "clusters"
    ROLES = "roles"
    ALARMS = "alarms"  # DescribeMetricFilters (audit log group) and DescribeAlarms
    GCP_VERSIONS = "gcp-versions"
    GCP_IAM = "gcp-iam"
    GCP_ALERTS = "gcp-alerts"  # ListLogMetrics and ListAlertPolicies of the project
    GCP_PROJECT_IAM = "gcp-project-iam"  # the project's GetIamPolicy (Resource Manager)

    @property
    def control(self) -> Control:
        """The control a failed read of this facet leaves unproven."""
        return _FACET_CONTROL.get(self, Control.PROTECTION)


_FACET_CONTROL = {Facet.ROTATION: Control.ROTATION, Facet.ROTATIONS: Control.ROTATION,
                  Facet.POLICY: Control.ACCESS, Facet.GRANTS: Control.ACCESS,
                  Facet.ROLES: Control.ACCESS, Facet.GCP_IAM: Control.ACCESS,
                  Facet.GCP_PROJECT_IAM: Control.ACCESS,
                  Facet.TRAILS: Control.AUDIT, Facet.LOG_GROUPS: Control.AUDIT,
                  Facet.ALARMS: Control.AUDIT, Facet.GCP_ALERTS: Control.AUDIT,
                  Facet.VAULTS: Control.BACKUP, Facet.CLUSTERS: Control.BACKUP}


@dataclass
class ObservedAwsKey:
    """One key as read: DescribeKey plus the facets asked for (None = not read or unknown)."""

    key: AwsKey
    tags: dict[str, str] | None = None
    rotation: RotationStatus | None = None
    rotations: list[KeyRotation] | None = None
    policy: dict[str, Any] | None = None
    grants: list[Grant] | None = None
    unknown: dict[str, str] = field(default_factory=dict)  # facet -> reason


@dataclass
class ObservedGcpKey:
    """One crypto key as read, with its versions and IAM bindings."""

    key: CryptoKey
    versions: list[CryptoKeyVersion] | None = None
    iam: list[IamBinding] | None = None
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass
class Observed:
    """The deployed state as far as it could be read."""

    aws_keys: list[ObservedAwsKey] = field(default_factory=list)
    aliases: dict[str, list[Alias]] = field(default_factory=dict)  # region -> aliases
    key_stores: list[CustomKeyStore] | None = None
    trails: list[Trail] | None = None
    log_groups: list[LogGroup] | None = None
    vaults: list[BackupVault] | None = None
    clusters: list[CloudHsmCluster] | None = None
    roles: list[IamRole] | None = None
    metric_filters: list[MetricFilter] | None = None  # of the declared log groups
    alarms: list[MetricAlarm] | None = None  # named keyplane-<env>-*
    gcp_keys: list[ObservedGcpKey] = field(default_factory=list)
    gcp_ring_iam: dict[str, list[IamBinding]] = field(default_factory=dict)
    gcp_log_metrics: list[LogMetric] | None = None  # of the project
    gcp_alert_policies: list[AlertPolicy] | None = None  # of the project
    gcp_project_iam: list[IamBinding] | None = None  # the project's own IAM policy
    unknown_regions: set[str] = field(default_factory=set)
    unknown_locations: set[str] = field(default_factory=set)
    unknowns: list[Unknown] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    stopped: str | None = None


ProgressFn = Callable[[int, int], None]


def rotation_applicable(key: AwsKey) -> bool:
    """Whether AWS can rotate this key automatically (the one eligibility function decides)."""
    info = AWS_KEY_SPECS.get(key.key_spec)
    family = info.family if info else KeyFamily.ASYMMETRIC
    origin = {"AWS_KMS": Origin.KMS, "AWS_CLOUDHSM": Origin.CLOUDHSM}.get(key.origin,
                                                                          Origin.EXTERNAL)
    return bool(rotation_eligibility(cloud=Cloud.AWS, family=family, origin=origin,
                                     custom_key_store=key.custom_key_store_id is not None,
                                     multi_region_replica=key.multi_region_role == "REPLICA"))


class Collector:
    """Runs the reads of one job with bounded concurrency."""

    def __init__(self, *, state: ExpectedState, aws: Mapping[str, AwsRegionReader] | None,
                 gcp: GcpProjectReader | None, needs: set[Facet],
                 concurrency: int = DEFAULT_CONCURRENCY, progress: ProgressFn | None = None,
                 skip: set[str] | None = None) -> None:
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, "
                             f"got {concurrency}")
        self.state = state
        self.aws = dict(aws or {})
        self.gcp = gcp
        self.needs = needs
        self.concurrency = concurrency
        self.progress = progress
        self.skip = skip or set()
        self.out = Observed()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = 0
        self._total = 0

    # --- bookkeeping ------------------------------------------------------------------------

    def _unknown(self, resource: str, err: ReadError, *, key: str | None = None,
                 facet: Facet | None = None) -> None:
        with self._lock:
            self.out.unknowns.append(Unknown(resource=resource, reason=err.describe(),
                                             region=err.region, key=key,
                                             facet=facet.value if facet else None))

    def _expired(self, err: CredentialsExpired) -> None:
        with self._lock:
            if self.out.stopped is None:
                self.out.stopped = (f"credentials expired ({err.code} on {err.operation}); "
                                    "the report lists what was checked; re-run with --resume")
        self._stop.set()

    def _tick(self, added: int = 0, done: int = 0) -> None:
        with self._lock:
            self._total += added
            self._done += done
            total, finished = self._total, self._done
        if self.progress:
            self.progress(finished, total)

    def _guard(self, fn: Callable[[], None]) -> None:
        if self._stop.is_set():
            self._tick(done=1)
            return
        try:
            fn()
        except CredentialsExpired as err:
            self._expired(err)
        except Exception as exc:  # a defect must never read as "no drift"
            with self._lock:
                self.out.unknowns.append(Unknown(
                    resource="keyplane", reason=f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            self._tick(done=1)

    # --- AWS ----------------------------------------------------------------------------------

    def _read_region(self, region: str, reader: AwsRegionReader, pool: ThreadPoolExecutor,
                     futures: list[Any]) -> None:
        try:
            ids = reader.list_key_ids()
        except ReadError as err:
            if isinstance(err, CredentialsExpired):
                raise
            with self._lock:
                self.out.unknown_regions.add(region)
            self._unknown(f"aws:{region}", err)
            return
        if Facet.ALIASES in self.needs:
            try:
                aliases = reader.aliases()
                with self._lock:
                    self.out.aliases[region] = aliases
            except CredentialsExpired:
                raise
            except ReadError as err:
                self._unknown(f"aws:{region}:aliases", err)
        self._tick(added=len(ids))
        for key_id in ids:
            futures.append(pool.submit(self._guard, partial(self._read_key, reader, key_id)))

    def _read_key(self, reader: AwsRegionReader, key_id: str) -> None:
        try:
            key = reader.describe_key(key_id)
        except NotFound:
            return  # deleted between ListKeys and DescribeKey
        except CredentialsExpired:
            raise
        except ReadError as err:
            self._unknown(f"arn:aws:kms:{reader.region}::key/{key_id}", err)
            return
        if key.key_manager != "CUSTOMER":
            return
        if key.arn in self.skip:
            return
        obs = ObservedAwsKey(key=key)
        steps: list[tuple[Facet, Callable[[], Any], str]] = [
            (Facet.TAGS, lambda: reader.key_tags(key.key_id), "tags")]
        deleting = key.key_state in ("PendingDeletion", "PendingReplicaDeletion")
        if rotation_applicable(key) and not deleting:
            steps.append((Facet.ROTATION, lambda: reader.rotation_status(key.key_id), "rotation"))
            steps.append((Facet.ROTATIONS, lambda: reader.key_rotations(key.key_id), "rotations"))
        steps.append((Facet.POLICY, lambda: reader.key_policy(key.key_id), "policy"))
        steps.append((Facet.GRANTS, lambda: reader.grants(key.key_id), "grants"))
        for facet, fn, attr in steps:
            if facet is not Facet.TAGS and facet not in self.needs:
                continue
            if self._stop.is_set():
                return
            try:
                setattr(obs, attr, fn())
            except CredentialsExpired:
                raise
            except ReadError as err:
                obs.unknown[facet.value] = err.describe()
                self._unknown(key.arn, err, facet=facet)
        with self._lock:
            self.out.aws_keys.append(obs)
            if not obs.unknown:
                self.out.checked.add(key.arn)

    def _read_shared(self, what: Facet, attr: str, fn: Callable[[], Any], resource: str) -> None:
        try:
            value = fn()
        except CredentialsExpired:
            raise
        except ReadError as err:
            self._unknown(resource, err, facet=what)
            return
        with self._lock:
            setattr(self.out, attr, value)

    # --- GCP ----------------------------------------------------------------------------------

    def _read_location(self, location: str, pool: ThreadPoolExecutor, futures: list[Any]) -> None:
        assert self.gcp is not None
        gcp = self.gcp
        try:
            rings = gcp.key_rings(location)
        except CredentialsExpired:
            raise
        except ReadError as err:
            with self._lock:
                self.out.unknown_locations.add(location)
            self._unknown(f"gcp:projects/{gcp.project}/locations/{location}", err)
            return
        for ring in rings:
            try:
                keys = gcp.crypto_keys(ring)
            except CredentialsExpired:
                raise
            except ReadError as err:
                with self._lock:
                    self.out.unknown_locations.add(location)
                self._unknown(ring, err)
                continue
            if Facet.GCP_IAM in self.needs:
                try:
                    bindings = gcp.iam_policy(ring)
                    with self._lock:
                        self.out.gcp_ring_iam[ring] = bindings
                except CredentialsExpired:
                    raise
                except ReadError as err:
                    self._unknown(ring, err)
            self._tick(added=len(keys))
            for key in keys:
                futures.append(pool.submit(self._guard, partial(self._read_crypto_key, key)))

    def _read_crypto_key(self, key: CryptoKey) -> None:
        assert self.gcp is not None
        if key.name in self.skip:
            return
        obs = ObservedGcpKey(key=key)
        for facet, attr, fn in ((Facet.GCP_VERSIONS, "versions", self.gcp.versions),
                                (Facet.GCP_IAM, "iam", self.gcp.iam_policy)):
            if facet not in self.needs or self._stop.is_set():
                continue
            try:
                setattr(obs, attr, fn(key.name))
            except CredentialsExpired:
                raise
            except ReadError as err:
                obs.unknown[facet.value] = err.describe()
                self._unknown(key.name, err, facet=facet)
        with self._lock:
            self.out.gcp_keys.append(obs)
            if not obs.unknown:
                self.out.checked.add(key.name)

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Observed:
        """Read everything the job needs; never raises for a read failure."""
        futures: list[Any] = []
        home = self.state.env.aws.region if self.state.env.aws else None
        with ThreadPoolExecutor(max_workers=self.concurrency,
                                thread_name_prefix="keyplane-read") as pool:
            listing: list[Any] = []
            for region, reader in self.aws.items():
                self._tick(added=1)
                listing.append(pool.submit(self._guard, partial(self._read_region, region, reader,
                                                                pool, futures)))
            home_reader = self.aws.get(home) if home else None
            if home_reader is not None:
                reader = home_reader
                shared = [(Facet.KEY_STORES, "key_stores", reader.custom_key_stores),
                          (Facet.TRAILS, "trails", reader.trails),
                          (Facet.LOG_GROUPS, "log_groups", reader.log_groups),
                          (Facet.VAULTS, "vaults", reader.backup_vaults),
                          (Facet.CLUSTERS, "clusters", reader.cloudhsm_clusters),
                          (Facet.ROLES, "roles",
                           lambda: reader.roles(f"keyplane-{self.state.env.name}-")),
                          (Facet.ALARMS, "metric_filters", lambda: [
                              f for group in self.state.alarm_log_groups
                              for f in reader.metric_filters(group)]),
                          (Facet.ALARMS, "alarms",
                           lambda: reader.alarms(f"keyplane-{self.state.env.name}-"))]
                # a failed read is named after what it reads: aws:<region>:roles, ...:metric-filters
                for facet, attr, fn in shared:
                    if facet in self.needs:
                        self._tick(added=1)
                        listing.append(pool.submit(self._guard, partial(
                            self._read_shared, facet, attr, fn,
                            f"aws:{home}:{attr.replace('_', '-')}")))
            if self.gcp is not None:
                for location in self.state.gcp_locations:
                    self._tick(added=1)
                    listing.append(pool.submit(self._guard, partial(self._read_location, location,
                                                                    pool, futures)))
                # read only where the stack declares alerts: nothing else would judge them
                if Facet.GCP_ALERTS in self.needs and self.state.gcp_alerts:
                    where = f"gcp:projects/{self.gcp.project}"
                    for attr, fn, what in (
                            ("gcp_log_metrics", self.gcp.log_metrics, "log-metrics"),
                            ("gcp_alert_policies", self.gcp.alert_policies, "alert-policies")):
                        self._tick(added=1)
                        listing.append(pool.submit(self._guard, partial(
                            self._read_shared, Facet.GCP_ALERTS, attr, fn, f"{where}:{what}")))
                if Facet.GCP_PROJECT_IAM in self.needs:
                    self._tick(added=1)
                    listing.append(pool.submit(self._guard, partial(
                        self._read_shared, Facet.GCP_PROJECT_IAM, "gcp_project_iam",
                        self.gcp.project_iam_policy,
                        f"gcp:projects/{self.gcp.project}:iam-policy")))
            wait(listing)
            # key tasks are submitted by the listing tasks; wait until none is added any more
            seen = 0
            while seen < len(futures):
                batch = futures[seen:]
                seen = len(futures)
                wait(batch)
        return self.out
