"""The parts of Lambda's context object that the handlers and Powertools read, for calling handlers in tests."""

from dataclasses import dataclass


@dataclass
class LambdaContext:
    function_name: str = "step"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "c0ffee00-0000-4000-8000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
