"""NotifyRelease: "vN is live" or "vN awaits approval" on the release topic.

Through its real Lambda handler, with a Stubbed SNS."""

import json

from botocore.stub import ANY

from tests.support.handler_calls import call, sent_requests
from tests.support.pipeline_steps import ENVIRONMENT, load_event


def test_a_live_version_is_announced(stubbed):
    from notify_release import app

    event = load_event("notify_release")
    sns = stubbed("sns")
    published = sent_requests(sns, "Publish")
    sns.add_response(
        "publish", {"MessageId": "1"}, {"TopicArn": ENVIRONMENT["RELEASE_TOPIC_ARN"], "Subject": ANY, "Message": ANY}
    )
    call(app, event)
    (message,) = published
    assert message["Subject"] == "Dog-breed model v3 is live"
    body = json.loads(message["Message"])
    assert body["message"] == (
        "v3 (test accuracy 0.8300, dataset dogImages.zip@3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY) is live on endpoint "
        "dogbreeds-endpoint (run dogImages-4f0c2a9d1e7b3c55)."
    )


def test_a_pending_version_says_how_to_approve_it(stubbed):
    from notify_release import app

    event = {**load_event("notify_release"), "kind": "awaiting"}
    sns = stubbed("sns")
    published = sent_requests(sns, "Publish")
    sns.add_response("publish", {"MessageId": "1"})
    call(app, event)
    ((message,),) = (published,)
    assert message["Subject"] == "Dog-breed model v3 awaits approval"
    text = json.loads(message["Message"])["message"]
    assert "`dogbreeds approve 3`" in text
    assert f"--model-package-arn {event['package']['arn']} --model-approval-status Approved" in text
