"""The quotas a run needs (model_code/quotas.py), read from Service Quotas as its API answers (Stubbed: botocore
checks every request and answer against the service model), and the CheckQuotas step that refuses a run."""

import boto3
import pytest
from botocore.stub import Stubber

from model_code import quotas
from tests.support.lambda_context import LambdaContext
from tests.support.pipeline_steps import ENVIRONMENT
from tests.support.service_quotas import fixed, listing, quota


def config(**changes) -> quotas.StackConfig:
    """The handlers' test environment (tests/support/pipeline_steps.py) as a configuration."""
    values = {
        "tuning_instance_type": ENVIRONMENT["TUNING_INSTANCE_TYPE"],
        "training_instance_type": ENVIRONMENT["TRAINING_INSTANCE_TYPE"],
        "endpoint_instance_type": ENVIRONMENT["ENDPOINT_INSTANCE_TYPE"],
        "max_tuning_jobs": 4,
        "max_parallel_tuning_jobs": 2,
        "use_spot": True,
        "serverless": False,
        "serverless_memory_mb": 3072,
        "serverless_max_concurrency": 2,
    }
    return quotas.StackConfig(**(values | changes))


def needed(configuration: quotas.StackConfig) -> dict[str, int]:
    return {need.quota.name: need.value for need in quotas.needs(configuration)}


def test_a_spot_run_with_an_instance_endpoint_needs_its_types_trials_and_a_second_endpoint_instance():
    assert needed(config()) == {
        "ml.m5.large for spot training job usage": 2,  # MaxParallelTuningJobs trials at once
        "ml.m5.xlarge for spot training job usage": 1,  # the final job, of another type
        "Number of instances across all spot training jobs": 2,
        quotas.TUNING_JOBS_AT_ONCE.name: 1,
        quotas.PARALLEL_TRIALS.name: 2,
        quotas.TRIALS_PER_TUNING_JOB.name: 4,
        "ml.m5.large for endpoint usage": 2,  # blue/green: the new instance beside the old one (one at most)
    }


def test_one_type_for_both_on_demand_and_a_serverless_endpoint():
    configuration = config(training_instance_type="ml.m5.large", use_spot=False, serverless=True, max_tuning_jobs=6)
    assert needed(configuration) == {
        "ml.m5.large for training job usage": 2,  # trials, then the final job after them: the larger is enough
        "Number of instances across all training jobs": 2,
        quotas.TUNING_JOBS_AT_ONCE.name: 1,
        quotas.PARALLEL_TRIALS.name: 2,
        quotas.TRIALS_PER_TUNING_JOB.name: 6,
        quotas.SERVERLESS_ENDPOINTS.name: 1,
        quotas.SERVERLESS_CONCURRENCY.name: 2,
        quotas.SERVERLESS_MEMORY.name: 3072,
    }


def test_the_configuration_reads_the_templates_parameter_names():
    parameters = {
        "TuningInstanceType": "ml.g4dn.xlarge", "TrainingInstanceType": "ml.g4dn.xlarge",
        "EndpointInstanceType": "ml.m5.large", "MaxTuningJobs": "10", "MaxParallelTuningJobs": "3",
        "UseSpotInstances": "false", "ServerlessInference": "true", "ServerlessMemorySizeMB": "2048",
        "ServerlessMaxConcurrency": "5",
    }  # fmt: skip
    assert quotas.StackConfig.from_parameters(parameters) == quotas.StackConfig(
        "ml.g4dn.xlarge", "ml.g4dn.xlarge", "ml.m5.large", 10, 3, False, True, 2048, 5
    )


def test_an_instance_endpoint_needs_twice_its_most_instances():
    """Autoscaling may grow it to EndpointMaxInstances, and a blue/green update starts a fleet of the live size
    beside the old one (Deploy retains the scaled count); a stack deployed before the parameter had one."""
    assert needed(config(endpoint_max_instances=3))["ml.m5.large for endpoint usage"] == 6
    parameters = {
        "TuningInstanceType": "ml.m5.large", "TrainingInstanceType": "ml.m5.large",
        "EndpointInstanceType": "ml.c5.large", "EndpointMaxInstances": "4", "MaxTuningJobs": "4",
        "MaxParallelTuningJobs": "2", "UseSpotInstances": "false", "ServerlessInference": "false",
        "ServerlessMemorySizeMB": "3072", "ServerlessMaxConcurrency": "2",
    }  # fmt: skip
    (endpoint,) = [need for need in quotas.needs(quotas.StackConfig.from_parameters(parameters))
                   if need.quota.name == "ml.c5.large for endpoint usage"]  # fmt: skip
    assert (endpoint.value, endpoint.why) == (
        8,
        "EndpointMaxInstances=4, and a blue/green update starts as many beside them",
    )
    del parameters["EndpointMaxInstances"]
    assert quotas.StackConfig.from_parameters(parameters).endpoint_max_instances == 1


def test_a_final_job_on_several_instances_needs_them_all_at_once():
    """TrainingInstanceCount: every instance of the final job runs at once (a stack deployed before the parameter
    existed reads as one)."""
    assert needed(config(training_instance_count=3))["ml.m5.xlarge for spot training job usage"] == 3
    assert needed(config(training_instance_count=3))["Number of instances across all spot training jobs"] == 3
    same_type = config(training_instance_type="ml.m5.large", training_instance_count=3)
    assert needed(same_type)["ml.m5.large for spot training job usage"] == 3  # more than the 2 trials at once
    parameters = {
        "TuningInstanceType": "ml.m5.large", "TrainingInstanceType": "ml.g5.xlarge", "TrainingInstanceCount": "2",
        "EndpointInstanceType": "ml.m5.large", "MaxTuningJobs": "4", "MaxParallelTuningJobs": "2",
        "UseSpotInstances": "true", "ServerlessInference": "true", "ServerlessMemorySizeMB": "3072",
        "ServerlessMaxConcurrency": "2",
    }  # fmt: skip
    assert quotas.StackConfig.from_parameters(parameters).training_instance_count == 2
    del parameters["TrainingInstanceCount"]
    assert quotas.StackConfig.from_parameters(parameters).training_instance_count == 1


@pytest.fixture
def service_quotas():
    stub = Stubber(boto3.client("service-quotas", region_name="us-east-1"))
    with stub:
        yield stub
        stub.assert_no_pending_responses()


def test_applied_values_are_read_over_every_page_and_defaults_fill_the_rest(service_quotas):
    listing(
        service_quotas,
        "list_service_quotas",
        [
            [quota("ml.m5.large for spot training job usage", 0.0), fixed(quotas.PARALLEL_TRIALS, 10.0)],
            [quota("ml.m5.xlarge for spot training job usage", 4.0)],
        ],
    )
    unavailable = fixed(quotas.TRIALS_PER_TUNING_JOB, 0.0, default=True) | {
        "ErrorReason": {"ErrorCode": "SERVICE_QUOTA_NOT_AVAILABLE_ERROR", "ErrorMessage": "no value"}
    }
    del unavailable["Value"]  # an entry with an ErrorReason instead of a value is no value
    listing(
        service_quotas,
        "list_aws_default_service_quotas",
        [
            [fixed(quotas.SPOT_TRAINING_INSTANCES, 20.0, default=True), unavailable],
            [
                fixed(quotas.TUNING_JOBS_AT_ONCE, 100.0, default=True),
                quota("ml.m5.large for spot training job usage", 20.0, default=True),  # the applied 0 wins
                quota("ml.m5.large for endpoint usage", 1.0, default=True),
            ],
        ],
    )
    readings = {
        reading.need.quota.name: reading for reading in quotas.read(service_quotas.client, quotas.needs(config()))
    }
    seen = {name: (reading.value, reading.applied, reading.code) for name, reading in readings.items()}
    assert seen == {
        "ml.m5.large for spot training job usage": (0.0, True, "L-29688C85"),
        "ml.m5.xlarge for spot training job usage": (4.0, True, "L-4CEE6BA6"),
        "Number of instances across all spot training jobs": (20.0, False, "L-93958082"),
        quotas.TUNING_JOBS_AT_ONCE.name: (100.0, False, "L-9D782CC7"),
        quotas.PARALLEL_TRIALS.name: (10.0, True, "L-11294128"),
        quotas.TRIALS_PER_TUNING_JOB.name: (None, False, "L-EAC49F53"),  # could not be read
        "ml.m5.large for endpoint usage": (1.0, False, "L-614B09FD"),
    }
    assert [name for name, reading in readings.items() if not reading.enough] == [
        "ml.m5.large for spot training job usage",
        "ml.m5.large for endpoint usage",
    ]
    assert readings[quotas.TRIALS_PER_TUNING_JOB.name].enough  # unreadable: a warning, never a refusal


def test_defaults_are_not_asked_for_when_every_quota_has_an_applied_value(service_quotas):
    configuration = config(tuning_instance_type="ml.m5.large", training_instance_type="ml.m5.large")
    applied = [
        quota("ml.m5.large for spot training job usage", 2.0),
        fixed(quotas.SPOT_TRAINING_INSTANCES, 4.0),
        fixed(quotas.TUNING_JOBS_AT_ONCE, 100.0),
        fixed(quotas.PARALLEL_TRIALS, 10.0),
        fixed(quotas.TRIALS_PER_TUNING_JOB, 500.0),
        quota("ml.m5.large for endpoint usage", 2.0),
    ]
    listing(service_quotas, "list_service_quotas", [applied])  # a ListAWSDefaultServiceQuotas call would fail here
    readings = quotas.read(service_quotas.client, quotas.needs(configuration))
    assert all(reading.applied and reading.enough for reading in readings)
    assert quotas.shortfalls(readings, "us-east-1") == []


def test_a_shortfall_names_the_quota_both_values_and_how_to_ask():
    need = quotas.Need(quotas.training_instances("ml.g4dn.xlarge", spot=False), 2, "MaxParallelTuningJobs=2 trials")
    (text,) = quotas.shortfalls([quotas.Reading(need, 0.0, "L-3F53BF0F", True)], "eu-west-1")
    assert text == (
        "'ml.g4dn.xlarge for training job usage' (L-3F53BF0F) is 0 in eu-west-1; this stack needs 2 "
        "(MaxParallelTuningJobs=2 trials). Request an increase: "
        "https://eu-west-1.console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas/L-3F53BF0F or "
        "`aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code L-3F53BF0F "
        "--desired-value 2 --region eu-west-1`"
    )


def test_resource_limit_exceeded_reads_as_sagemakers_own():
    """A real answer (CreateHyperParameterTuningJob, 2 parallel trials on a quota of 0), word for word."""
    message = quotas.limit_exceeded_message(quotas.training_instances("ml.m4.xlarge", spot=False), 0, 0, 2)
    assert message == (
        "The account-level service limit 'ml.m4.xlarge for training job usage' is 0 Instances, with current "
        "utilization of 0 Instances and a request delta of 2 Instances. Please use AWS Service Quotas to request an "
        "increase for this quota. If AWS Service Quotas is not available, contact AWS support to request an "
        "increase for this quota."
    )
    memory = quotas.limit_exceeded_message(quotas.SERVERLESS_MEMORY, 3072, 0, 4096)
    assert "'Memory size in MB per serverless endpoint' is 3072 MBs, with current utilization of 0 MBs and a " in memory


def test_check_quotas_refuses_the_run_naming_every_shortfall(stubbed):
    from check_quotas import app

    listing(
        stubbed("service-quotas"),
        "list_service_quotas",
        [[quota("ml.m5.large for spot training job usage", 0.0), quota("ml.m5.large for endpoint usage", 1.0)]],
    )
    listing(
        stubbed("service-quotas"),
        "list_aws_default_service_quotas",
        [
            [
                quota("ml.m5.xlarge for spot training job usage", 5.0, default=True),
                fixed(quotas.SPOT_TRAINING_INSTANCES, 20.0, default=True),
                fixed(quotas.TUNING_JOBS_AT_ONCE, 100.0, default=True),
                fixed(quotas.PARALLEL_TRIALS, 10.0, default=True),
                fixed(quotas.TRIALS_PER_TUNING_JOB, 500.0, default=True),
            ]
        ],
    )
    with pytest.raises(app.QuotaTooLow) as refused:
        app.lambda_handler({"run_id": "dogImages-4f0c2a9d1e7b3c55"}, LambdaContext())
    message = str(refused.value)
    assert message.startswith("2 SageMaker quota(s) too low for this stack: ")
    assert "'ml.m5.large for spot training job usage' (L-29688C85) is 0 in us-east-1; this stack needs 2" in message
    assert "'ml.m5.large for endpoint usage' (L-614B09FD) is 1 in us-east-1; this stack needs 2" in message
    assert "--quota-code L-614B09FD --desired-value 2" in message


def test_check_quotas_lets_a_run_through_and_says_what_it_could_not_read(stubbed):
    from check_quotas import app

    listing(stubbed("service-quotas"), "list_service_quotas", [[]])  # no applied values: defaults only
    listing(
        stubbed("service-quotas"),
        "list_aws_default_service_quotas",
        [
            [
                quota("ml.m5.large for spot training job usage", 20.0, default=True),
                quota("ml.m5.xlarge for spot training job usage", 20.0, default=True),
                fixed(quotas.SPOT_TRAINING_INSTANCES, 20.0, default=True),
                fixed(quotas.TUNING_JOBS_AT_ONCE, 100.0, default=True),
                fixed(quotas.PARALLEL_TRIALS, 10.0, default=True),
                quota("ml.m5.large for endpoint usage", 2.0, default=True),
            ]
        ],
    )
    answer = app.lambda_handler({"run_id": "dogImages-4f0c2a9d1e7b3c55"}, LambdaContext())
    assert answer == {"checked": 7, "unreadable": [quotas.TRIALS_PER_TUNING_JOB.name]}
