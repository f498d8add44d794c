"""How long and how often the state machine polls each phase, derived from the jobs' own limits.

SageMaker stops a training job at its MaxRuntimeInSeconds (MaxWaitTimeInSeconds on spot, the wait for capacity
included), so each wait loop lasts as long as SageMaker may let its job(s) live, plus the time around the run:
a run never gives up on a job SageMaker still lets run, and never polls one that SageMaker has ended.

A Standard execution fails once its history holds 25,000 events; every poll writes ``EVENTS_PER_POLL`` of them.
The configured interval is raised when the three loops would not fit otherwise, and a configuration whose
worst case outlives the execution's own timeout is refused.
"""

import math
import os
from dataclasses import dataclass

from common.job_limits import BAKING_SECONDS, longest_job_seconds

HISTORY_EVENT_LIMIT = 25_000  # Step Functions quota: history events of one Standard execution
# WaitStateEntered/Exited, TaskStateEntered, LambdaFunctionScheduled/Started/Succeeded, TaskStateExited,
# ChoiceStateEntered/Exited
EVENTS_PER_POLL = 9
# The other states, their retries (Deploy alone may retry EndpointBusy 40 times) and retried polls
RESERVED_EVENTS = 2_500
POLL_CAPACITY = (HISTORY_EVENT_LIMIT - RESERVED_EVENTS) // EVENTS_PER_POLL
# Around each job's run: instance provisioning, image pull, data download, model upload, and for the final
# job the Debugger rule evaluations that follow it
JOB_OVERHEAD_SECONDS = 900
# An endpoint: model download and the container's health check (an hour at most), then the blue/green
# update's baking period
ENDPOINT_SECONDS = 3600 + BAKING_SECONDS
RUN_TIMEOUT_SECONDS = 7 * 24 * 3600  # the state machine's TimeoutSeconds (tests/template/test_asl.py)


class RunTooLong(ValueError):
    """The configured jobs may outlive the execution's timeout: the run would end before its jobs."""


@dataclass(frozen=True)
class PhaseSeconds:
    tuning: int
    training: int
    endpoint: int

    @property
    def total(self) -> int:
        return self.tuning + self.training + self.endpoint


def phase_seconds(
    max_runtime_seconds: int, use_spot: bool, max_tuning_jobs: int, max_parallel_jobs: int
) -> PhaseSeconds:
    """The longest each phase can last. Tuning trials run in waves of MaxParallelTrainingJobs."""
    job = longest_job_seconds(max_runtime_seconds, use_spot) + JOB_OVERHEAD_SECONDS
    waves = math.ceil(max_tuning_jobs / max(1, min(max_parallel_jobs, max_tuning_jobs)))
    return PhaseSeconds(tuning=waves * job, training=job, endpoint=ENDPOINT_SECONDS)


def fits_the_run(phases: PhaseSeconds) -> bool:
    """Whether the jobs end within the execution's timeout. template.yaml's Rules refuse, at deploy time, every
    parameter combination for which this is false (generated from it by scripts/template_rules.py); StartPipeline
    refuses the run as well, a second line for a template deployed without them."""
    return phases.total <= RUN_TIMEOUT_SECONDS


def polls(seconds: int, interval: int) -> int:
    """Checks that cover ``seconds`` at one every ``interval`` seconds (each takes at least that long)."""
    return math.ceil(seconds / interval) + 1


def poll_plan(configured_interval: int, phases: PhaseSeconds) -> dict:
    """The execution input's ``poll``: one interval and each loop's number of checks, all within the history.

    ``configured_interval`` (PollIntervalSeconds; 0 for "as often as the history allows") is a floor."""
    if not fits_the_run(phases):
        raise RunTooLong(
            f"the jobs may take {phases.total} s (tuning {phases.tuning}, training {phases.training}, endpoint "
            f"{phases.endpoint}), more than the run's {RUN_TIMEOUT_SECONDS} s timeout: lower MaxRuntimeSeconds or "
            "MaxTuningJobs, raise MaxParallelTuningJobs, or turn UseSpotInstances off"
        )
    loops = (phases.tuning, phases.training, phases.endpoint)
    interval = max(configured_interval, math.ceil(phases.total / POLL_CAPACITY), 1)
    while sum(polls(seconds, interval) for seconds in loops) > POLL_CAPACITY:  # the +1 of each loop may not fit
        interval += 1
    return {
        "interval_seconds": interval,
        "max_polls": {
            "tuning": polls(phases.tuning, interval),
            "training": polls(phases.training, interval),
            "endpoint": polls(phases.endpoint, interval),
        },
    }


def poll_settings() -> dict:
    """The wait loops' interval and budgets, from the same settings the jobs are created with (the environment of
    the functions that start runs: StartPipeline, Release)."""
    phases = phase_seconds(
        max_runtime_seconds=int(os.environ["MAX_RUNTIME_SECONDS"]),
        use_spot=os.environ["USE_SPOT_INSTANCES"] == "true",
        max_tuning_jobs=int(os.environ["MAX_TUNING_JOBS"]),
        max_parallel_jobs=int(os.environ["MAX_PARALLEL_TUNING_JOBS"]),
    )
    return poll_plan(int(os.environ["POLL_INTERVAL_SECONDS"]), phases)
