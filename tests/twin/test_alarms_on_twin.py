"""The stack's alarms fire on the whole twin: errors driven through its HTTP front turn the 5xx alarm to ALARM, and a
stream of low-confidence answers the low-confidence alarm; each time DescribeAlarms says ALARM and the alarm topic
gets CloudWatch's notification naming the alarm (local_twin/alarms.py evaluates them; moto does not).

The 5xx test moves the twin's clock (``twin.clock``) into three consecutive 5-minute periods instead of waiting
15 minutes; the Predict function's failures are injected (``faults.lambda_timeouts``), so no model is needed there.
"""

import base64
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
import requests

from model_code.serving_limits import MAX_BATCH_IMAGES
from tests.support.images import jpeg

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)

CLASSES = [f"Breed {index}" for index in range(12)]  # untrained: every top-1 near 1/12, far below 0.5
IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("alarms") / "twin") as running:
        yield running


def post(twin, body: bytes, content_type: str) -> int:
    route = twin.template.api().routes[0]
    headers = {"Content-Type": content_type, "x-api-key": twin.api.api_key}
    return requests.post(f"{twin.api.url}{route.path}", data=body, headers=headers, timeout=60).status_code


def alarm_messages(twin, alarm_name: str, state: str) -> list[dict]:
    messages = [json.loads(text) for text in twin.notifications("AlarmTopic")]
    return [message for message in messages if (message["AlarmName"], message["NewStateValue"]) == (alarm_name, state)]


def test_5xx_answers_in_three_periods_set_the_5xx_alarm_and_notify_the_alarm_topic(twin):
    name = twin.template.physical("ApiServerErrorsAlarm").ref
    predict = twin.aws.functions[twin.template.api().routes[0].function].name
    period = 300  # the alarm's: 3 periods of 5 minutes
    start = datetime.fromtimestamp(math.floor(datetime.now(UTC).timestamp() / period) * period - 3600, UTC)
    twin.notifications("AlarmTopic")  # what the twin's start published
    try:
        for index in range(3):
            twin.clock.set(start + timedelta(seconds=index * period + 30))
            twin.faults.lambda_timeouts[predict] = 3  # the function times out: API Gateway answers 502
            assert [post(twin, jpeg(), "image/jpeg") for _ in range(3)] == [502] * 3
            states = twin.evaluate_alarms()
            assert states[name] == ("ALARM" if index == 2 else "OK"), index  # not before the third period
        # read while the clock still stands in those periods: back at real time, the evaluator's own thread may
        # find them too old and set the alarm OK again
        (alarm,) = twin.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
        messages = alarm_messages(twin, name, "ALARM")
    finally:
        twin.clock.offset = timedelta(0)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 3 out of the last 3 datapoints [1.0 (")
    (message,) = messages
    assert (message["OldStateValue"], message["NewStateReason"]) == ("OK", alarm["StateReason"])
    assert message["Trigger"]["MetricName"] == "5XXError" and message["AlarmArn"] == alarm["AlarmArn"]
    assert twin.notifications() == []  # the pipeline's failure topic heard nothing of it


def test_a_stream_of_low_confidence_answers_sets_the_low_confidence_alarm(twin, tmp_path):
    from local_twin.serving import serve_model, untrained_model_dir

    serve_model(twin, untrained_model_dir(tmp_path / "model", CLASSES, IMAGE_SIZE))
    name = twin.template.physical("LowConfidenceAlarm").ref
    twin.notifications("AlarmTopic")
    image = base64.b64encode(jpeg((IMAGE_SIZE, IMAGE_SIZE))).decode()
    batch = json.dumps({"images": [image] * MAX_BATCH_IMAGES}).encode()
    batches = math.ceil(20 / MAX_BATCH_IMAGES)  # the alarm wants 20 images labelled in its hour
    assert [post(twin, batch, "application/json") for _ in range(batches)] == [200] * batches
    assert twin.evaluate_alarms()[name] == "ALARM"  # the metrics came from Predict's EMF lines in its log
    (alarm,) = twin.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoint [1.0 (")
    (message,) = alarm_messages(twin, name, "ALARM")
    assert [metric["Id"] for metric in message["Trigger"]["Metrics"]] == ["low", "labelled", "share"]
