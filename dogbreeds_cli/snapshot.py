"""Everything `dogbreeds watch` shows about one run, read from Step Functions and SageMaker in one go.

A snapshot is plain data (the services' own answers), so a recorded one (tests/cli/recordings/*.json) renders
exactly as the live one did.
"""

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from botocore.client import BaseClient

from dogbreeds_cli import timeline

Clients = Callable[[str], BaseClient]  # service name -> a boto3 client for the stack or the twin
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)$")


@dataclass
class RunSnapshot:
    execution: dict  # DescribeExecution
    history: list[dict]  # GetExecutionHistory's events, oldest first
    definition: dict  # the state machine's ASL (its loops tell when a poll loop is over)
    tuning: dict | None = None  # DescribeHyperParameterTuningJob
    trials: list[dict] = field(default_factory=list)  # ListTrainingJobsForHyperParameterTuningJob, + live metrics
    training: dict | None = None  # DescribeTrainingJob of the final job
    endpoint: dict | None = None  # DescribeEndpoint

    @property
    def finished(self) -> bool:
        return self.execution["status"] != "RUNNING"

    @property
    def document(self) -> dict:
        """The run's state document as the latest state left it (its input before any state ended)."""
        for event in reversed(self.history):
            details = event.get("stateExitedEventDetails") or event.get("executionStartedEventDetails")
            if details and details.get("output", details.get("input")):
                return json.loads(details.get("output", details.get("input")))
        return json.loads(self.execution.get("input") or "{}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=datetime.isoformat)

    @classmethod
    def from_json(cls, text: str) -> "RunSnapshot":
        def timestamps(value):
            if isinstance(value, dict):
                return {key: timestamps(item) for key, item in value.items()}
            if isinstance(value, list):
                return [timestamps(item) for item in value]
            if isinstance(value, str) and _TIMESTAMP.match(value):
                return datetime.fromisoformat(value)
            return value

        return cls(**timestamps(json.loads(text)))


def collect(clients: Clients, execution_arn: str, definition: dict | None = None) -> RunSnapshot:
    """One snapshot of the run: the execution, then the SageMaker resources its state document names."""
    stepfunctions, sagemaker = clients("stepfunctions"), clients("sagemaker")
    execution = stepfunctions.describe_execution(executionArn=execution_arn)
    if definition is None:
        described = stepfunctions.describe_state_machine(stateMachineArn=execution["stateMachineArn"])
        definition = json.loads(described["definition"])
    snapshot = RunSnapshot(execution, timeline.history(stepfunctions, execution_arn), definition)
    document = snapshot.document
    if "name" in document.get("tuning", {}):
        name = document["tuning"]["name"]
        snapshot.tuning = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        summaries = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, MaxResults=100, SortBy="CreationTime", SortOrder="Ascending"
        )["TrainingJobSummaries"]
        for summary in summaries:
            if summary["TrainingJobStatus"] == "InProgress":  # its objective so far lives on the job itself
                job = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
                summary["FinalMetricDataList"] = job.get("FinalMetricDataList", [])
        snapshot.trials = summaries
    if "name" in document.get("training", {}):
        snapshot.training = sagemaker.describe_training_job(TrainingJobName=document["training"]["name"])
    if "endpoint_name" in document.get("deployment", {}):
        snapshot.endpoint = sagemaker.describe_endpoint(EndpointName=document["deployment"]["endpoint_name"])
    return snapshot
