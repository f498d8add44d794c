"""One SNS message to one of the stack's topics (failures, releases): a subject within SNS's limit, a JSON body."""

import json

from common import aws
from common.aws import transient_errors

MAX_SUBJECT = 100  # SNS's limit on a subject's length


def publish(topic_arn: str, subject: str, body: dict) -> None:
    with transient_errors():
        aws.client("sns").publish(TopicArn=topic_arn, Subject=subject[:MAX_SUBJECT], Message=json.dumps(body))
