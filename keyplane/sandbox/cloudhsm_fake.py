"""CloudHSM (cloudhsmv2) for the sandbox: clusters, HSMs, backups and restore from backup.

moto creates clusters and lists backups but has no HSM lifecycle and no restore,
so the AWS front sends every `BaldrApiService.*` call here. Behaviours that
matter to keyplane's drills:

- CreateCluster with SourceBackupId restores from a READY backup (of any sandbox
  account: backups are taken as shared); the cluster is CREATE_IN_PROGRESS, then
  ACTIVE once the sandbox clock has moved `cluster_seconds`;
- CreateHsm needs an ACTIVE or UNINITIALIZED cluster and an AZ of its subnets; the
  HSM is CREATE_IN_PROGRESS, then ACTIVE (or DEGRADED in an AZ set to fail);
- a new cluster (no SourceBackupId) is at once in service (ACTIVE, an HSM per subnet, a
  first backup), as `keyplane sandbox apply` through the SDKs expects, except in the
  `operator_accounts`, where it follows AWS's lifecycle for Terraform: CREATE_IN_PROGRESS,
  then UNINITIALIZED with no HSM; once one of its HSMs is ACTIVE the sandbox stands in for
  the operator's ceremony (InitializeCluster, then activation with the CloudHSM CLI, which
  have no Terraform resource) and the cluster becomes ACTIVE with a first backup;
- DeleteCluster refuses a cluster that still has HSMs; ModifyCluster sets the backup
  retention (7-379 days);
- backups carry the source cluster, state and creation time; the control endpoint
  `/_keyplane/cloudhsm` adds backups of any age and state and sets faults (a cluster
  that never leaves CREATE_IN_PROGRESS, AZs whose HSMs fail).

It is a test bed and a playground, not CloudHSM.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from keyplane.sandbox.backup_fake import SandboxClock


class HsmApiError(Exception):
    """A CloudHSM error answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Hsm:
    id: str
    az: str
    subnet: str
    created: float
    state: str = "CREATE_IN_PROGRESS"
    message: str = ""


@dataclass
class _Cluster:
    id: str
    account: str
    region: str
    subnets: dict[str, str]  # AZ -> subnet
    retention_days: str
    hsm_type: str
    created: float
    source_backup_id: str | None
    tags: dict[str, str]
    stuck: bool = False
    state: str = "CREATE_IN_PROGRESS"
    hsms: list[_Hsm] = field(default_factory=list)
    operated: bool = False  # the sandbox initializes it once an HSM is active


@dataclass
class _Backup:
    id: str
    account: str
    region: str
    cluster_id: str
    created: float
    state: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)


def _ts(epoch: float) -> float:
    """A timestamp as the CloudHSM API sends it (awsJson1_1: epoch seconds, a JSON number;
    the AWS SDK for Go refuses a string)."""
    return round(epoch, 3)


class CloudHsmFake:
    """The cloudhsmv2 operations keyplane uses, over in-memory clusters and backups."""

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.cluster_seconds = 5.0
        self.hsm_seconds = 3.0
        self.stuck_restores = False  # restored clusters never leave CREATE_IN_PROGRESS
        self.failing_azs: set[str] = set()
        self.operator_accounts: set[str] = set()  # AWS's cluster lifecycle, for Terraform
        self._lock = threading.RLock()
        self.clusters: dict[str, _Cluster] = {}
        self.backups: dict[str, _Backup] = {}

    # --- control ------------------------------------------------------------------------------

    def control(self, data: dict[str, Any]) -> dict[str, Any]:
        """Settings (`cluster_seconds`, `hsm_seconds`, `stuck_restores`, `failing_azs`,
        `operator_accounts`; `add_operator_account` adds one) or
        `{"add_backup": {"cluster_id", "age_seconds", "state"}}`."""
        with self._lock:
            if "add_backup" in data:
                spec = data["add_backup"]
                cluster = self.clusters.get(spec.get("cluster_id", ""))
                if cluster is None:
                    raise ValueError(f"no cluster {spec.get('cluster_id')!r}")
                b = self._new_backup(cluster, created=self.clock.now()
                                     - float(spec.get("age_seconds", 0)))
                b.state = spec.get("state", "READY")
                return {"BackupId": b.id}
            allowed = {"cluster_seconds", "hsm_seconds", "stuck_restores", "failing_azs",
                       "operator_accounts", "add_operator_account"}
            unknown = sorted(set(data) - allowed)
            if unknown:
                raise ValueError(f"unknown cloudhsm settings: {', '.join(unknown)}")
            for k, v in data.items():
                if k == "failing_azs":
                    self.failing_azs = set(v)
                elif k == "operator_accounts":
                    self.operator_accounts = {str(a) for a in v}
                elif k == "add_operator_account":
                    self.operator_accounts.add(str(v))
                elif k == "stuck_restores":
                    self.stuck_restores = bool(v)
                else:
                    setattr(self, k, float(v))
            return {"cluster_seconds": self.cluster_seconds, "hsm_seconds": self.hsm_seconds,
                    "stuck_restores": self.stuck_restores,
                    "failing_azs": sorted(self.failing_azs),
                    "operator_accounts": sorted(self.operator_accounts)}

    # --- helpers ------------------------------------------------------------------------------

    def _new_backup(self, cluster: _Cluster, *, created: float) -> _Backup:
        b = _Backup(id=f"backup-{uuid.uuid4().hex[:11]}", account=cluster.account,
                    region=cluster.region, cluster_id=cluster.id, created=created)
        self.backups[b.id] = b
        return b

    def _advance(self, c: _Cluster) -> None:
        now = self.clock.now()
        if c.state == "CREATE_IN_PROGRESS" and not c.stuck \
                and now - c.created >= self.cluster_seconds:
            c.state = "ACTIVE" if c.source_backup_id else "UNINITIALIZED"
        for h in c.hsms:
            if h.state == "CREATE_IN_PROGRESS" and now - h.created >= self.hsm_seconds:
                if h.az in self.failing_azs:
                    h.state, h.message = "DEGRADED", "hsm failed (injected by the keyplane sandbox)"
                else:
                    h.state = "ACTIVE"
        if c.operated and c.state == "UNINITIALIZED" and any(h.state == "ACTIVE" for h in c.hsms):
            # the operator's ceremony, done by the sandbox: initialize, activate, back up
            c.state = "ACTIVE"
            self._new_backup(c, created=now)

    def _cluster(self, account: str, region: str, cluster_id: str) -> _Cluster:
        c = self.clusters.get(cluster_id)
        if c is None or c.account != account or c.region != region or c.state == "DELETED":
            raise HsmApiError("CloudHsmResourceNotFoundException",
                              f"cluster {cluster_id} not found")
        self._advance(c)
        return c

    def _cluster_json(self, c: _Cluster) -> dict[str, Any]:
        return {
            "ClusterId": c.id, "State": c.state, "HsmType": c.hsm_type,
            "CreateTimestamp": _ts(c.created), "SubnetMapping": dict(c.subnets),
            "BackupPolicy": "DEFAULT", "SourceBackupId": c.source_backup_id,
            "BackupRetentionPolicy": {"Type": "DAYS", "Value": c.retention_days},
            "VpcId": "vpc-0sandbox", "SecurityGroup": "sg-0sandbox", "Mode": "FIPS",
            "TagList": [{"Key": k, "Value": v} for k, v in sorted(c.tags.items())],
            "Hsms": [{"HsmId": h.id, "ClusterId": c.id, "AvailabilityZone": h.az,
                      "SubnetId": h.subnet, "State": h.state, "StateMessage": h.message,
                      "HsmType": c.hsm_type, "EniId": f"eni-{h.id[-8:]}",
                      "EniIp": "10.0.0.10"} for h in c.hsms]}

    def _backup_json(self, b: _Backup) -> dict[str, Any]:
        return {"BackupId": b.id, "BackupState": b.state, "ClusterId": b.cluster_id,
                "SourceCluster": b.cluster_id, "SourceRegion": b.region,
                "BackupArn": f"arn:aws:cloudhsm:{b.region}:{b.account}:backup/{b.id}",
                "CreateTimestamp": _ts(b.created), "NeverExpires": False,
                "HsmType": "hsm2m.medium", "Mode": "FIPS",
                "TagList": [{"Key": k, "Value": v} for k, v in sorted(b.tags.items())]}

    def key_store_problem(self, account: str, region: str, cluster_id: str
                          ) -> tuple[str, str] | None:
        """Why AWS KMS would refuse a custom key store on this cluster (error code, message),
        or None: it must exist, be ACTIVE, and have two ACTIVE HSMs in different AZs."""
        with self._lock:
            c = self.clusters.get(cluster_id)
            if c is None or c.account != account or c.region != region or c.state == "DELETED":
                return ("CloudHsmClusterNotFoundException",
                        f"cloudhsm cluster {cluster_id} not found")
            self._advance(c)
            if c.state != "ACTIVE":
                return ("CloudHsmClusterNotActiveException",
                        f"cloudhsm cluster {cluster_id} is {c.state}, not ACTIVE")
            azs = {h.az for h in c.hsms if h.state == "ACTIVE"}
            if len(azs) < 2:
                return ("CloudHsmClusterInvalidConfigurationException",
                        f"cloudhsm cluster {cluster_id} needs active hsms in at least two "
                        f"availability zones, has {len(azs)}")
            return None

    # --- operations -----------------------------------------------------------------------------

    def CreateCluster(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        subnets = list(p.get("SubnetIds") or [])
        if not subnets:
            raise HsmApiError("CloudHsmInvalidRequestException", "SubnetIds is required")
        source = p.get("SourceBackupId")
        now = self.clock.now()
        with self._lock:
            if source is not None:
                b = self.backups.get(source)
                if b is None or b.region != region:
                    raise HsmApiError("CloudHsmResourceNotFoundException",
                                      f"backup {source} not found")
                if b.state != "READY":
                    raise HsmApiError("CloudHsmInvalidRequestException",
                                      f"backup {source} is {b.state}, not READY")
            azs = p.get("_SubnetAzs") or {}
            mapping = {azs.get(s, f"{region}{'abcdef'[i % 6]}"): s for i, s in enumerate(subnets)}
            pol = p.get("BackupRetentionPolicy") or {"Type": "DAYS", "Value": "90"}
            c = _Cluster(id=f"cluster-{uuid.uuid4().hex[:11]}", account=account, region=region,
                         subnets=mapping, retention_days=str(pol.get("Value", "90")),
                         hsm_type=p.get("HsmType", "hsm2m.medium"), created=now,
                         source_backup_id=source,
                         tags={t["Key"]: t["Value"] for t in p.get("TagList") or []},
                         stuck=bool(source) and self.stuck_restores)
            if source is None and account in self.operator_accounts:
                c.operated = True
            elif source is None:
                # the environment's own cluster (sandbox apply): in service, with an HSM per
                # subnet and a fresh backup, as a deployed cluster would be
                c.state = "ACTIVE"
                c.hsms = [_Hsm(id=f"hsm-{uuid.uuid4().hex[:11]}", az=az, subnet=s, created=now,
                               state="ACTIVE") for az, s in mapping.items()]
                self.clusters[c.id] = c
                self._new_backup(c, created=now)
            self.clusters[c.id] = c
            return {"Cluster": self._cluster_json(c)}

    def DescribeClusters(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        filters = p.get("Filters") or {}
        with self._lock:
            out = []
            for c in self.clusters.values():
                if c.account != account or c.region != region:
                    continue
                self._advance(c)
                if "clusterIds" in filters and c.id not in filters["clusterIds"]:
                    continue
                if "states" in filters and c.state not in filters["states"]:
                    continue
                out.append(self._cluster_json(c))
            return {"Clusters": out}

    def ModifyCluster(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """The backup retention policy (`DAYS`, 7-379), the one setting ModifyCluster has."""
        pol = p.get("BackupRetentionPolicy") or {}
        value = str(pol.get("Value", ""))
        if pol.get("Type", "DAYS") != "DAYS" or not value.isdigit() \
                or not 7 <= int(value) <= 379:
            raise HsmApiError("CloudHsmInvalidRequestException",
                              f"BackupRetentionPolicy must be DAYS between 7 and 379, got {pol}")
        with self._lock:
            c = self._cluster(account, region, p.get("ClusterId", ""))
            c.retention_days = value
            return {"Cluster": self._cluster_json(c)}

    def DeleteCluster(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            c = self._cluster(account, region, p.get("ClusterId", ""))
            if c.hsms:
                raise HsmApiError("CloudHsmInvalidRequestException",
                                  f"cluster {c.id} still has {len(c.hsms)} hsm(s); delete them first")
            c.state = "DELETED"
            return {"Cluster": self._cluster_json(c)}

    def CreateHsm(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            c = self._cluster(account, region, p.get("ClusterId", ""))
            if c.state not in ("ACTIVE", "UNINITIALIZED", "DEGRADED"):
                raise HsmApiError("CloudHsmInvalidRequestException",
                                  f"cluster {c.id} is {c.state}; hsms can be added to an active "
                                  "or uninitialized cluster")
            az = p.get("AvailabilityZone", "")
            if az not in c.subnets:
                raise HsmApiError("CloudHsmInvalidRequestException",
                                  f"availability zone {az} has no subnet in cluster {c.id} "
                                  f"(subnets in {', '.join(sorted(c.subnets))})")
            h = _Hsm(id=f"hsm-{uuid.uuid4().hex[:11]}", az=az, subnet=c.subnets[az],
                     created=self.clock.now())
            c.hsms.append(h)
            self._advance(c)
            return {"Hsm": {"HsmId": h.id, "ClusterId": c.id, "AvailabilityZone": az,
                            "SubnetId": h.subnet, "State": h.state}}

    def DeleteHsm(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            c = self._cluster(account, region, p.get("ClusterId", ""))
            h = next((h for h in c.hsms if h.id == p.get("HsmId")), None)
            if h is None:
                raise HsmApiError("CloudHsmResourceNotFoundException",
                                  f"hsm {p.get('HsmId')} not found in cluster {c.id}")
            c.hsms.remove(h)
            return {"HsmId": h.id}

    def DescribeBackups(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        filters = p.get("Filters") or {}
        with self._lock:
            found = [b for b in self.backups.values() if b.region == region
                     and (b.account == account or p.get("Shared"))]
            if "clusterIds" in filters:
                found = [b for b in found if b.cluster_id in filters["clusterIds"]]
            if "backupIds" in filters:
                found = [b for b in found if b.id in filters["backupIds"]]
            if "states" in filters:
                found = [b for b in found if b.state in filters["states"]]
            found.sort(key=lambda b: b.created, reverse=not p.get("SortAscending", False))
            return {"Backups": [self._backup_json(b) for b in found]}

    def TagResource(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            target = self.clusters.get(p.get("ResourceId", "")) or \
                self.backups.get(p.get("ResourceId", ""))
            if target is None:
                raise HsmApiError("CloudHsmResourceNotFoundException",
                                  f"resource {p.get('ResourceId')} not found")
            target.tags.update({t["Key"]: t["Value"] for t in p.get("TagList") or []})
            return {}

    def ListTags(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            target = self.clusters.get(p.get("ResourceId", "")) or \
                self.backups.get(p.get("ResourceId", ""))
            if target is None:
                raise HsmApiError("CloudHsmResourceNotFoundException",
                                  f"resource {p.get('ResourceId')} not found")
            return {"TagList": [{"Key": k, "Value": v} for k, v in sorted(target.tags.items())]}

    def handle(self, operation: str, account: str, region: str, params: dict[str, Any]
               ) -> dict[str, Any]:
        """Answer one call; HsmApiError for an operation the fake does not know."""
        method = getattr(self, operation, None)
        if method is None or not operation[:1].isupper():
            raise HsmApiError("CloudHsmServiceException",
                              f"{operation} is not implemented by the keyplane sandbox")
        result: dict[str, Any] = method(account, region, params)
        return result
