"""`keyplane keystore connect|status ENV`: the CloudHSM custom key store, outside Terraform.

The store's kmsuser password never enters Terraform (keyplane.cloud.aws.keystore): after
`<env>-aws-hsm` is applied and the cluster ceremony is done, `keystore connect` creates the
store (password and trust anchor read from SSM at run time) and connects it; `<env>-aws`'s
ca keys then find it by name. `keystore status` reads it without changing anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import set_format


def _options(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.argument("env"),
        click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
                     default=DEFAULT_DIR, show_default=True, help="Where the inventory is."),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                     show_default=True),
        click.option("--profile", help="AWS named profile (default: the credential chain)."),
        click.option("--endpoint-url", help="AWS endpoint (private endpoint or the sandbox)."),
        click.option("--sandbox", "use_sandbox", is_flag=True,
                     help="Use the endpoint of the running sandbox (see --state-file)."),
        click.option("--state-file", "sandbox_state_file",
                     type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="The sandbox's state file, with --sandbox."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _connector(env: str, environments_dir: Path, profile: str | None,
               endpoint_url: str | None, use_sandbox: bool,
               sandbox_state_file: Path | None) -> Any:
    from keyplane.cloud.aws.keystore import KeyStoreConnector, KeyStoreError, KeyStoreSpec
    from keyplane.commands.cloud_wiring import CloudOptions, build_aws_clients
    from keyplane.commands.post_apply import sandbox_endpoints
    from keyplane.desired.aws import plan_environment
    from keyplane.model.specs import Cloud

    environment = load_targets([env], environments_dir).environments[0]
    if environment.aws is None or not environment.keys_on(Cloud.AWS):
        raise KeyStoreError(f"environment {env} has no aws keys, so no custom key store")
    plan = plan_environment(environment)
    if plan.cloudhsm is None:
        raise KeyStoreError(f"environment {env} has no key of origin cloudhsm, so no custom "
                            "key store")
    if use_sandbox:
        endpoint_url = endpoint_url or sandbox_endpoints(sandbox_state_file)[0]
    clients = build_aws_clients(account_id=plan.account_id, region=plan.region,
                                opts=CloudOptions(profile=profile, endpoint_url=endpoint_url))
    c = plan.cloudhsm.connect
    spec = KeyStoreSpec(name=c.name, cluster_tags=c.cluster_tags,
                        password_parameter=c.password_parameter,
                        trust_anchor_parameter=c.trust_anchor_parameter)
    return KeyStoreConnector(lambda service: clients.client(service), spec)


def _emit(doc: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    for step in doc.get("steps", []):
        click.echo(f"  {step}")
    click.echo(f"{doc['name']}: {doc.get('custom_key_store_id') or 'absent'} "
               f"{doc.get('connection_state') or ''} (cluster {doc.get('cluster_id') or '?'})")


@click.group("keystore")
def keystore() -> None:
    """The CloudHSM custom key store of an environment's ca keys (created outside Terraform,
    so the kmsuser password is never in a plan or the state)."""


@keystore.command("connect")
@_options
@click.option("--update-password", is_flag=True,
              help="Set the store's kmsuser password from SSM first (after changing it in the "
                   "cluster); AWS allows this only while the store is disconnected.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the store is CONNECTED (AWS takes up to ~20 minutes).")
@click.option("--timeout", "timeout_seconds", type=click.IntRange(1, 7200), default=1800,
              show_default=True, help="Seconds to wait for CONNECTED.")
@click.option("--poll", "poll_seconds", type=click.FloatRange(0.1, 300), default=15.0,
              show_default=True, help="Seconds between reads while waiting.")
def connect(env: str, environments_dir: Path, fmt: str, profile: str | None,
            endpoint_url: str | None, use_sandbox: bool, sandbox_state_file: Path | None,
            update_password: bool, wait: bool, timeout_seconds: int,
            poll_seconds: float) -> None:
    """Create ENV's custom key store on its CloudHSM cluster if absent, and connect it.

    Run after `<env>-aws-hsm` is applied and the cluster ceremony is done, before
    `<env>-aws`. The kmsuser password and trust anchor are read from the SSM parameters the
    environment names, at run time; they are never printed or stored. Exit 0 connected
    (or connecting with --no-wait), 1 AWS refused, 2 bad input, 3 not ready yet.
    """
    set_format(fmt)
    connector = _connector(env, environments_dir, profile, endpoint_url, use_sandbox,
                           sandbox_state_file)
    outcome = connector.connect(update_password=update_password, wait=wait,
                                timeout_seconds=float(timeout_seconds),
                                poll_seconds=poll_seconds)
    _emit(outcome.as_dict(), fmt)


@keystore.command("status")
@_options
def status(env: str, environments_dir: Path, fmt: str, profile: str | None,
           endpoint_url: str | None, use_sandbox: bool,
           sandbox_state_file: Path | None) -> None:
    """Read ENV's custom key store and its cluster; change nothing.

    Exit 0 CONNECTED, 1 absent or not connected, 2 bad input.
    """
    set_format(fmt)
    connector = _connector(env, environments_dir, profile, endpoint_url, use_sandbox,
                           sandbox_state_file)
    store = connector.store()
    cluster = connector.cluster()
    doc = {"name": connector.spec.name, "cluster_id": cluster.get("ClusterId"),
           "cluster_state": cluster.get("State"),
           "custom_key_store_id": store.get("CustomKeyStoreId") if store else None,
           "connection_state": store.get("ConnectionState") if store else None,
           "connection_error_code": store.get("ConnectionErrorCode") if store else None,
           "steps": []}
    _emit(doc, fmt)
    if store is None or store.get("ConnectionState") != "CONNECTED":
        raise SystemExit(1)
