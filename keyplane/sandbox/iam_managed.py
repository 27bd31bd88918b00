"""AWS managed IAM policies in the sandbox (`arn:aws:iam::aws:policy/...`).

In AWS every account sees AWS's managed policies; moto loads them only when told to
(`MOTO_IAM_LOAD_MANAGED_POLICIES`), for all accounts and all 1,500-odd policies at once.
The front instead puts into an account's IAM the managed policies a request names, taken
from moto's own copy of AWS's catalogue (real paths and documents), the first time that
account asks: attaching `.../service-role/AWSBackupServiceRolePolicyForBackup` works as in
AWS, and a policy at a path where AWS has none is still refused (`NoSuchEntity`).
"""

from __future__ import annotations

import json
import re
import threading
from functools import cache
from typing import Any

AWS_MANAGED_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::aws:policy(/(?:[^/]+/)*)([^/]+)$")
# Query parameters of IAM operations that name a policy by ARN.
POLICY_ARN_PARAMS = ("PolicyArn", "PermissionsBoundary")


@cache
def _catalogue() -> dict[str, dict[str, Any]]:
    """moto's copy of AWS's managed policies, by name (loaded once, on first use)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, dict[str, Any]] = json.loads(aws_managed_policies_data)
    return data


class ManagedPolicies:
    """Adds AWS managed policies to moto's IAM, per account, on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: set[tuple[str, str]] = set()  # (account, arn)
        self._all: set[str] = set()  # accounts holding the whole catalogue

    @staticmethod
    def _backend(account: str, partition: str) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[account][partition]

    def ensure(self, account: str, arn: str) -> bool:
        """Make `arn` exist in `account` when AWS has that managed policy at that path;
        whether it now exists."""
        m = AWS_MANAGED_ARN.match(arn)
        if m is None:
            return False
        partition, path, name = m.groups()
        data = _catalogue().get(name)
        if data is None or data.get("Path", "/") != path:
            return False
        with self._lock:
            if (account, arn) in self._loaded:
                return True
            self._add(account, partition, name, data)
            self._loaded.add((account, arn))
        return True

    def ensure_all(self, account: str) -> None:
        """The whole catalogue in `account` (for ListPolicies with Scope AWS or All)."""
        with self._lock:
            if account in self._all:
                return
            for name, data in _catalogue().items():
                arn = f"arn:aws:iam::aws:policy{data.get('Path', '/')}{name}"
                if (account, arn) not in self._loaded:
                    self._add(account, "aws", name, data)
                    self._loaded.add((account, arn))
            self._all.add(account)

    def _add(self, account: str, partition: str, name: str, data: dict[str, Any]) -> None:
        from moto.iam.models import AWSManagedPolicy

        backend = self._backend(account, partition)
        # moto derives a policy's partition from its Region; a partition name counts as one
        region = "us-east-1" if partition == "aws" else partition
        policy = AWSManagedPolicy.from_data(name, account, region, data)
        if policy.arn not in backend.managed_policies:
            backend.aws_managed_policies.append(policy)
            backend.managed_policies[policy.arn] = policy

    def before(self, account: str, operation: str, form: dict[str, list[str]]) -> None:
        """Prepare moto for one IAM query request (its parsed form)."""
        if operation == "ListPolicies" and (form.get("Scope") or ["All"])[0] in ("All", "AWS"):
            self.ensure_all(account)
            return
        for param in POLICY_ARN_PARAMS:
            for arn in form.get(param, []):
                self.ensure(account, arn)
