"""StartTuning: the sourcedir uploaded once, the tuning job created, warm start from this stack's earlier job.

Through its real Lambda handler, with Stubbed AWS clients and the sample events."""

import datetime

from botocore.stub import ANY

from tests.support.handler_calls import ARN, call, sent_requests, sourcedir_already_uploaded
from tests.support.pipeline_steps import load_event


def test_start_tuning_uploads_sourcedir_once_and_creates_the_job(stubbed):
    from start_tuning import app

    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    listing = {"Bucket": "dogbreeds-data", "Prefix": ANY, "MaxKeys": 1}
    s3.add_response("list_objects_v2", {"KeyCount": 0}, listing)  # not uploaded yet (asked without HeadObject)
    s3.add_response(
        "put_object", {}, {"Bucket": "dogbreeds-data", "Key": ANY, "Body": ANY, "ContentType": "application/gzip"}
    )
    sagemaker.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []})
    sagemaker.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": ARN.format("hpo")})
    result = call(app, load_event("start_tuning"))
    assert result["status"] == "InProgress" and result["polls"] == 0
    assert len(result["name"]) <= 32 and result["name"].startswith("dogbreeds-")
    assert result["source_uri"].startswith("s3://dogbreeds-data/code/sourcedir-")
    uploaded_key = result["source_uri"].removeprefix("s3://dogbreeds-data/")
    s3.add_response("list_objects_v2", {"Contents": [{"Key": uploaded_key}]}, listing)  # second run: no upload
    sagemaker.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []})
    sagemaker.add_client_error("create_hyper_parameter_tuning_job", service_error_code="ResourceInUse")
    again = call(app, load_event("start_tuning"))
    assert again["source_uri"] == result["source_uri"] and again["name"] == result["name"]


def test_start_tuning_warm_starts_from_this_stacks_earlier_completed_job(stubbed):
    from start_tuning import app

    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    sourcedir_already_uploaded(s3)
    earlier_name = "dogbreeds-0123456789-hpo"
    summary = {
        "HyperParameterTuningJobArn": ARN.format("hyper-parameter-tuning-job"), "Strategy": "Bayesian",
        "HyperParameterTuningJobStatus": "Completed", "CreationTime": datetime.datetime(2026, 11, 1),
        "TrainingJobStatusCounters": {}, "ObjectiveStatusCounters": {},
    }  # fmt: skip
    listed = [
        summary | {"HyperParameterTuningJobName": earlier_name},
        summary | {"HyperParameterTuningJobName": "otherstack-0123456789-hpo"},  # not this stack's: never read
    ]
    sagemaker.add_response(
        "list_hyper_parameter_tuning_jobs",
        {"HyperParameterTuningJobSummaries": listed},
        {"NameContains": "dogbreeds-", "StatusEquals": "Completed", "SortBy": "CreationTime",
         "SortOrder": "Descending", "MaxResults": 100},
    )  # fmt: skip
    # the earlier run had the same code and the same dataset: its request was this run's but for the name
    from common import sourcedir
    from common.sagemaker_requests import tuning_job_request
    from common.settings import job_settings

    event = load_event("start_tuning")
    earlier = tuning_job_request(
        name=earlier_name, settings=job_settings("ml.m5.large"), tuning=app.tuning_settings(),
        dataset_uri="s3://dogbreeds-data/jobs/an-earlier-run/dataset/dogImages.zip",
        dataset_fingerprint=event["manifest"]["fingerprint"],
        source_uri=f"s3://dogbreeds-data/code/sourcedir-{sourcedir.build_archive()[0]}.tar.gz",
        tags=[],
    )  # fmt: skip
    sagemaker.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": earlier_name, "HyperParameterTuningJobArn": ARN.format("h"),
            "HyperParameterTuningJobStatus": "Completed", "CreationTime": datetime.datetime(2026, 11, 1),
            "HyperParameterTuningJobConfig": earlier["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": earlier["TrainingJobDefinition"],
            "TrainingJobStatusCounters": {"Completed": 4}, "ObjectiveStatusCounters": {"Succeeded": 4},
        },
        {"HyperParameterTuningJobName": earlier_name},
    )  # fmt: skip
    sent = sent_requests(sagemaker, "CreateHyperParameterTuningJob")
    sagemaker.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": ARN.format("hpo")})
    call(app, event)
    (request,) = sent
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": earlier_name}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }


def test_warm_start_off_sends_no_warm_start_and_lists_nothing(stubbed, monkeypatch):
    from start_tuning import app

    monkeypatch.setenv("WARM_START", "false")
    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    sourcedir_already_uploaded(s3)
    sagemaker.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": ARN.format("hpo")})
    sent = sent_requests(sagemaker, "CreateHyperParameterTuningJob")
    call(app, load_event("start_tuning"))
    assert "WarmStartConfig" not in sent[0]
