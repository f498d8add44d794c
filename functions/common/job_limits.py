"""How long SageMaker lets a job or an endpoint update last: the request builders set these limits and the poll
budget waits for them (StartPipeline computes that budget, and has no model-code layer to import)."""

SPOT_WAIT_FACTOR = 2  # a spot job may wait for capacity as long as it may run
BAKING_SECONDS = 300  # the old fleet is kept this long after the switch, watched by the rollback alarm


def longest_job_seconds(max_runtime_seconds: int, use_spot: bool) -> int:
    """How long SageMaker lets one job last before it stops it: MaxWaitTimeInSeconds on spot (waiting for
    capacity included), MaxRuntimeInSeconds otherwise."""
    return SPOT_WAIT_FACTOR * max_runtime_seconds if use_spot else max_runtime_seconds
