"""The local SageMaker through real boto3 clients: jobs really run, endpoints really serve."""

import itertools
import json
import os
import re
import time

import boto3
import psutil
import pytest
import torch
from botocore.config import Config
from botocore.exceptions import ClientError

from local_twin.account import ACCOUNT_ID
from local_twin.moto_stack import client
from local_twin.sagemaker import endpoints
from local_twin.sagemaker.endpoints import ColdStart
from model_code import gpus, quotas
from tests.support.local_sagemaker import BUCKET, ROLE, run_tuning, sourcedir, training_request, tuning_request, wait

pytestmark = pytest.mark.enable_socket  # a local SageMaker on loopback, its jobs' S3 on a moto server


def test_training_job_runs_the_script_through_the_toolkit(local_sagemaker, moto_url):
    _, sagemaker, _ = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-train-ok", lr=0.01, epochs=3))
    described = wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-train-ok"), "TrainingJobStatus")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert metrics == {"valid_accuracy": pytest.approx(0.992), "test_accuracy": 0.91}
    artifacts = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://{BUCKET}/models/lsm-train-ok/output/model.tar.gz"
    s3 = client("s3", moto_url, "us-east-1")
    assert s3.head_object(Bucket=BUCKET, Key="models/lsm-train-ok/output/model.tar.gz")["ContentLength"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("instance_type", "instance_count", "ranks_by_instance"),
    [("ml.g4dn.12xlarge", 1, [[0, 1, 2, 3]]), ("ml.g5.xlarge", 2, [[0], [1]])],
)
def test_a_job_with_several_gpus_in_all_runs_one_process_per_gpu_on_every_instance(
    local_sagemaker, instance_type, instance_count, ranks_by_instance
):
    """The torch_distributed distribution, as SageMaker's PyTorch image runs it: its framework module has the toolkit
    start torchrun on every instance, one process per GPU of the type (model_code/gpus.py); each instance's output is
    a log stream of its own. Without the distribution the same multi-GPU type runs the script once."""
    service, sagemaker, _ = local_sagemaker
    name = f"lsm-train-ddp-{instance_count}x{instance_type.replace('.', '-')}"
    request = training_request(name, **{gpus.TORCH_DISTRIBUTED: True, gpus.INSTANCE_TYPE: instance_type})
    request["ResourceConfig"] |= {"InstanceType": instance_type, "InstanceCount": instance_count}
    sagemaker.create_training_job(**request)
    described = wait(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    job = service.training.get(name)
    world = sum(len(ranks) for ranks in ranks_by_instance)
    for index, ranks in enumerate(ranks_by_instance):
        log = job.log_of(index).read_text()
        assert "torchrun --nnodes" in log, log[-2000:]
        assert sorted(int(rank) for rank in re.findall(rf"rank=(\d+) of world={world}\b", log)) == ranks
    assert not job.log_of(instance_count).exists()  # no instance beyond those asked for

    single = training_request(f"{name}-single")
    single["ResourceConfig"] |= {"InstanceType": instance_type}
    sagemaker.create_training_job(**single)
    described = wait(lambda: sagemaker.describe_training_job(TrainingJobName=f"{name}-single"), "TrainingJobStatus")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert "rank=- of world=-" in service.training.get(f"{name}-single").log_path.read_text()


def test_failing_script_fails_the_job_with_its_reason(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-train-fails", fail="yes"))
    described = wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-train-fails"), "TrainingJobStatus")
    assert described["TrainingJobStatus"] == "Failed"
    assert "refusing to train: fail=yes" in described["FailureReason"]


@pytest.mark.slow
def test_jobs_run_on_the_training_images_stack_and_fail_on_an_api_it_lacks(local_sagemaker, moto_url):
    """The twin's jobs run on the training image's Python and libraries (requirements/training-image.txt), not on
    the project's newer ones: model code that uses a torch API newer than the image's fails the job, as on AWS.
    The toolkit installs the source directory's requirements.txt into that stack before the script starts."""
    service, sagemaker, _ = local_sagemaker
    code = "code/sourcedir-with-requirements.tar.gz"
    client("s3", moto_url, "us-east-1").put_object(Bucket=BUCKET, Key=code, Body=sourcedir(requirements="psutil\n"))
    newer_api = "torch.optim.Muon"  # torch 2.9; the project's own torch has it, the image's 2.6 does not
    assert torch.optim.Muon
    for name, api in (("lsm-image-stack", "torch.optim.AdamW"), ("lsm-image-lacks-api", newer_api)):
        request = training_request(name, **{"use-api": api})
        request["HyperParameters"]["sagemaker_submit_directory"] = json.dumps(f"s3://{BUCKET}/{code}")
        sagemaker.create_training_job(**request)
    described = wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-image-stack"), "TrainingJobStatus")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    log = service.training.get("lsm-image-stack").log_path.read_text()
    assert "Installing dependencies from requirements.txt" in log, log[-2000:]
    assert re.search(r"Requirement already satisfied: psutil in \S*/\.venv-training-image/lib/python3\.12/", log)
    assert re.search(r"python=3\.12\.\d+ torch=2\.6\.0\S* numpy=1\.", log), log[-2000:]
    failed = wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-image-lacks-api"), "TrainingJobStatus")
    assert failed["TrainingJobStatus"] == "Failed"
    assert "AttributeError: module 'torch.optim' has no attribute 'Muon'" in failed["FailureReason"]


def test_a_stopped_job_ends_stopped_and_its_script_is_killed(local_sagemaker):
    service, sagemaker, _ = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-stopped", sleep=600))
    deadline = time.monotonic() + 120
    while sagemaker.describe_training_job(TrainingJobName="lsm-stopped")["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline, "the script never started"
        time.sleep(0.2)
    (process,) = service.training.get("lsm-stopped").processes  # one instance: one toolkit
    sagemaker.stop_training_job(TrainingJobName="lsm-stopped")
    described = wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-stopped"), "TrainingJobStatus", 60)
    assert described["TrainingJobStatus"] == "Stopped"
    assert process is not None and process.poll() is not None  # not left sleeping for 600 s
    with pytest.raises(ClientError, match="is not in progress"):
        sagemaker.stop_training_job(TrainingJobName="lsm-stopped")


def test_invalid_requests_get_aws_shaped_errors(local_sagemaker):
    service, sagemaker, _ = local_sagemaker
    unchecked = boto3.client(
        "sagemaker", endpoint_url=service.url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(parameter_validation=False),  # the server must refuse it
    )  # fmt: skip
    request = training_request("lsm-bad")
    del request["RoleArn"]
    with pytest.raises(ClientError) as raised:
        unchecked.create_training_job(**request)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "RoleArn" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_training_job(TrainingJobName="no-such-job")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert "Requested resource not found" in missing.value.response["Error"]["Message"]
    with pytest.raises(sagemaker.exceptions.ResourceNotFound, match="can't find a tuning job called no-such-tuning"):
        sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="no-such-tuning")
    with pytest.raises(ClientError, match="Could not find endpoint 'no-such-endpoint'"):
        sagemaker.describe_endpoint(EndpointName="no-such-endpoint")


@pytest.mark.slow
def test_tuning_respects_its_limits_and_picks_the_best(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    definition = training_request("ignored")
    del definition["TrainingJobName"]
    static = definition.pop("HyperParameters")
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="lsm-hpo",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "valid_accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
                ],
                "CategoricalParameterRanges": [{"Name": "batch-size", "Values": ["8", "64"]}],
            },
        },
        TrainingJobDefinition={"StaticHyperParameters": static | {"epochs": "1"}, **definition},
    )
    described = wait(lambda: sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="lsm-hpo"),
                     "HyperParameterTuningJobStatus")  # fmt: skip
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="lsm-hpo")
    summaries = trials["TrainingJobSummaries"]
    assert len(summaries) == 3 and described["TrainingJobStatusCounters"]["Completed"] == 3
    scores = {s["TrainingJobName"]: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries}
    best = described["BestTrainingJob"]
    assert scores[best["TrainingJobName"]] == max(scores.values())
    assert set(best["TunedHyperParameters"]) == {"lr", "batch-size"}
    assert all(isinstance(value, str) for value in best["TunedHyperParameters"].values())
    assert best["TrainingJobName"].startswith("lsm-hpo-00")


@pytest.mark.slow
def test_grid_walks_every_combination_once(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    grid = {"lr": ["0.01", "0.05"], "batch-size": ["8", "16"]}
    ranges = {"CategoricalParameterRanges": [{"Name": name, "Values": values} for name, values in grid.items()]}
    described, trials = run_tuning(
        sagemaker, "lsm-grid", "Grid", {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2}, ranges
    )
    tried = sorted((t["TunedHyperParameters"]["lr"], t["TunedHyperParameters"]["batch-size"]) for t in trials)
    assert tried == [("0.01", "16"), ("0.01", "8"), ("0.05", "16"), ("0.05", "8")]  # 4 of 10 allowed: the grid
    assert described["BestTrainingJob"]["TunedHyperParameters"] == {"lr": "0.01", "batch-size": "8"}


@pytest.mark.slow
def test_bayesian_runs_one_trial_at_a_time_when_told_and_keeps_the_best(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    ranges = {
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1", "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "batch-size", "Values": ["8", "64"]}],
    }
    described, trials = run_tuning(
        sagemaker, "lsm-bayes", "Bayesian", {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 1}, ranges
    )
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian" and len(trials) == 4
    spans = sorted((t["TrainingStartTime"], t["TrainingEndTime"]) for t in trials)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans)), spans  # one at a time
    scores = {t["TrainingJobName"]: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials}
    assert scores[described["BestTrainingJob"]["TrainingJobName"]] == max(scores.values())


BAYES_RANGES = {
    "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1", "ScalingType": "Auto"}],
    "CategoricalParameterRanges": [{"Name": "batch-size", "Values": ["8", "64"]}],
}


@pytest.mark.slow
def test_warm_start_seeds_the_search_with_the_parents_trials(local_sagemaker):
    service, sagemaker, _ = local_sagemaker
    limits = {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1}
    _, parent_trials = run_tuning(sagemaker, "lsm-parent", "Bayesian", limits, BAYES_RANGES)
    warm_start = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "lsm-parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    described, trials = run_tuning(
        sagemaker, "lsm-child", "Bayesian", limits | {"MaxNumberOfTrainingJobs": 2}, BAYES_RANGES,
        WarmStartConfig=warm_start,
    )  # fmt: skip
    assert described["WarmStartConfig"] == warm_start and len(trials) == 2
    seeded = service.tuning.get("lsm-child").study.trials[:3]  # before its own: the parent's, as finished trials
    objective = "FinalHyperParameterTuningJobObjectiveMetric"
    expected = sorted((t["TunedHyperParameters"]["batch-size"], t[objective]["Value"]) for t in parent_trials)
    assert sorted((t.params["batch-size"], t.value) for t in seeded) == expected
    assert all(t.state.name == "COMPLETE" for t in seeded)
    # IdenticalDataAndAlgorithm: the overall best may be the parent's, as on AWS
    scores = {t["TrainingJobName"]: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
              for t in parent_trials + trials}  # fmt: skip
    assert scores[described["BestTrainingJob"]["TrainingJobName"]] == max(scores.values())
    # how StartTuning finds parents: NameContains (any case), newest first
    newest = sagemaker.list_hyper_parameter_tuning_jobs(
        NameContains="LSM-", StatusEquals="Completed", SortBy="CreationTime", SortOrder="Descending"
    )["HyperParameterTuningJobSummaries"]
    assert [job["HyperParameterTuningJobName"] for job in newest[:2]] == ["lsm-child", "lsm-parent"]
    assert not sagemaker.list_hyper_parameter_tuning_jobs(NameContains="other-")["HyperParameterTuningJobSummaries"]


def test_warm_start_is_refused_as_aws_refuses_it(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    limits = {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1}
    run_tuning(sagemaker, "lsm-done", "Bayesian", limits, BAYES_RANGES)

    def refused(name, parents, request_changes=lambda r: r):
        warm_start = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in parents],
            "WarmStartType": "TransferLearning",
        }
        request = request_changes(tuning_request(name, "Bayesian", limits, BAYES_RANGES, WarmStartConfig=warm_start))
        with pytest.raises(ClientError) as raised:
            sagemaker.create_hyper_parameter_tuning_job(**request)
        return raised.value.response["Error"]

    assert "at most 5 parent jobs" in refused("lsm-w1", ["lsm-done"] * 6)["Message"]
    assert refused("lsm-w2", ["no-such-parent"])["Code"] == "ResourceNotFound"

    def other_objective(request):
        request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "test_accuracy"
        return request

    assert "objective metric differs" in refused("lsm-w3", ["lsm-done"], other_objective)["Message"]

    def one_more_static(request):
        request["TrainingJobDefinition"]["StaticHyperParameters"]["sleep"] = "0"
        return request

    assert "static plus tunable" in refused("lsm-w4", ["lsm-done"], one_more_static)["Message"]
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request("lsm-running", "Bayesian", limits, BAYES_RANGES))
    assert "not in a terminal state" in refused("lsm-w5", ["lsm-running"])["Message"]


def deploy(sagemaker, name: str, training_job: str) -> None:
    model_data = sagemaker.describe_training_job(TrainingJobName=training_job)["ModelArtifacts"]["S3ModelArtifacts"]
    sagemaker.create_model(ModelName=f"{name}-model", ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "inference", "ModelDataUrl": model_data})  # fmt: skip
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{name}-model", "InstanceType": "ml.m5.large",
                             "InitialInstanceCount": 1}],
    )  # fmt: skip


def invoke(runtime, body: dict) -> dict:
    answer = runtime.invoke_endpoint(EndpointName="lsm-endpoint", ContentType="application/json", Body=json.dumps(body))
    return json.loads(answer["Body"].read())


def model_error(runtime, content_type: str, body: bytes) -> dict:
    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint(EndpointName="lsm-endpoint", ContentType=content_type, Body=body)
    response = refused.value.response
    assert response["Error"]["Code"] == "ModelError" and response["ResponseMetadata"]["HTTPStatusCode"] == 424
    return response


@pytest.mark.slow
def test_endpoint_serves_updates_and_rolls_back(local_sagemaker):
    service, sagemaker, runtime = local_sagemaker
    for name, lr in (("lsm-a", 0.01), ("lsm-b", 0.02)):
        sagemaker.create_training_job(**training_request(f"{name}-train", lr=lr, epochs=1))
        wait(lambda name=name: sagemaker.describe_training_job(TrainingJobName=f"{name}-train"), "TrainingJobStatus")
        deploy(sagemaker, name, f"{name}-train")
    with pytest.raises(ClientError, match="not found"):
        invoke(runtime, {"x": 1})

    sagemaker.create_endpoint(EndpointName="lsm-endpoint", EndpointConfigName="lsm-a-config")
    described = wait(lambda: sagemaker.describe_endpoint(EndpointName="lsm-endpoint"), "EndpointStatus")
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    assert invoke(runtime, {"x": 1}) == {"echo": {"x": 1}, "lr": 0.01}

    # what TorchServe answers is passed on: status and whole body, in SageMaker's ModelError (SERVE_FACTS)
    refused = model_error(runtime, "text/plain", b"hi")
    assert refused["OriginalStatusCode"] == 400
    message, traceback = refused["OriginalMessage"].split("\n", 1)  # the toolkit's body: message, traceback
    assert message == "unsupported content type text/plain"
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.endswith("inference.BadInput: (400, 'unsupported content type text/plain', "
                              "'unsupported content type text/plain')\n")  # fmt: skip
    assert refused["Error"]["Message"] == (
        f'Received client error (400) from primary with message "{refused["OriginalMessage"]}". See '
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group="
        f"/aws/sagemaker/Endpoints/lsm-endpoint in account {ACCOUNT_ID} for more information."
    )
    group = "/aws/sagemaker/Endpoints/lsm-endpoint"
    assert refused["LogStreamArn"] == f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{group}"
    failed = model_error(runtime, "application/json", b'{"fail": "no luck"}')  # a plain exception: 500
    assert failed["OriginalStatusCode"] == 500 and failed["Error"]["Message"].startswith("Received server error (500)")
    assert failed["OriginalMessage"].startswith("no luck\nTraceback (most recent call last):")
    assert failed["OriginalMessage"].endswith("RuntimeError: no luck\n")
    died = model_error(runtime, "application/json", b'{"exit": 1}')  # TorchServe's own answer
    assert died["OriginalStatusCode"] == 500
    assert json.loads(died["OriginalMessage"]) == {"code": 500, "type": "InternalServerException",
                                                   "message": "Worker died."}  # fmt: skip
    assert invoke(runtime, {"x": 1})["lr"] == 0.01  # TorchServe restarts the worker

    service.faults.unhealthy_next_update = True
    sagemaker.update_endpoint(EndpointName="lsm-endpoint", EndpointConfigName="lsm-b-config")
    assert sagemaker.describe_endpoint(EndpointName="lsm-endpoint")["EndpointStatus"] == "Updating"
    assert invoke(runtime, {"x": 2})["lr"] == 0.01  # the old model answers during the update
    described = wait(lambda: sagemaker.describe_endpoint(EndpointName="lsm-endpoint"), "EndpointStatus")
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == "lsm-a-config"
    assert "health check" in described["FailureReason"]
    assert invoke(runtime, {"x": 3})["lr"] == 0.01  # and after the failed one

    sagemaker.update_endpoint(EndpointName="lsm-endpoint", EndpointConfigName="lsm-b-config")
    described = wait(lambda: sagemaker.describe_endpoint(EndpointName="lsm-endpoint"), "EndpointStatus")
    assert described["EndpointConfigName"] == "lsm-b-config" and "FailureReason" not in described
    assert invoke(runtime, {"x": 4})["lr"] == 0.02

    sagemaker.delete_endpoint(EndpointName="lsm-endpoint")
    with pytest.raises(ClientError, match="not found"):
        invoke(runtime, {"x": 5})


@pytest.mark.slow
def test_endpoints_run_torchserve_in_the_inference_image_and_stop_whole(local_sagemaker, monkeypatch):
    """The container is the image's: the toolkit's TorchServe on the inference stand-in's torch; two run side by
    side (their own ports, pid files, sockets), and a deleted endpoint leaves none of its processes, Java included."""
    service, sagemaker, runtime = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-ts-train", lr=0.03, epochs=1))
    wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-ts-train"), "TrainingJobStatus")
    deploy(sagemaker, "lsm-ts", "lsm-ts-train")
    started = time.monotonic()
    for name in ("lsm-ts-1", "lsm-ts-2"):
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="lsm-ts-config")
    for name in ("lsm-ts-1", "lsm-ts-2"):
        described = wait(lambda name=name: sagemaker.describe_endpoint(EndpointName=name), "EndpointStatus")
        assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    print(f"two endpoints InService in {time.monotonic() - started:.1f} s")

    servers = [service.endpoints.get(name).server for name in ("lsm-ts-1", "lsm-ts-2")]
    for name, server in zip(("lsm-ts-1", "lsm-ts-2"), servers, strict=True):
        answer = json.loads(runtime.invoke_endpoint(EndpointName=name, ContentType="application/json",
                                                    Body=b'{"where": 1}')["Body"].read())  # fmt: skip
        assert (answer["torch"].split("+")[0], answer["torchserve"], answer["python"]) == ("2.6.0", "0.12.0", [3, 12])
        worker = psutil.Process(answer["pid"])
        assert "ts/model_service_worker.py" in " ".join(worker.cmdline())  # a TorchServe worker
        assert os.getpgid(answer["pid"]) == server.process.pid  # of this endpoint's container
        assert psutil.Process(answer["ppid"]).name() == "java"  # started by TorchServe's frontend
        log = (server.folder / "serve.log").read_text()
        # on loopback only, unlike the image's 0.0.0.0: TorchServe's APIs and its metrics
        assert "Torchserve version: 0.12.0" in log and f"Inference address: http://127.0.0.1:{server.port}" in log
        java = psutil.Process(answer["ppid"])
        listening = {  # Java listens on IPv6 sockets: IPv4 addresses come mapped
            c.laddr.ip.removeprefix("::ffff:")
            for c in java.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}, java.net_connections(kind="tcp")

    monkeypatch.setattr(endpoints, "INVOCATION_TIMEOUT_SECONDS", 1)
    with pytest.raises(ClientError) as late:
        runtime.invoke_endpoint(EndpointName="lsm-ts-1", ContentType="application/json", Body=b'{"sleep": 3}')
    assert late.value.response["OriginalStatusCode"] == 0
    assert late.value.response["Error"]["Message"].startswith(
        'Received server error (0) from primary with message "Your invocation timed out while waiting for a '
        "response from container primary. Review the latency metrics for each container in Amazon CloudWatch, "
        'resolve the issue, and try again.". See https://'
    )
    monkeypatch.undo()

    processes = [psutil.Process(pid) for server in servers for pid in server.processes()]
    java = [process for process in processes if process.name() == "java"]
    assert len(java) == 2 and len(processes) >= 8  # each: the entry point, Java, a worker per CPU
    for name in ("lsm-ts-1", "lsm-ts-2"):
        sagemaker.delete_endpoint(EndpointName=name)
    assert [server.processes() for server in servers] == [[], []]
    assert not [process for process in processes if process.is_running()]  # no stray Java, no worker


@pytest.mark.slow
def test_serverless_endpoints_have_aws_payload_limits_and_cold_starts(local_sagemaker):
    service, sagemaker, runtime = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-sl-train", lr=0.01, epochs=1))
    described = wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-sl-train"), "TrainingJobStatus")
    sagemaker.create_model(ModelName="lsm-sl-model", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": "inference", "ModelDataUrl": described["ModelArtifacts"]["S3ModelArtifacts"]})  # fmt: skip

    def serverless_config(name: str, **extra) -> None:
        serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 2, **extra}
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "lsm-sl-model", "ServerlessConfig": serverless}])  # fmt: skip

    with pytest.raises(ClientError, match="ProvisionedConcurrency must be less than or equal to MaxConcurrency"):
        serverless_config("lsm-sl-too-many", ProvisionedConcurrency=3)
    serverless_config("lsm-sl-cold")
    serverless_config("lsm-sl-warm", ProvisionedConcurrency=1)
    for name in ("lsm-sl-cold", "lsm-sl-warm"):
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
        assert wait(lambda name=name: sagemaker.describe_endpoint(EndpointName=name), "EndpointStatus")[
            "EndpointStatus"] == "InService"  # fmt: skip

    def invoke_on(name: str, body: bytes) -> dict:
        answer = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)
        return json.loads(answer["Body"].read())

    service.endpoints.cold_start = ColdStart(idle_seconds=0.0, seconds=1.0)  # idle at once, a one-second start
    try:
        for name in ("lsm-sl-cold", "lsm-sl-warm"):  # the size check comes first, warm or not
            with pytest.raises(ClientError) as oversize:
                invoke_on(name, b"{" + bytes(4_000_000))
            assert oversize.value.response["Error"]["Code"] == "ValidationError"
            assert oversize.value.response["Error"]["Message"].endswith("has oversize body.")
        with pytest.raises(runtime.exceptions.ModelNotReadyException, match="still being provisioned"):
            invoke_on("lsm-sl-cold", b'{"x": 1}')
        assert invoke_on("lsm-sl-warm", b'{"x": 1}')["lr"] == 0.01  # provisioned concurrency: never cold
        time.sleep(1.2)  # the cold start ends
        assert invoke_on("lsm-sl-cold", b'{"x": 2}') == {"echo": {"x": 2}, "lr": 0.01}
    finally:
        service.endpoints.cold_start = ColdStart()
        for name in ("lsm-sl-cold", "lsm-sl-warm"):
            sagemaker.delete_endpoint(EndpointName=name)


def test_throttling_faults_answer_like_aws(local_sagemaker):
    service, sagemaker, _ = local_sagemaker
    no_retries = boto3.client(
        "sagemaker", endpoint_url=service.url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip
    service.faults.throttle["ListEndpoints"] = 2
    with pytest.raises(ClientError) as raised:
        no_retries.list_endpoints()
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert "Endpoints" in sagemaker.list_endpoints()  # botocore's retry gets through the second throttle


def test_a_role_sagemaker_cannot_assume_is_refused_as_sagemaker_does(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    request = training_request("lsm-no-such-role", epochs=1)
    request["RoleArn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/does-not-exist"
    with pytest.raises(ClientError) as raised:
        sagemaker.create_training_job(**request)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["Error"]["Message"].startswith(
        f"Could not assume role arn:aws:iam::{ACCOUNT_ID}:role/does-not-exist."
    )


def limit_exceeded(call, **request) -> str:
    with pytest.raises(ClientError) as raised:
        call(**request)
    assert raised.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return raised.value.response["Error"]["Message"]


def test_training_over_a_quota_is_refused_with_resource_limit_exceeded(local_sagemaker):
    """As SageMaker answers: the quota by name, its value, what runs and what was asked, at creation."""
    service, sagemaker, _ = local_sagemaker
    on_demand = quotas.training_instances("ml.c5.xlarge", spot=False)  # a type no other test of the module uses
    service.quotas.set(on_demand, 1)
    try:
        running = training_request("lsm-quota-running", sleep=600) | {
            "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}
        }
        sagemaker.create_training_job(**running)
        message = limit_exceeded(sagemaker.create_training_job, **(running | {"TrainingJobName": "lsm-quota-one-more"}))
        assert message == quotas.limit_exceeded_message(on_demand, 1, 1, 1)
        assert message.startswith(
            "The account-level service limit 'ml.c5.xlarge for training job usage' is 1 Instances, with current "
            "utilization of 1 Instances and a request delta of 1 Instances. Please use AWS Service Quotas"
        )
        with pytest.raises(ClientError, match="Requested resource not found"):  # refused: never created
            sagemaker.describe_training_job(TrainingJobName="lsm-quota-one-more")

        definition = {key: value for key, value in running.items() if key not in ("TrainingJobName", "HyperParameters")}
        tuning = {
            "HyperParameterTuningJobName": "lsm-quota-hpo",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Random",
                "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "valid_accuracy"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
                "ParameterRanges": {"CategoricalParameterRanges": [{"Name": "epochs", "Values": ["1", "2"]}]},
            },
            "TrainingJobDefinition": definition | {"StaticHyperParameters": running["HyperParameters"]},
        }
        deadline = time.monotonic() + 120  # the twin stops a job once its script runs
        while sagemaker.describe_training_job(TrainingJobName="lsm-quota-running")["SecondaryStatus"] != "Training":
            assert time.monotonic() < deadline, "the script never started"
            time.sleep(0.2)
        sagemaker.stop_training_job(TrainingJobName="lsm-quota-running")
        wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-quota-running"), "TrainingJobStatus", 60)
        service.quotas.set(on_demand, 0)  # a new account's: the tuning job's parallel trials are refused at creation
        assert limit_exceeded(sagemaker.create_hyper_parameter_tuning_job, **tuning) == quotas.limit_exceeded_message(
            on_demand, 0, 0, 2
        )
        service.quotas.set(on_demand, 2)
        service.quotas.set(quotas.PARALLEL_TRIALS, 1)
        assert "'Maximum number of training jobs each hyper parameter tuning job can run in parallel at once' is 1" in (
            limit_exceeded(sagemaker.create_hyper_parameter_tuning_job, **tuning)
        )
    finally:
        service.quotas.applied.clear()


def test_service_quotas_lists_the_accounts_applied_values_and_aws_defaults(local_sagemaker):
    service, _, _ = local_sagemaker
    service_quotas = client("service-quotas", service.url, "us-east-1")
    assert service_quotas.list_service_quotas(ServiceCode="sagemaker")["Quotas"] == []  # nothing applied: defaults
    service.quotas.set(quotas.SERVERLESS_CONCURRENCY, 10)
    try:
        (applied,) = service_quotas.list_service_quotas(ServiceCode="sagemaker")["Quotas"]
        assert (applied["QuotaCode"], applied["QuotaName"], applied["Value"]) == (
            "L-96300102",
            quotas.SERVERLESS_CONCURRENCY.name,
            10.0,
        )
        pages = service_quotas.get_paginator("list_aws_default_service_quotas").paginate(
            ServiceCode="sagemaker", PaginationConfig={"PageSize": 3}
        )
        defaults = [quota for page in pages for quota in page["Quotas"]]
        codes = {quota["QuotaCode"] for quota in defaults}
        assert {"L-96300102", "L-11294128", "L-EAC49F53", "L-9D782CC7"} <= codes and len(codes) == len(defaults)
        with pytest.raises(service_quotas.exceptions.NoSuchResourceException):
            service_quotas.list_service_quotas(ServiceCode="lambda")
    finally:
        service.quotas.applied.clear()


@pytest.mark.slow
def test_endpoints_are_held_to_their_instance_and_serverless_quotas(local_sagemaker):
    """A blue/green update needs the new instance beside the old one; a serverless endpoint its memory."""
    service, sagemaker, _ = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-quota-train", lr=0.01, epochs=1))
    wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-quota-train"), "TrainingJobStatus")
    model_data = sagemaker.describe_training_job(TrainingJobName="lsm-quota-train")["ModelArtifacts"][
        "S3ModelArtifacts"
    ]
    sagemaker.create_model(ModelName="lsm-quota-model", ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "inference", "ModelDataUrl": model_data})  # fmt: skip
    for name, variant in (
        ("lsm-quota-a", {"InstanceType": "ml.c5.large", "InitialInstanceCount": 1}),
        ("lsm-quota-b", {"InstanceType": "ml.c5.large", "InitialInstanceCount": 1}),
        ("lsm-quota-sl", {"ServerlessConfig": {"MemorySizeInMB": 4096, "MaxConcurrency": 2}}),
    ):
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "lsm-quota-model", **variant}],
        )
    instances = quotas.endpoint_instances("ml.c5.large")
    service.quotas.set(instances, 1)
    service.quotas.set(quotas.SERVERLESS_MEMORY, 3072)
    try:
        message = limit_exceeded(
            sagemaker.create_endpoint, EndpointName="lsm-quota-sl", EndpointConfigName="lsm-quota-sl"
        )
        assert message == quotas.limit_exceeded_message(quotas.SERVERLESS_MEMORY, 3072, 0, 4096)
        sagemaker.create_endpoint(EndpointName="lsm-quota", EndpointConfigName="lsm-quota-a")
        assert wait(lambda: sagemaker.describe_endpoint(EndpointName="lsm-quota"), "EndpointStatus")[
            "EndpointStatus"] == "InService"  # fmt: skip
        message = limit_exceeded(sagemaker.update_endpoint, EndpointName="lsm-quota", EndpointConfigName="lsm-quota-b")
        assert message == quotas.limit_exceeded_message(instances, 1, 1, 1)
        service.quotas.set(instances, 2)  # room for both fleets
        sagemaker.update_endpoint(EndpointName="lsm-quota", EndpointConfigName="lsm-quota-b")
        described = wait(lambda: sagemaker.describe_endpoint(EndpointName="lsm-quota"), "EndpointStatus")
        assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "lsm-quota-b")
    finally:
        service.quotas.applied.clear()
        if "lsm-quota" in service.endpoints.endpoints:
            sagemaker.delete_endpoint(EndpointName="lsm-quota")
