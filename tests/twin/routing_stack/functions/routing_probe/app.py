"""Stand-in handlers for the routing test: each proves it really ran (a side effect and its template environment)."""

import json
import os

import boto3


def start(event, context):
    """EventBridge target: start the state machine for the uploaded object."""
    detail = event["detail"]
    execution = boto3.client("stepfunctions").start_execution(
        stateMachineArn=os.environ["STATE_MACHINE_ARN"],
        input=json.dumps({"bucket": detail["bucket"]["name"], "key": detail["object"]["key"]}),
    )
    return {"executionArn": execution["executionArn"]}


def record(event, context):
    """State machine task: leaves a marker in S3, notifies the topic, returns what only this code knows."""
    boto3.client("s3").put_object(Bucket=event["bucket"], Key=f"markers/{event['key']}", Body=b"routed")
    boto3.client("sns").publish(TopicArn=os.environ["TOPIC_ARN"], Message=f"recorded {event['key']}")
    return {"handled_by": "routing_probe.record", "marker": os.environ["MARKER"], "key": event["key"]}
