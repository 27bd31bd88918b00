"""Creating and connecting an environment's CloudHSM custom key store, outside Terraform.

An `aws_kms_custom_key_store` resource would carry the kmsuser password as an argument:
in every plan file and in the state, for as long as the state lives (the AWS provider has
no write-only argument for it). keyplane creates and connects the store itself instead:
the password is read from its SSM SecureString at run time, passed to KMS, and dropped;
it is never printed, logged, written or put in an exception. The ca keys of `<env>-aws`
find the store by name (`data.aws_kms_custom_key_store`).

Order on AWS: `<env>-aws-hsm` applied -> the cluster initialized and activated, kmsuser
created and its password put in SSM (the ceremony) -> `keyplane keystore connect ENV` ->
`<env>-aws` applied. AWS connects asynchronously (CONNECTING for up to about 20 minutes);
`connect` waits for CONNECTED or a failure code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keyplane.errors import KeyplaneError

KEYSTORE_SETUP = "KP840"  # bad input or a missing prerequisite: exit 2
KEYSTORE_NOT_READY = "KP841"  # the cluster is not ACTIVE yet, or connecting timed out: exit 3
KEYSTORE_FAILED = "KP842"  # AWS refused the store or the connection: exit 1

# KMS ConnectionErrorCode values and what the operator does about them (AWS KMS developer
# guide, "Troubleshooting a custom key store").
CONNECTION_ERROR_HINTS: Mapping[str, str] = {
    "INVALID_CREDENTIALS": "the kmsuser password in SSM does not match kmsuser in the cluster; "
                           "set it in the cluster, then `keyplane keystore connect --update-password`",
    "USER_LOCKED_OUT": "kmsuser is locked out of the cluster; change its password with the "
                       "CloudHSM CLI, then `keyplane keystore connect --update-password`",
    "USER_LOGGED_IN": "kmsuser is logged in to the cluster with the CloudHSM CLI; log it out",
    "USER_NOT_FOUND": "the cluster has no kmsuser crypto user; create it (the ceremony)",
    "INSUFFICIENT_CLOUDHSM_HSMS": "the cluster needs active HSMs in two Availability Zones",
    "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET": "a cluster subnet has no free IP addresses",
    "CLUSTER_NOT_FOUND": "the cluster behind the store no longer exists",
    "NETWORK_ERRORS": "KMS cannot reach the cluster (security group or subnets)",
    "SUBNET_NOT_FOUND": "a cluster subnet was deleted",
    "INTERNAL_ERROR": "AWS KMS reported an internal error; try again",
}


class KeyStoreError(KeyplaneError):
    """A key store step failed; never carries the password."""

    code = KEYSTORE_SETUP


class KeyStoreNotReady(KeyStoreError):
    """A prerequisite is not met yet (cluster not ACTIVE) or the connection did not finish."""

    code = KEYSTORE_NOT_READY
    exit_code = 3


class KeyStoreFailed(KeyStoreError):
    """AWS refused to create or connect the store."""

    code = KEYSTORE_FAILED
    exit_code = 1


@dataclass(frozen=True, kw_only=True)
class KeyStoreSpec:
    """What to create: the store's name, the tags its cluster carries, the SSM names."""

    name: str
    cluster_tags: Mapping[str, str]
    password_parameter: str
    trust_anchor_parameter: str


@dataclass(kw_only=True)
class KeyStoreOutcome:
    """What `connect` found and did, for the command's report (no secret in it)."""

    name: str
    store_id: str | None = None
    cluster_id: str | None = None
    state: str | None = None
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "custom_key_store_id": self.store_id,
                "cluster_id": self.cluster_id, "connection_state": self.state,
                "steps": list(self.steps)}


def _aws_error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return str(err.get("Code", "ClientError")), str(err.get("Message", ""))
    return type(exc).__name__, str(exc)


class KeyStoreConnector:
    """Finds the cluster, creates the store if absent, connects it, waits for CONNECTED.

    `clients(service)` gives a boto3 client of the environment's home Region (the caller
    builds them with the environment's credentials or assumed role).
    """

    def __init__(self, clients: Callable[[str], Any], spec: KeyStoreSpec, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = clients
        self.spec = spec
        self._sleep = sleep
        self._clock = clock

    # --- reads ----------------------------------------------------------------------------

    def store(self) -> dict[str, Any] | None:
        """The store's description (DescribeCustomKeyStores by name), None if absent."""
        try:
            page = self._client("kms").describe_custom_key_stores(
                CustomKeyStoreName=self.spec.name)
        except ClientError as exc:
            if _aws_error(exc)[0] == "CustomKeyStoreNotFoundException":
                return None
            raise self._failed("DescribeCustomKeyStores", exc) from None
        except BotoCoreError as exc:
            raise self._failed("DescribeCustomKeyStores", exc) from None
        stores = page.get("CustomKeyStores", [])
        return dict(stores[0]) if stores else None

    def cluster(self) -> dict[str, Any]:
        """The one CloudHSM cluster carrying the environment's tags (from `<env>-aws-hsm`)."""
        want = dict(self.spec.cluster_tags)
        found = []
        try:
            for page in self._client("cloudhsmv2").get_paginator("describe_clusters").paginate():
                for c in page.get("Clusters", []):
                    tags = {t["Key"]: t["Value"] for t in c.get("TagList", [])}
                    if c.get("State") != "DELETED" and all(tags.get(k) == v
                                                           for k, v in want.items()):
                        found.append(c)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("DescribeClusters", exc) from None
        shown = ", ".join(f"{k}={v}" for k, v in sorted(want.items()))
        if not found:
            raise KeyStoreError(f"no CloudHSM cluster is tagged {shown}: apply the "
                                "environment's `-aws-hsm` stack first")
        if len(found) > 1:
            ids = ", ".join(sorted(str(c["ClusterId"]) for c in found))
            raise KeyStoreError(f"{len(found)} CloudHSM clusters are tagged {shown} ({ids}); "
                                "keyplane expects exactly one per environment")
        return dict(found[0])

    def _parameter(self, name: str) -> str:
        """An SSM SecureString's value; the value is returned, never shown."""
        try:
            out = self._client("ssm").get_parameter(Name=name, WithDecryption=True)
        except ClientError as exc:
            code, _ = _aws_error(exc)
            if code == "ParameterNotFound":
                raise KeyStoreError(f"ssm parameter {name} does not exist; the ceremony puts "
                                    "it there (see README: CloudHSM key store)") from None
            raise self._failed(f"GetParameter {name}", exc) from None
        except BotoCoreError as exc:
            raise self._failed(f"GetParameter {name}", exc) from None
        value = out.get("Parameter", {}).get("Value")
        if not isinstance(value, str) or not value:
            raise KeyStoreError(f"ssm parameter {name} is empty")
        return value

    # --- the steps ----------------------------------------------------------------------------

    def connect(self, *, update_password: bool = False, wait: bool = True,
                timeout_seconds: float = 1800.0, poll_seconds: float = 15.0) -> KeyStoreOutcome:
        """Create the store if it is absent, connect it if it is not, wait for CONNECTED."""
        out = KeyStoreOutcome(name=self.spec.name)
        cluster = self.cluster()
        out.cluster_id = str(cluster["ClusterId"])
        if cluster.get("State") != "ACTIVE":
            raise KeyStoreNotReady(
                f"CloudHSM cluster {out.cluster_id} is {cluster.get('State')}; a key store needs "
                "an ACTIVE cluster: initialize and activate it and create kmsuser first")
        store = self.store()
        kms = self._client("kms")
        if store is None:
            anchor = self._parameter(self.spec.trust_anchor_parameter)
            try:
                created = kms.create_custom_key_store(
                    CustomKeyStoreName=self.spec.name, CloudHsmClusterId=out.cluster_id,
                    TrustAnchorCertificate=anchor,
                    KeyStorePassword=self._parameter(self.spec.password_parameter))
            except (ClientError, BotoCoreError) as exc:
                raise self._failed("CreateCustomKeyStore", exc) from None
            out.store_id = str(created["CustomKeyStoreId"])
            out.steps.append(f"created {self.spec.name} ({out.store_id}) on {out.cluster_id}")
            state = "DISCONNECTED"
        else:
            out.store_id = str(store["CustomKeyStoreId"])
            state = str(store.get("ConnectionState"))
            if store.get("CloudHsmClusterId") != out.cluster_id:
                raise KeyStoreFailed(
                    f"key store {self.spec.name} ({out.store_id}) is on cluster "
                    f"{store.get('CloudHsmClusterId')}, not on the environment's cluster "
                    f"{out.cluster_id}; refusing to connect it")
            if state == "FAILED":
                self._call("DisconnectCustomKeyStore", kms.disconnect_custom_key_store,
                           CustomKeyStoreId=out.store_id)
                out.steps.append(f"disconnected {out.store_id} (it was FAILED: "
                                 f"{store.get('ConnectionErrorCode', 'no code')})")
                state = "DISCONNECTED"
            if update_password:
                if state != "DISCONNECTED":
                    raise KeyStoreNotReady(
                        f"key store {out.store_id} is {state}; AWS changes the kmsuser "
                        "password of a DISCONNECTED store only: disconnect it first (keys in "
                        "it cannot be used meanwhile)")
                self._call("UpdateCustomKeyStore", kms.update_custom_key_store,
                           CustomKeyStoreId=out.store_id,
                           KeyStorePassword=self._parameter(self.spec.password_parameter))
                out.steps.append(f"updated the kmsuser password of {out.store_id} from "
                                 f"{self.spec.password_parameter}")
        if state == "DISCONNECTED":
            self._call("ConnectCustomKeyStore", kms.connect_custom_key_store,
                       CustomKeyStoreId=out.store_id)
            out.steps.append(f"connect requested for {out.store_id}")
            state = "CONNECTING"
        out.state = self._wait(out, state, wait=wait, timeout_seconds=timeout_seconds,
                               poll_seconds=poll_seconds)
        return out

    def _wait(self, out: KeyStoreOutcome, state: str, *, wait: bool, timeout_seconds: float,
              poll_seconds: float) -> str:
        if state == "CONNECTED" or not wait:
            return state
        deadline = self._clock() + timeout_seconds
        while True:
            store = self.store()
            if store is None:
                raise KeyStoreFailed(f"key store {out.store_id} disappeared while connecting")
            state = str(store.get("ConnectionState"))
            if state == "CONNECTED":
                out.steps.append(f"{out.store_id} is CONNECTED")
                return state
            if state in ("FAILED", "DISCONNECTED"):
                code = str(store.get("ConnectionErrorCode", "no error code"))
                hint = CONNECTION_ERROR_HINTS.get(code, "see the AWS KMS troubleshooting guide")
                raise KeyStoreFailed(f"key store {out.store_id} did not connect: {state} "
                                     f"({code}): {hint}")
            if self._clock() >= deadline:
                raise KeyStoreNotReady(f"key store {out.store_id} is still {state} after "
                                       f"{timeout_seconds:.0f} s; run again to keep waiting")
            self._sleep(poll_seconds)

    def _call(self, operation: str, fn: Callable[..., Any], **params: Any) -> Any:
        try:
            return fn(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed(operation, exc) from None

    @staticmethod
    def _failed(operation: str, exc: Exception) -> KeyStoreError:
        # AWS's messages name resources and states, never the parameters' values.
        code, message = _aws_error(exc)
        return KeyStoreFailed(f"{operation} failed: {code}{': ' + message if message else ''}")
