"""Failures the twin can inject (issue: hardening), shared by the local SageMaker and the Lambda runtime.

Tests flip these on a running twin (``twin.faults``) and watch the pipeline retry, roll back or fail.
"""

from dataclasses import dataclass, field


class Throttled(Exception):
    """A SageMaker call refused with ThrottlingException (the service answers it AWS-shaped)."""


@dataclass
class Faults:
    """Throttle the first N calls of SageMaker operations; fail the tuning trials with these 1-based numbers;
    make the next endpoint update never become healthy; time out the next N invocations of a Lambda function
    (by function name) as Lambda does when a handler outlives its Timeout; keep a stopped training job
    ``Stopping`` (its last uploads not yet made) for its next N DescribeTrainingJob answers, as a job using
    SageMaker's 120-second SIGTERM window does, counted in calls rather than seconds."""

    throttle: dict[str, int] = field(default_factory=dict)
    failing_trials: set[int] = field(default_factory=set)
    unhealthy_next_update: bool = False
    lambda_timeouts: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    stopping_describes: int = 0

    def throttle_next(self, operation: str, count: int) -> None:
        """Throttle the next ``count`` calls of ``operation`` (``throttle`` counts from the twin's start)."""
        self.throttle[operation] = self.calls.get(operation, 0) + count

    def maybe_throttle(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if self.calls[operation] <= self.throttle.get(operation, 0):
            raise Throttled(operation)

    def times_out(self, function_name: str) -> bool:
        """Whether this invocation of the function times out (each injected timeout is used once)."""
        left = self.lambda_timeouts.get(function_name, 0)
        if left:
            self.lambda_timeouts[function_name] = left - 1
        return bool(left)
