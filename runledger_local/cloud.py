"""The whole pipeline offline, built from template.yaml.

``LocalPipeline`` starts a moto server on loopback, applies the moto adaptations
(runledger_local.patches), creates every resource of the translated template in it
(table with stream, queue, bucket, roles, log groups, Batch environments, queues and job
definitions, the state machine with its substitutions resolved), registers each Lambda
function's real handler with the template's environment, timeout and memory, and starts a
pipe runner with the template's filter, input template, batching, retries and DLQ. Then a
request written to the table flows as it does on AWS: stream -> pipe -> execution ->
handlers in-process -> Batch jobs as local processes -> write-backs. The template's
EventBridge rules get the events Step Functions sends when an execution ends
(runledger_local.rule_runner), so a run whose execution times out or is stopped is closed
by the CloseRun function, as on AWS.

Nothing here restates a setting of the template: names, environment, filters and
substitutions are read from it and resolved with runledger_local.intrinsics.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3

from runledger.compute import COMPUTE_ENV, COMPUTE_FILE
from runledger.dynamo import to_dynamodb_json
from runledger.storage import LOCAL_PATHS_ENV
from runledger.workflows import WORKLOADS_ENV, WORKLOADS_FILE
from runledger_cli.ledger import RunRecord, read_items, read_statuses, run_id_of
from runledger_cli.sam_template import (
    REPO_ROOT,
    TEMPLATE_PATH,
    load_attributes,
    load_both,
    parameter_defaults,
    read_ahead,
)
from runledger_cli.workloads import catalogue_text, compute_text
from runledger_local.admission import DEFAULT_STACK, request_problem
from runledger_local.intrinsics import Scope, check_references, resolve
from runledger_local.logs import get_logger, quiet_failure_events
from runledger_local.patches import ADAPTATIONS, LocalCloud, local_aws, speed_from_env
from runledger_local.pipe_runner import PipeRunner, wire_json_client
from runledger_local.processes import start_fork_server
from runledger_local.rule_runner import RuleRunner
from runledger_local.server import moto_server

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "INVALID"})
#: How executions still running when the local cloud stops are stopped.
STOPPED_ERROR, STOPPED_CAUSE = "LocalCloudStopped", "the local cloud stopped while it ran"
STOP_TIMEOUT_SECONDS = 10.0
#: Where offline jobs may read inputs besides the template's S3 locations: local files.
LOCAL_INPUT_LOCATION = "file:///"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
_log = get_logger(__name__)

# Creation order: what a resource references is created before it.
_ORDER = (
    "AWS::IAM::Role",
    "AWS::IAM::InstanceProfile",
    "AWS::Logs::LogGroup",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::Lambda::Function",
    "AWS::Batch::ComputeEnvironment",
    "AWS::Batch::JobQueue",
    "AWS::Batch::JobDefinition",
    "AWS::StepFunctions::StateMachine",
    "AWS::Events::Rule",
    "AWS::Pipes::Pipe",
)
# Types that change nothing about how a run flows offline.
# (Permissions and queue policies are not enforced by moto; the asynchronous invoke's
# retries and on-failure destination are not emulated: see rule_runner.)
_NOT_EMULATED = frozenset(
    {
        "AWS::S3::BucketPolicy",
        "AWS::Lambda::LayerVersion",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::SQS::QueuePolicy",
    }
)
# Maps inside Batch properties whose keys are data, not API field names.
_DATA_MAPS = frozenset({"Options", "Tags", "Parameters"})


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase Batch properties in the Batch API's camelCase."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        key[:1].lower() + key[1:]: (v if key in _DATA_MAPS else _camel(v))
        for key, v in value.items()
    }


def fake_aws_environment() -> None:
    """Credentials and settings that make every client local and nothing real signable."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 (fake)
        AWS_SESSION_TOKEN="testing",  # noqa: S106 (fake)
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    )
    os.environ.pop("AWS_PROFILE", None)


class LocalPipeline:
    """The template's stack, offline. Use as a context manager.

    One at a time per process: moto's state is process-wide, and each pipeline starts
    from (and leaves) an empty cloud. ``cloud.inject_job_exit`` and
    ``cloud.inject_lambda_error`` make jobs or functions fail on purpose.
    """

    def __init__(
        self,
        *,
        template: Path = TEMPLATE_PATH,
        stack_name: str = DEFAULT_STACK,
        parameters: Mapping[str, Any] | None = None,
        retry_sleep_scale: float = 0.0,
        mock_config_file: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: bool | None = None,
        adapters: Iterable[str] | None = None,
    ) -> None:
        self.template = template
        self.host, self.port = host, port  # where the moto server listens (0: a free port)
        self.mock_config_file = mock_config_file  # SFN_MOCK_CONFIG: Step Functions Local's mocks
        self.stack_name = stack_name
        self.parameter_overrides = dict(parameters or {})
        self.retry_sleep_scale = retry_sleep_scale
        #: Speed mechanisms on (default: RUNLEDGER_LOCAL_SPEED); off, the answers are the same.
        self.speed = speed_from_env() if speed is None else speed
        #: The patches applied (default: every one; ``speed`` off leaves out the speed
        #: ones anyway). Benchmarks leave one out to measure it (bench/bench_speed.py).
        self.adapters = ADAPTATIONS if adapters is None else tuple(adapters)
        self.endpoint_url = ""
        self.scope: Scope
        self.cloud: LocalCloud
        self.pipe: PipeRunner
        self.rules: RuleRunner
        self.pipe_properties: dict[str, Any] = {}
        self.state_machine_arn = ""
        self.table_name = ""
        self._stack = contextlib.ExitStack()
        self._clients: dict[str, Any] = {}
        self._workloads: Path | None = None
        self._compute: Path | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalPipeline:
        fake_aws_environment()
        if self.speed:
            read_ahead(self.template)  # the template is read (and transformed) meanwhile
        try:
            if self.speed:
                # Its imports (~0.5 s) then overlap the stack's creation, not the first job.
                start_fork_server()
            self.endpoint_url = self._stack.enter_context(moto_server(self.host, self.port))
            self._stack.enter_context(quiet_failure_events())
            self.cloud = self._stack.enter_context(
                local_aws(
                    adapters=self.adapters,
                    endpoint_url=self.endpoint_url,
                    retry_sleep_scale=self.retry_sleep_scale,
                    mock_config_file=self.mock_config_file,
                    speed=self.speed,
                )
            )
            self._create_stack()
            self.rules = RuleRunner(
                events=self.client("events"),
                stepfunctions=self.client("stepfunctions"),
                lambda_client=self.client("lambda"),
                sqs=self.client("sqs"),
                account=ACCOUNT_ID,
                region=REGION,
            )
            if self.speed:
                self._stack.enter_context(frozen_heap())
            # The way out is the reverse (LIFO): the pipe stops starting executions; the
            # rule runner stops invoking targets (an invoke in progress ends first); then
            # the executions still running are stopped, with nothing left to react to
            # their ABORTED events while the cloud is taken apart.
            self._stack.callback(self._stop_executions_on_exit)
            self._stack.enter_context(self.rules)  # starts watching executions
            self._stack.enter_context(self.pipe)  # starts polling
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(  # type: ignore[call-overload]
                service, region_name=REGION, endpoint_url=self.endpoint_url
            )
        return self._clients[service]

    # ------------------------------------------------------------------ stack
    def _create_stack(self) -> None:
        sam, cfn = load_both(self.template, cache=self.speed)
        # Before anything is created: a GetAtt CloudFormation refuses fails here, too.
        returns = check_references(cfn, load_attributes(self.template))
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(
            GroupName="runledger-local", Description="local", VpcId=vpc
        )
        parameters = {
            **parameter_defaults(cfn),
            "JobImagePrefix": "runledger-local",
            "SubnetIds": [subnet],
            "SecurityGroupIds": [group["GroupId"]],
            **self.parameter_overrides,
        }
        self.scope = Scope(
            parameters=parameters,
            conditions=cfn.get("Conditions", {}),
            region=REGION,
            account_id=ACCOUNT_ID,
            stack_name=self.stack_name,
            returns=returns,
        )
        resources = cfn["Resources"]
        unknown = {r["Type"] for r in resources.values()} - set(_ORDER) - _NOT_EMULATED
        if unknown:
            raise NotImplementedError(f"the local cloud cannot create {sorted(unknown)}")
        for resource_type in _ORDER:
            for logical_id, resource in resources.items():
                if resource["Type"] == resource_type:
                    create = getattr(self, "_create_" + resource_type.split("::")[-1].lower())
                    create(logical_id, resource, sam["Resources"].get(logical_id, {}))

    def _name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def _props(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        return dict(resolve(resource.get("Properties", {}), self.scope))

    def _create_role(self, logical_id: str, resource: Any, _sam: Any) -> None:
        # Only the trust policy: the permissions name resources not created yet, and moto
        # does not enforce them anyway.
        trust = resolve(resource["Properties"]["AssumeRolePolicyDocument"], self.scope)
        name = self._name(logical_id)
        role = self.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]
        self.scope.refs[logical_id] = name
        self.scope.attributes[(logical_id, "Arn")] = role["Arn"]

    def _create_instanceprofile(self, logical_id: str, resource: Any, _sam: Any) -> None:
        props = self._props(resource)
        name = props.get("InstanceProfileName") or self._name(logical_id)
        iam = self.client("iam")
        profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        for role in props.get("Roles", []):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
        self.scope.refs[logical_id] = name
        self.scope.attributes[(logical_id, "Arn")] = profile["Arn"]

    def _create_loggroup(self, logical_id: str, resource: Any, _sam: Any) -> None:
        name = self._props(resource).get("LogGroupName") or self._name(logical_id)
        self.client("logs").create_log_group(logGroupName=name)
        self.scope.refs[logical_id] = name
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}"
        self.scope.attributes[(logical_id, "Arn")] = arn + ":*"

    def _create_table(self, logical_id: str, resource: Any, _sam: Any) -> None:
        props = self._props(resource)
        name = self._name(logical_id)
        stream = props.get("StreamSpecification")
        table = self.client("dynamodb").create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PROVISIONED"),
            **({"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}),
        )["TableDescription"]
        self.scope.refs[logical_id] = name
        self.scope.attributes[(logical_id, "Arn")] = table["TableArn"]
        if stream:
            self.scope.attributes[(logical_id, "StreamArn")] = table["LatestStreamArn"]

    def _create_queue(self, logical_id: str, resource: Any, _sam: Any) -> None:
        name = self._name(logical_id)
        url = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        self.scope.refs[logical_id] = url
        self.scope.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        self.scope.attributes[(logical_id, "QueueName")] = name

    def _create_bucket(self, logical_id: str, resource: Any, _sam: Any) -> None:
        name = self._name(logical_id).lower()
        self.client("s3").create_bucket(Bucket=name)
        self.scope.refs[logical_id] = name
        self.scope.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"

    def _create_function(self, logical_id: str, resource: Any, sam: Any) -> None:
        props = resource["Properties"]
        environment = resolve(props.get("Environment", {}).get("Variables", {}), self.scope)
        # Offline, jobs are local processes: requests and results may name local files
        # (runledger.storage), and jobs may read them (on AWS, only S3 objects, under
        # the job role's S3 grants the template names).
        environment[LOCAL_PATHS_ENV] = "1"
        # The workloads this template declares, not the committed workloads.json.
        environment[WORKLOADS_ENV] = str(self._workloads_file())
        environment[COMPUTE_ENV] = str(self._compute_file())
        if "INPUT_LOCATIONS" in environment:
            environment["INPUT_LOCATIONS"] += " " + LOCAL_INPUT_LOCATION
        name = self._name(logical_id)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        layers = [
            REPO_ROOT / layer["Properties"]["ContentUri"]
            for layer in load_both(self.template)[0]["Resources"].values()
            if layer["Type"] == "AWS::Serverless::LayerVersion"
        ]
        self.cloud.register_function(
            arn,
            code_dir=REPO_ROOT / sam["Properties"]["CodeUri"],
            handler=props["Handler"],
            environment={k: str(v) for k, v in environment.items()},
            timeout=float(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            extra_paths=layers,
        )
        self.scope.refs[logical_id] = name
        self.scope.attributes[(logical_id, "Arn")] = arn

    def _workloads_file(self) -> Path:
        """The template's workload declarations as a file (runledger.workflows reads it)."""
        if self._workloads is None:
            directory = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
            self._workloads = directory / WORKLOADS_FILE
            self._workloads.write_text(catalogue_text(Path(self.template)), encoding="utf-8")
        return self._workloads

    def _compute_file(self) -> Path:
        """The template's compute options and job definitions (runledger.compute reads it)."""
        if self._compute is None:
            directory = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
            self._compute = directory / COMPUTE_FILE
            self._compute.write_text(compute_text(Path(self.template)), encoding="utf-8")
        return self._compute

    def _create_computeenvironment(self, logical_id: str, resource: Any, _sam: Any) -> None:
        props = _camel(self._props(resource))
        props.pop("tags", None)
        # Without ServiceRole AWS uses Batch's service-linked role; moto insists on one.
        props.setdefault("serviceRole", self._batch_service_role())
        arn = self.client("batch").create_compute_environment(
            computeEnvironmentName=self._name(logical_id), **props
        )["computeEnvironmentArn"]
        self.scope.refs[logical_id] = arn

    def _batch_service_role(self) -> str:
        if "batch-service-role" not in self._clients:
            role = self.client("iam").create_role(
                RoleName="AWSServiceRoleForBatch",
                Path="/aws-service-role/batch.amazonaws.com/",
                AssumeRolePolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "batch.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
            )["Role"]
            self._clients["batch-service-role"] = role["Arn"]
        return str(self._clients["batch-service-role"])

    def _create_jobqueue(self, logical_id: str, resource: Any, _sam: Any) -> None:
        props = _camel(self._props(resource))
        props.pop("tags", None)
        name = props.pop("jobQueueName", None) or self._name(logical_id)
        arn = self.client("batch").create_job_queue(jobQueueName=name, **props)["jobQueueArn"]
        self.scope.refs[logical_id] = arn

    def _create_jobdefinition(self, logical_id: str, resource: Any, sam: Any) -> None:
        props = _camel(self._props(resource))
        name = props.pop("jobDefinitionName", None) or self._name(logical_id)
        answer = self.client("batch").register_job_definition(jobDefinitionName=name, **props)
        self.scope.refs[logical_id] = answer["jobDefinitionArn"]
        self.scope.attributes[(logical_id, "JobDefinitionArn")] = answer["jobDefinitionArn"]
        # The job's program runs where its image is built from (the Dockerfile's WORKDIR).
        metadata = sam.get("Metadata", {})
        folder = Path(self.template).parent
        context = metadata.get("DockerContext")
        if context:
            self.cloud.batch_workdirs[name] = folder / context
        # Named build contexts (docker build --build-context NAME=FOLDER): the Dockerfile
        # copies their modules beside the program; here the program imports them from there.
        contexts = metadata.get("DockerBuildContexts") or {}
        if contexts:
            self.cloud.batch_pythonpaths[name] = [folder / path for path in contexts.values()]

    def _create_statemachine(self, logical_id: str, resource: Any, sam: Any) -> None:
        props = resource["Properties"]
        definition, _ = state_machine_definition(resource, sam, self.scope)
        name = str(resolve(props.get("StateMachineName", self._name(logical_id)), self.scope))
        arn = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=str(resolve(props["RoleArn"], self.scope)),
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        self.scope.refs[logical_id] = arn
        self.scope.attributes[(logical_id, "Name")] = name
        self.state_machine_arn = arn

    def _create_rule(self, logical_id: str, resource: Any, _sam: Any) -> None:
        props = self._props(resource)
        if props.get("EventBusName") not in (None, "default"):
            raise NotImplementedError(f"{logical_id}: rules on the default event bus only")
        name = str(props.get("Name") or self._name(logical_id))
        events = self.client("events")
        arn = events.put_rule(
            Name=name,
            EventPattern=json.dumps(props["EventPattern"]),
            State=props.get("State", "ENABLED"),
            **{key: props[key] for key in ("Description", "Tags") if key in props},
        )["RuleArn"]
        targets = props.get("Targets") or []
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        self.scope.refs[logical_id] = name
        self.scope.attributes[(logical_id, "Arn")] = arn

    def _create_pipe(self, logical_id: str, resource: Any, _sam: Any) -> None:
        self.pipe_properties = self._props(resource)
        source = self.pipe_properties["Source"]
        self.table_name = next(
            self.scope.refs[lid]
            for (lid, attribute), value in self.scope.attributes.items()
            if attribute == "StreamArn" and value == source
        )
        self.pipe = PipeRunner(
            self.pipe_properties,
            # Speed on, the stream's records are read as wire JSON (pipe_records.py).
            streams=(wire_json_client if self.speed else boto3.client)(
                "dynamodbstreams", region_name=REGION, endpoint_url=self.endpoint_url
            ),
            stepfunctions=self.client("stepfunctions"),
            sqs=self.client("sqs"),
            name=self._name(logical_id),
        )
        self.scope.refs[logical_id] = self._name(logical_id)

    # ------------------------------------------------------------------ runs
    def put_request(self, item: Mapping[str, Any]) -> str:
        """Write a request item (plain JSON) to the runs table; returns its pk."""
        self.client("dynamodb").put_item(TableName=self.table_name, Item=to_dynamodb_json(item))
        return str(item["pk"])

    def request_problem(self, item: Mapping[str, Any]) -> str | None:
        """Why writing ``item`` to the runs table would start no run, or None if it would
        (``admission.request_problem``, from this pipeline's template)."""
        return request_problem(load_both(self.template)[0], item, self.stack_name)

    def read_run(self, pk: str) -> RunRecord:
        """The run with partition key ``pk`` as the table holds it now (its request is
        empty while the table has no REQUEST item for it)."""
        items = read_items(self.client("dynamodb"), self.table_name, pk)
        return RunRecord.from_items(run_id_of(pk), items)

    def wait_for(
        self,
        pks: Iterable[str],
        *,
        timeout: float = 120.0,
        on_progress: Callable[[dict[str, RunRecord]], None] | None = None,
        interval: float = 0.1,
    ) -> dict[str, RunRecord]:
        """Poll until every run reaches SUCCEEDED, FAILED or INVALID, or ``timeout`` passes.

        Each poll reads only the status of unfinished runs (BatchGetItem). Runs are read
        in full once all are final (a Query costs the engine a sort of the whole table
        in moto), and at each poll for ``on_progress`` (which sees every run).
        """
        wanted = list(dict.fromkeys(pks))
        finished: dict[str, RunRecord | None] = {}
        deadline = time.monotonic() + timeout
        dynamodb = self.client("dynamodb")
        while True:
            pending = [pk for pk in wanted if pk not in finished]
            for pk, status in read_statuses(dynamodb, self.table_name, pending).items():
                if status in TERMINAL:
                    finished[pk] = None  # read below, with the others
            if on_progress:
                for pk in finished:
                    finished[pk] = finished[pk] or self.read_run(pk)
                on_progress({pk: finished.get(pk) or self.read_run(pk) for pk in wanted})
            if len(finished) == len(wanted):
                return {pk: finished[pk] or self.read_run(pk) for pk in wanted}
            if time.monotonic() > deadline:
                waiting = sorted(pk for pk in wanted if pk not in finished)
                raise TimeoutError(f"runs not finished after {timeout:.0f} s: {waiting}")
            time.sleep(interval)

    def stop_executions(self, timeout: float = STOP_TIMEOUT_SECONDS) -> list[str]:
        """Stop the running executions (ABORTED, as StopExecution leaves them) and wait up
        to ``timeout`` for them to end; returns the ARNs of those stopped.

        Called on the way out: an execution left running would go on into a cloud being
        taken apart, and fail there with errors of moto's own.
        """
        sfn = self.client("stepfunctions")
        running = [
            execution["executionArn"]
            for machines in sfn.get_paginator("list_state_machines").paginate()
            for machine in machines["stateMachines"]
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )
            for execution in page["executions"]
        ]
        for arn in running:
            with contextlib.suppress(sfn.exceptions.ExecutionDoesNotExist):
                sfn.stop_execution(executionArn=arn, error=STOPPED_ERROR, cause=STOPPED_CAUSE)
        deadline = time.monotonic() + timeout
        for arn in running:
            while time.monotonic() < deadline:
                if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
                    break
                time.sleep(0.05)
        return running

    def _stop_executions_on_exit(self) -> None:
        try:
            self.stop_executions()
        except Exception as exc:  # the cloud is going anyway; say so, not instead of why
            _log.warning("running executions not stopped", extra={"error": repr(exc)})

    def executions(self) -> list[dict[str, Any]]:
        pages = (
            self.client("stepfunctions")
            .get_paginator("list_executions")
            .paginate(stateMachineArn=self.state_machine_arn)
        )
        return [e for page in pages for e in page["executions"]]


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects alive now out of the garbage collector's full passes until exit.

    Once the stack is created, the process holds half a million objects that live as long
    as the pipeline (moto's backends, botocore's service models, the parsed template).
    Each full collection walked them all (after 30 runs the collector tracks 81,000
    objects with them frozen, 442,000 without). Measured 2026-12-04, bench/bench_speed.py
    --mechanism frozen_heap --rounds 5 --runs 30: engine CPU 1.10x with it off (median of 5
    alternated pairs, range 0.96-1.21x), wall 1.06x (0.93-1.22x), the same memory. Frozen
    objects are handed back to the collector when the pipeline closes; those that become
    cyclic garbage meanwhile (a moto reset under ``runledger local serve``) are freed then. A
    heap frozen already (by the program that runs the pipeline) is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def state_machine_definition(
    resource: Mapping[str, Any], sam_resource: Mapping[str, Any], scope: Scope
) -> tuple[str, dict[str, Any]]:
    """A state machine's ASL with its DefinitionSubstitutions resolved in ``scope``, and them.

    ``resource`` is the translated (CloudFormation) resource, ``sam_resource`` the SAM one
    that names the definition file.
    """
    definition = (REPO_ROOT / sam_resource["Properties"]["DefinitionUri"]).read_text()
    substitutions = dict(resolve(resource["Properties"].get("DefinitionSubstitutions", {}), scope))
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition, substitutions
