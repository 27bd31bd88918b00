"""Everything keyplane creates in one environment's AWS account, rendered from the plan.

`keyplane.desired.aws.plan_environment(env)` decides every resource (and refuses what it
cannot build) before the first construct exists; the constructs here render its records
one to one.

Construct ids under `aws/`: `providers`, `iam`, `cloudhsm`, `keys/<key name>`,
`audit`, `alarms`, `backup`. They are part of the contract.
"""

from __future__ import annotations

from constructs import Construct

from keyplane.constructs.aws.alarms import KeyAlarms
from keyplane.constructs.aws.audit import AuditSink
from keyplane.constructs.aws.backup import BackupVault
from keyplane.constructs.aws.cloudhsm import KeyStoreLookup
from keyplane.constructs.aws.iam import SeparationOfDuties
from keyplane.constructs.aws.kms import ManagedKey
from keyplane.constructs.aws.provider import AwsProviders
from keyplane.constructs.aws.rendered import Rendered
from keyplane.desired.aws import AwsPlan, plan_environment
from keyplane.model.environment import Environment


class AwsEnvironment(Construct):
    """Providers, separation-of-duties roles, keys, audit sink, alarms and backup vault."""

    def __init__(self, scope: Construct, id_: str, *, env: Environment) -> None:
        plan = plan_environment(env)
        super().__init__(scope, id_)
        self.plan: AwsPlan = plan
        rendered = Rendered()
        self.providers = AwsProviders(self, "providers", plan=plan.providers, rendered=rendered)
        self.sod = SeparationOfDuties(self, "iam", plan=plan.iam, rendered=rendered)
        if plan.cloudhsm is not None:
            # The cluster is `<env>-aws-hsm`; the store is connected by keyplane, found by name.
            self.cloudhsm = KeyStoreLookup(self, "cloudhsm", plan=plan.cloudhsm.key_store,
                                           rendered=rendered,
                                           adopted=plan.cloudhsm.adopted_stores)
        scope_ = Construct(self, "keys")
        self.keys: dict[str, ManagedKey] = {
            key.name: ManagedKey(scope_, key.name, plan=key, rendered=rendered)
            for key in plan.keys}
        # The key users' identity policies name the keys: rendered once the keys exist.
        self.sod.render_policies()
        self.audit = AuditSink(self, "audit", plan=plan.audit, iam=plan.iam, rendered=rendered)
        if plan.alarms is not None:
            self.alarms = KeyAlarms(self, "alarms", plan=plan.alarms, rendered=rendered)
        if plan.backup is not None:
            self.backup = BackupVault(self, "backup", plan=plan.backup, iam=plan.iam,
                                      rendered=rendered)
