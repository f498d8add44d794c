"""SageMaker's many statuses as three: InProgress, Completed, or a failure raised with its reason.

The check step raises (so the state machine's Catch notifies with the cause) instead of returning a
failure the ASL would have to recognise.
"""

IN_PROGRESS = "InProgress"
COMPLETED = "Completed"


class TuningJobFailed(Exception):
    pass


class TrainingJobFailed(Exception):
    pass


class EndpointDeploymentFailed(Exception):
    pass


class WaitTimedOut(Exception):
    """The job is still running after the configured number of polls."""


def tuning_status(described: dict) -> str:
    status = described["HyperParameterTuningJobStatus"]
    if status == "Completed":
        if not described.get("BestTrainingJob"):
            raise TuningJobFailed("the tuning job completed without a successful trial")
        return COMPLETED
    if status in ("Failed", "Stopped"):
        reason = described.get("FailureReason") or f"tuning job {status.lower()}"
        raise TuningJobFailed(reason)
    return IN_PROGRESS


def training_status(described: dict) -> str:
    """Completed once the job AND its Debugger rule evaluations are done (the gate reads the rules)."""
    status = described["TrainingJobStatus"]
    if status == "Completed":
        rules = described.get("DebugRuleEvaluationStatuses", [])
        if any(rule.get("RuleEvaluationStatus") == "InProgress" for rule in rules):
            return IN_PROGRESS
        return COMPLETED
    if status in ("Failed", "Stopped"):
        raise TrainingJobFailed(described.get("FailureReason") or f"training job {status.lower()}")
    return IN_PROGRESS


def tuning_seconds(described: dict) -> float | None:
    """From the tuning job's creation to its end (its trials, waves and all), once it has ended."""
    ended = described.get("HyperParameterTuningEndTime")
    return (ended - described["CreationTime"]).total_seconds() if ended else None


def training_seconds(described: dict) -> float | None:
    """The job's training time (SageMaker's TrainingTimeInSeconds), once it has ended."""
    if described.get("TrainingTimeInSeconds") is not None:
        return float(described["TrainingTimeInSeconds"])
    started, ended = described.get("TrainingStartTime"), described.get("TrainingEndTime")
    return (ended - started).total_seconds() if started and ended else None


def endpoint_status(described: dict, expected_config: str, replaced_config: str | None = None) -> str:
    """InService on the new configuration is done; InService on the one it replaced means the update rolled
    back; InService on a third one means a later run's deployment followed ours (two runs deploying at once: the
    later one waits for ours to be InService, and a poll may first see the endpoint on its configuration)."""
    status = described["EndpointStatus"]
    serving = described.get("EndpointConfigName")
    if status == "InService":
        superseded = serving not in (expected_config, replaced_config, None) and not described.get("FailureReason")
        if serving == expected_config or superseded:
            return COMPLETED
        reason = described.get("FailureReason") or "the update was rolled back"
        raise EndpointDeploymentFailed(f"{reason} (still serving {serving})")
    if status in ("Failed", "OutOfService", "Deleting"):
        raise EndpointDeploymentFailed(described.get("FailureReason") or f"endpoint is {status}")
    return IN_PROGRESS
