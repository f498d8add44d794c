"""The local SageMaker: one HTTP server speaking the AWS protocols the Lambdas use.

- SageMaker API (awsJson1.1: ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``): requests are
  validated against botocore's service model and answered with AWS-shaped errors.
- SageMaker Runtime (restJson: ``POST /endpoints/<name>/invocations``).
- Service Quotas for service code ``sagemaker`` (awsJson1.1, ``ServiceQuotasV20190624.<Operation>``): the
  account's SageMaker quotas live here, where the jobs and endpoints are held to them (quotas.py).

Training and tuning jobs and endpoints do real work (jobs.py, tuning.py, endpoints.py); this module owns
the protocol and the fault injection, and wires the parts together: each gets the narrow collaborators it uses
(arns.py's ARNs, roles.py's execution roles, runtime.py's Python and environment, its folder, the lock, the faults,
the experiments, quotas.py's training capacity or account quotas), none gets this service.
"""

import json
import re
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from local_twin import iam
from local_twin.account import ACCOUNT_ID
from local_twin.faults import Faults, Throttled
from local_twin.loopback import LoopbackHandler, reply, serve_in_background, shut_down, url_of
from local_twin.moto_stack import client
from local_twin.sagemaker import authorization, constraints, registry
from local_twin.sagemaker.arns import Arns
from local_twin.sagemaker.endpoints import Endpoints
from local_twin.sagemaker.errors import SageMakerError, validation
from local_twin.sagemaker.experiments import Experiments
from local_twin.sagemaker.images import ImageStacks
from local_twin.sagemaker.jobs import JOB_SLOTS, TrainingJobs
from local_twin.sagemaker.quotas import AccountQuotas, TrainingCapacity
from local_twin.sagemaker.roles import ExecutionRoles
from local_twin.sagemaker.runtime import JobRuntime
from local_twin.sagemaker.tuning import TuningJobs
from model_code import quotas as quota_facts

SERVICE_QUOTAS_TARGET = "ServiceQuotasV20190624."
JSON_1_1 = "application/x-amz-json-1.1"  # the content type of the awsJson1_1 protocol
SERVICE_QUOTAS_LISTINGS = ("ListServiceQuotas", "ListAWSDefaultServiceQuotas")


class LocalSageMaker:
    def __init__(
        self,
        workdir: Path,
        s3_endpoint_url: str,
        region: str = "us-east-1",
        python: str = sys.executable,
        stacks: ImageStacks | None = None,
        faults: Faults | None = None,
        max_concurrent_jobs: int = JOB_SLOTS,
        assume: Callable[[str, str], dict[str, str]] | None = None,
        denials: iam.DenialLog | None = None,
        quotas: AccountQuotas | None = None,
        directory: iam.Directory | None = None,
        emit_event: Callable[[dict], None] | None = None,
    ):
        """``s3_endpoint_url`` is where jobs and endpoints reach S3 (the twin's IAM gateway); ``assume`` gives a
        session of a role (the twin's STS) to each job and endpoint, which then act with their execution role's
        permissions. Without it (a standalone local SageMaker) they act as the administrator. ``quotas`` (an
        AccountQuotas) is the account's; the twin's defaults without it. ``directory`` is the twin's IAM (standalone:
        that of the moto at ``s3_endpoint_url``). ``emit_event`` sends the events SageMaker sends to EventBridge (a
        PutEvents entry: the model registry's state changes); without it (a standalone local SageMaker) they are
        dropped. ``stacks`` are the images' stand-ins that jobs and endpoints run on (images.py: those `make images`
        builds); ``python`` runs the rule evaluations."""
        self.workdir = Path(workdir)
        self.region = region
        self.faults = faults or Faults()
        self.denials = denials if denials is not None else iam.DenialLog()
        self.directory = directory or iam.Directory(
            client("iam", s3_endpoint_url, region), client("sts", s3_endpoint_url, region)
        )
        self.arns = Arns(region)
        self.roles = ExecutionRoles(s3_endpoint_url, region, assume, self.directory, self.denials)
        # jobs and endpoints run with this environment plus their role's session
        runtime = JobRuntime.on_this_machine(stacks or ImageStacks.built_in(), python, s3_endpoint_url, region)
        self.lock = threading.RLock()  # the parts' creates check and count under it, one at a time
        self.model = botocore.session.get_session().get_service_model("sagemaker")
        self.quotas_model = botocore.session.get_session().get_service_model("service-quotas")
        self.quotas = quotas or AccountQuotas()
        capacity = TrainingCapacity(self.quotas)
        self.experiments = Experiments(self.arns, self.lock)
        self.training = TrainingJobs(
            self.workdir / "jobs", runtime, self.roles, self.arns, capacity, self.experiments, self.faults, self.lock,
            max_concurrent_jobs,
        )  # fmt: skip
        self.tuning = TuningJobs(self.training, self.arns, capacity, self.experiments, self.faults, self.lock)
        self.registry = registry.ModelRegistry(
            self.arns, self.lock, emit_event,
            described_fields=tuple(self.model.shape_for("DescribeModelPackageOutput").members),
            summary_fields=tuple(self.model.shape_for("ModelPackageSummary").members),
        )  # fmt: skip
        self.endpoints = Endpoints(
            self.workdir / "endpoints", runtime, self.roles, self.arns, self.quotas, self.faults, self.lock,
            resolve_package=self.registry.serving_container,
        )  # fmt: skip
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def authorize(self, headers, operation: str, params: dict, service: str = "sagemaker") -> None:
        """The caller's role must allow the call (AccessDeniedException otherwise, as SageMaker answers), and
        SageMaker must be able to assume the roles it is handed (ValidationException otherwise)."""
        try:
            principal = self.directory.principal_of(headers)
            if service == "servicequotas":  # the listings have no resource type in the Service Authorization Reference
                iam.authorize(principal, [iam.Request(f"servicequotas:{operation}", "*")], self.denials)
                return
            needed = authorization.required(
                operation, params, self.arns.sagemaker, self.arns.alarm, self.registry.next_version
            )
            iam.authorize(principal, needed, self.denials)
            for role, source_arn in authorization.passed_roles(operation, params, self.arns.sagemaker):
                try:
                    self.roles.check_trust(role, source_arn)
                except iam.AccessDenied as refused:
                    raise validation(
                        f"Could not assume role {role}. Please ensure that the role exists and allows principal "
                        "'sagemaker.amazonaws.com' to assume the role."
                    ) from refused
        except iam.InvalidCredentials as error:
            raise SageMakerError("UnrecognizedClientException", str(error)) from error
        except iam.AccessDenied as error:
            raise SageMakerError("AccessDeniedException", error.message) from error
        except authorization.UnmodelledCall as error:
            raise SageMakerError("AccessDeniedException", str(error)) from error

    # ------------------------------------------------------------------ protocol

    def validate(self, operation: str, params: dict, model=None) -> None:
        """The request against botocore's service model (SageMaker's unless ``model`` is given; ValidationException,
        as SageMaker answers); the model registry's calls also against the limits AWS checks and botocore does
        not (constraints.py)."""
        model = model or self.model
        try:
            shape = model.operation_model(operation).input_shape
        except Exception as error:
            raise SageMakerError("UnknownOperationException", f"unknown operation {operation}") from error
        if shape is not None:
            try:
                validate_parameters(params, shape)
            except ParamValidationError as error:
                raise validation(str(error).replace("\n", " ")) from error
            if model is self.model and operation in registry.OPERATIONS:
                constraints.check(params, shape)

    def call(self, operation: str, params: dict) -> dict:
        """One SageMaker API call, validated and authorized already (fault-injected, dispatched)."""
        try:
            self.faults.maybe_throttle(operation)
        except Throttled as error:
            raise SageMakerError("ThrottlingException", "Rate exceeded", 400) from error
        handler = getattr(self, "op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower(), None)
        if handler is None:
            raise SageMakerError("UnknownOperationException", f"{operation} is not supported by the local SageMaker")
        return handler(params)

    def service_quotas_call(self, operation: str, params: dict) -> dict:
        """ListServiceQuotas (applied values only) or ListAWSDefaultServiceQuotas, paginated by NextToken
        (validated and authorized already)."""
        if operation not in SERVICE_QUOTAS_LISTINGS:
            raise SageMakerError(
                "UnknownOperationException", f"{operation} is not supported by the local Service Quotas"
            )
        if params["ServiceCode"] != quota_facts.SERVICE_CODE:  # the twin models SageMaker's quotas only
            raise SageMakerError(
                "NoSuchResourceException", f"The twin has no quotas of service {params['ServiceCode']}."
            )
        if operation == "ListServiceQuotas":
            listed = self.quotas.applied_quotas(self.region, ACCOUNT_ID)
        else:
            listed = self.quotas.default_quotas(self.region)
        start, size = int(params.get("NextToken") or 0), params.get("MaxResults", 100)
        page = {"Quotas": listed[start : start + size]}
        if start + size < len(listed):
            page["NextToken"] = str(start + size)
        return page

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        service = self

        class Handler(LoopbackHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                match = re.fullmatch(r"/endpoints/([^/]+)/invocations", self.path.split("?")[0])
                try:
                    if match:
                        service.authorize(self.headers, "InvokeEndpoint", {"EndpointName": match.group(1)})
                        status, payload, content_type = service.endpoints.invoke(
                            match.group(1), body, self.headers.get("Content-Type"), self.headers.get("Accept")
                        )
                        variant = {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}
                        reply(self, status, payload, {"Content-Type": content_type, **variant})
                        return
                    target = self.headers.get("X-Amz-Target") or ""
                    params = json.loads(body or b"{}")
                    if target.startswith(SERVICE_QUOTAS_TARGET):
                        operation = target.removeprefix(SERVICE_QUOTAS_TARGET)
                        service.validate(operation, params, service.quotas_model)
                        service.authorize(self.headers, operation, params, service="servicequotas")
                        result = service.service_quotas_call(operation, params)
                    else:
                        operation = target.removeprefix("SageMaker.")
                        service.validate(operation, params)
                        service.authorize(self.headers, operation, params)
                        result = service.call(operation, params)
                    reply(self, 200, json.dumps(result, default=_json_default).encode(), {"Content-Type": JSON_1_1})
                except SageMakerError as error:
                    payload = {"__type": error.code, "message": error.message, **getattr(error, "fields", {})}
                    headers = {"Content-Type": JSON_1_1, "x-amzn-ErrorType": error.code}
                    reply(self, error.status, json.dumps(payload).encode(), headers)

        self._server = serve_in_background(Handler, "local-sagemaker", host, port)
        self.url = url_of(self._server)
        return self.url

    def stop(self) -> None:
        self.tuning.stop_all()
        self.training.stop_all()
        self.endpoints.stop_all()
        shut_down(self._server)
        self._server = None

    # ------------------------------------------------------------------ operations

    def op_create_training_job(self, params):
        return {"TrainingJobArn": self.training.create(params)}

    def op_describe_training_job(self, params):
        return self.training.describe(params["TrainingJobName"])

    def op_stop_training_job(self, params):
        self.training.stop(params["TrainingJobName"])
        return {}

    def op_list_training_jobs(self, params):
        return {"TrainingJobSummaries": self.training.summaries(params.get("StatusEquals"))}

    def op_create_hyper_parameter_tuning_job(self, params):
        return {"HyperParameterTuningJobArn": self.tuning.create(params)}

    def op_describe_hyper_parameter_tuning_job(self, params):
        return self.tuning.describe(params["HyperParameterTuningJobName"])

    def op_list_hyper_parameter_tuning_jobs(self, params):
        summaries = self.tuning.summaries(params.get("StatusEquals"), params.get("NameContains"))
        # AWS's defaults: sorted by Name, Ascending; at most MaxResults (default 10)
        key = {"Name": "HyperParameterTuningJobName", "Status": "HyperParameterTuningJobStatus"}.get(
            params.get("SortBy", "Name"), "CreationTime"
        )
        summaries.sort(key=lambda summary: summary[key], reverse=params.get("SortOrder") == "Descending")
        return {"HyperParameterTuningJobSummaries": summaries[: params.get("MaxResults", 10)]}

    def op_list_training_jobs_for_hyper_parameter_tuning_job(self, params):
        return {"TrainingJobSummaries": self.tuning.trials(params["HyperParameterTuningJobName"])}

    def op_stop_hyper_parameter_tuning_job(self, params):
        self.tuning.stop(params["HyperParameterTuningJobName"])
        return {}

    def op_create_model(self, params):
        return {"ModelArn": self.endpoints.create_model(params)}

    def op_describe_model(self, params):
        return self.endpoints.describe_model(params["ModelName"])

    def op_list_models(self, params):
        return {"Models": self.endpoints.model_summaries(params.get("NameContains", ""))}

    def op_delete_model(self, params):
        self.endpoints.delete_model(params["ModelName"])
        return {}

    def op_create_endpoint_config(self, params):
        return {"EndpointConfigArn": self.endpoints.create_config(params)}

    def op_describe_endpoint_config(self, params):
        return self.endpoints.describe_config(params["EndpointConfigName"])

    def op_list_endpoint_configs(self, params):
        return {"EndpointConfigs": self.endpoints.config_summaries(params.get("NameContains", ""))}

    def op_delete_endpoint_config(self, params):
        self.endpoints.delete_config(params["EndpointConfigName"])
        return {}

    def op_create_endpoint(self, params):
        return {"EndpointArn": self.endpoints.create(params)}

    def op_update_endpoint(self, params):
        return {"EndpointArn": self.endpoints.update(params)}

    def op_describe_endpoint(self, params):
        return self.endpoints.describe(params["EndpointName"])

    def op_delete_endpoint(self, params):
        self.endpoints.delete(params["EndpointName"])
        return {}

    def op_list_endpoints(self, params):
        return {"Endpoints": self.endpoints.summaries()}

    # the model registry (registry.py)

    def op_create_model_package_group(self, params):
        return {"ModelPackageGroupArn": self.registry.create_group(params)}

    def op_describe_model_package_group(self, params):
        return self.registry.describe_group(params["ModelPackageGroupName"])

    def op_delete_model_package_group(self, params):
        self.registry.delete_group(params["ModelPackageGroupName"])
        return {}

    def op_create_model_package(self, params):
        return {"ModelPackageArn": self.registry.create_package(params)}

    def op_describe_model_package(self, params):
        return self.registry.describe_package(params["ModelPackageName"])

    def op_list_model_packages(self, params):
        return page(self.registry.summaries(params), params, "ModelPackageSummaryList")

    def op_update_model_package(self, params):
        return {"ModelPackageArn": self.registry.update_package(params)}

    def op_delete_model_package(self, params):
        self.registry.delete_package(params["ModelPackageName"])
        return {}

    # the Experiments resources jobs create (experiments.py): what a teardown lists and deletes

    def op_describe_experiment(self, params):
        return self.experiments.describe_experiment(params["ExperimentName"])

    def op_list_experiments(self, params):
        return page(self.experiments.experiment_summaries(), params, "ExperimentSummaries")

    def op_list_trials(self, params):
        summaries = self.experiments.trial_summaries(params.get("ExperimentName"), params.get("TrialComponentName"))
        return page(summaries, params, "TrialSummaries")

    def op_list_trial_components(self, params):
        return page(self.experiments.component_summaries(params), params, "TrialComponentSummaries")

    def op_describe_trial_component(self, params):
        return self.experiments.describe_component(params["TrialComponentName"])

    def op_disassociate_trial_component(self, params):
        return self.experiments.disassociate(params["TrialComponentName"], params["TrialName"])

    def op_delete_trial_component(self, params):
        return self.experiments.delete_component(params["TrialComponentName"])

    def op_delete_trial(self, params):
        return self.experiments.delete_trial(params["TrialName"])

    def op_delete_experiment(self, params):
        return self.experiments.delete_experiment(params["ExperimentName"])

    def op_add_tags(self, params):
        return {"Tags": params["Tags"]}

    def op_list_tags(self, params):
        return {"Tags": []}


def page(items: list[dict], params: dict, key: str) -> dict:
    """One page of a List call: MaxResults (default 10) from the NextToken's offset."""
    start = int(params.get("NextToken") or 0)
    size = params.get("MaxResults", 10)
    answer = {key: items[start : start + size]}
    if start + size < len(items):
        answer["NextToken"] = str(start + size)
    return answer


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")
