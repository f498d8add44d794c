"""The wait loops' budgets: as long as SageMaker may let the jobs live, and within the execution's history."""

import itertools
import json
from pathlib import Path

import pytest

from common import poll_budget
from common.poll_budget import PhaseSeconds, RunTooLong, phase_seconds, poll_plan
from common.sagemaker_requests import JobSettings, _stopping_condition

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json"


def covered_seconds(plan: dict, phase: str) -> int:
    """How long a loop polls before it gives up: each check comes after one wait of the interval."""
    return plan["max_polls"][phase] * plan["interval_seconds"]


def history_events(plan: dict) -> int:
    return sum(plan["max_polls"].values()) * poll_budget.EVENTS_PER_POLL + poll_budget.RESERVED_EVENTS


def test_the_defaults_keep_the_interval_and_cover_every_job():
    phases = phase_seconds(max_runtime_seconds=7200, use_spot=True, max_tuning_jobs=4, max_parallel_jobs=2)
    # spot: MaxWaitTimeInSeconds (2 x 7200) per job plus the time around it; 4 trials in 2 waves
    assert phases == PhaseSeconds(tuning=2 * (14400 + 900), training=14400 + 900, endpoint=3600 + 300)
    plan = poll_plan(60, phases)
    assert plan == {"interval_seconds": 60, "max_polls": {"tuning": 511, "training": 256, "endpoint": 66}}
    for phase in ("tuning", "training", "endpoint"):
        assert covered_seconds(plan, phase) >= getattr(phases, phase)


def test_the_longest_job_is_the_stopping_condition_the_jobs_are_created_with():
    for use_spot in (True, False):
        settings = JobSettings(
            bucket="b", jobs_prefix="j/", models_prefix="m/", role_arn="r", region="us-east-1", image_uri="i",
            instance_type="ml.m5.large", use_spot=use_spot, max_runtime_seconds=3600, epochs=1, image_size=32,
            weights="none", arch="resnet18",
        )  # fmt: skip
        condition = _stopping_condition(settings)
        longest = condition.get("MaxWaitTimeInSeconds", condition["MaxRuntimeInSeconds"])
        phases = phase_seconds(3600, use_spot, max_tuning_jobs=1, max_parallel_jobs=1)
        assert phases.training == phases.tuning == longest + poll_budget.JOB_OVERHEAD_SECONDS


@pytest.mark.parametrize(
    ("runtime", "spot", "jobs", "parallel", "interval"),
    list(itertools.product([600, 7200, 36000], [True, False], [1, 4, 50], [1, 2, 10], [0, 1, 60, 3600])),
)
def test_every_configuration_fits_the_history_and_outlasts_its_jobs(runtime, spot, jobs, parallel, interval):
    phases = phase_seconds(runtime, spot, jobs, parallel)
    try:
        plan = poll_plan(interval, phases)
    except RunTooLong:
        assert phases.total > poll_budget.RUN_TIMEOUT_SECONDS
        return
    assert history_events(plan) <= poll_budget.HISTORY_EVENT_LIMIT
    assert plan["interval_seconds"] >= max(interval, 1)
    for phase in ("tuning", "training", "endpoint"):
        assert covered_seconds(plan, phase) >= getattr(phases, phase)


def test_the_interval_is_raised_only_when_the_polls_would_not_fit():
    many_trials = phase_seconds(max_runtime_seconds=7200, use_spot=True, max_tuning_jobs=50, max_parallel_jobs=2)
    plan = poll_plan(60, many_trials)
    assert plan["interval_seconds"] > 60  # 25 waves of 4 h: 60 s checks would overflow the history
    assert history_events(plan) <= poll_budget.HISTORY_EVENT_LIMIT
    assert poll_plan(60, many_trials) == poll_plan(0, many_trials)


def test_a_run_that_would_outlive_the_execution_timeout_is_refused():
    phases = phase_seconds(max_runtime_seconds=432000, use_spot=True, max_tuning_jobs=1, max_parallel_jobs=1)
    with pytest.raises(RunTooLong, match=r"more than the run's 604800 s timeout: lower MaxRuntimeSeconds"):
        poll_plan(60, phases)


def test_the_constants_match_the_state_machine():
    definition = json.loads(ASL.read_text())
    assert definition["TimeoutSeconds"] == poll_budget.RUN_TIMEOUT_SECONDS
    states = definition["States"]
    loops = [name for name, state in states.items() if state["Type"] == "Wait"]
    assert len(loops) == 3
    for wait in loops:
        check = states[states[wait]["Next"]]
        choice = states[check["Next"]]
        # Wait (entered, exited) + Lambda Task (entered, scheduled, started, succeeded, exited) + Choice (2)
        assert (check["Type"], choice["Type"], choice["Default"]) == ("Task", "Choice", wait)
        assert poll_budget.EVENTS_PER_POLL == 2 + 5 + 2
        kind = check["Parameters"]["kind"]
        assert check["Parameters"]["max_polls.$"] == f"$.poll.max_polls.{kind}"
        assert states[wait]["SecondsPath"] == "$.poll.interval_seconds"
