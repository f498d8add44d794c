"""StartPipeline: an upload starts one named execution, with the dataset and the poll budget.

Through its real Lambda handler, with Stubbed AWS clients and the sample events."""

import datetime
import json

from tests.support.handler_calls import call
from tests.support.pipeline_steps import load_event


def test_start_pipeline_starts_one_named_execution(stubbed):
    from common.naming import execution_name
    from start_pipeline import app

    event = load_event("s3_object_created")
    detail = event["detail"]["object"]
    run_id = execution_name("dogbreeds-data", detail["key"], detail["version-id"])
    expected_input = app.execution_input(
        "dogbreeds-data", detail["key"], detail["version-id"], detail["etag"], detail["size"], run_id
    )
    stubbed("stepfunctions").add_response(
        "start_execution",
        {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:p:run", "startDate": datetime.datetime.now()},
        expected_params={
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:dogbreeds-pipeline",
            "name": run_id,
            "input": json.dumps(expected_input),
        },
    )
    result = call(app, event)
    assert result["started"] is True and result["run_id"] == run_id and run_id.startswith("dogImages-")


def test_same_event_twice_starts_one_execution(stubbed):
    from start_pipeline import app

    event = load_event("s3_object_created")
    stub = stubbed("stepfunctions")
    stub.add_response(
        "start_execution",
        {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:p:run", "startDate": datetime.datetime.now()},
    )
    stub.add_client_error("start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400)
    first, second = call(app, event), call(app, event)
    assert first["started"] is True
    assert second == {"started": False, "run_id": first["run_id"], "reason": "duplicate delivery"}


def test_execution_input_carries_dataset_and_poll_budget(stubbed):
    from start_pipeline import app

    payload = app.execution_input("b", "datasets/d.zip", "v1", "e", 10, "run")
    assert payload == {
        "run_id": "run",
        "dataset": {"bucket": "b", "key": "datasets/d.zip", "version_id": "v1", "etag": "e", "size": 10},
        # 4 spot trials of at most 2 x 7200 s in 2 waves, the final job, the endpoint (test_poll_budget.py)
        "poll": {"interval_seconds": 60, "max_polls": {"tuning": 511, "training": 256, "endpoint": 66}},
    }


def test_uploads_outside_the_prefix_are_ignored(stubbed):
    from start_pipeline import app

    event = load_event("s3_object_created")
    event["detail"]["object"]["key"] = "models/x.zip"
    assert call(app, event) == {"started": False, "reason": "not a dataset upload"}


def test_an_approval_starts_one_release_in_manual_mode(stubbed, monkeypatch):
    from model_code.registry import release_execution_name
    from start_pipeline import app

    monkeypatch.setenv("APPROVAL_MODE", "manual")
    event = load_event("model_package_approved")
    detail = event["detail"]
    run_id = release_execution_name(3, detail["ModelPackageArn"], detail["LastModifiedTime"])
    expected = {
        "run_id": run_id,
        "release": {"model_package_arn": detail["ModelPackageArn"], "reason": "approved in the registry"},
    }
    stub = stubbed("stepfunctions")
    stub.add_response(
        "start_execution",
        {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:p:r", "startDate": datetime.datetime.now()},
        expected_params={
            "stateMachineArn": app.os.environ["STATE_MACHINE_ARN"],
            "name": run_id,
            "input": json.dumps(expected),
        },
    )
    stub.add_client_error("start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400)
    assert call(app, event)["started"] is True and run_id.startswith("release-v3-")
    assert call(app, event) == {
        "started": False,
        "run_id": run_id,
        "reason": "duplicate delivery",
    }  # SageMaker's repeat


def test_an_approval_releases_nothing_in_auto_mode(stubbed):
    from start_pipeline import app

    stubbed("stepfunctions")  # no StartExecution answer: a call would fail the test
    assert call(app, load_event("model_package_approved")) == {"started": False, "reason": "not an approval to release"}
