"""Tuning jobs: the declared strategy over the declared ranges, each trial a real training job.

Bayesian is optuna's TPE sampler (a Bayesian optimiser: a model of good and bad regions, updated after
each trial); Random is optuna's random sampler; Grid walks every combination of the categorical ranges
(as SageMaker's Grid allows only those). Early stopping ("Auto") is accepted and not applied.
MaxNumberOfTrainingJobs and MaxParallelTrainingJobs hold; the objective is read from the trial's log with
the declared metric's regex (its last value).

WarmStartConfig is checked as AWS documents it (at most 5 terminal parents, the same objective, the same
hyperparameter names and range types, at most 10 changes, at most 500 training jobs with the parents') and
honoured: the parents' scored trials seed the study (optuna's add_trial), so the sampler starts from what
they found; with IdenticalDataAndAlgorithm the best job may be a parent's, as on AWS.
"""

import itertools
import json
import threading
import uuid

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from local_twin.faults import Faults
from local_twin.sagemaker.arns import Arns
from local_twin.sagemaker.errors import SageMakerError, not_found, now, validation
from local_twin.sagemaker.experiments import Experiments
from local_twin.sagemaker.jobs import TrainingJobs
from local_twin.sagemaker.quotas import TrainingCapacity

optuna.logging.set_verbosity(optuna.logging.WARNING)

MAX_PARENTS = 5
MAX_TRAINING_JOBS = 500
MAX_CHANGES = 10
TERMINAL = ("Completed", "Stopped", "Failed")


class TuningJob:
    """One tuning job, whose trials are training jobs of ``training``; ``faults`` may fail chosen trials."""

    def __init__(self, request: dict, training: TrainingJobs, arns: Arns, faults: Faults):
        self.request = request
        self.training, self.arns, self.faults = training, arns, faults
        self.name = request["HyperParameterTuningJobName"]
        config = request["HyperParameterTuningJobConfig"]
        self.objective = config["HyperParameterTuningJobObjective"]
        self.limits = config["ResourceLimits"]
        self.ranges = config.get("ParameterRanges", {})
        self.strategy = config["Strategy"]
        self.status = "InProgress"
        self.failure_reason = None
        self.created = now()
        self.ended = None
        self.trials: list[dict] = []  # {"name", "hyperparameters", "objective"}
        self.stop_requested = False
        self.warm_start = request.get("WarmStartConfig")
        self.parents: list[TuningJob] = []  # resolved and checked by TuningJobs.create
        self.study: optuna.Study | None = None

    # ------------------------------------------------------------------ search

    def _sampler(self):
        if self.strategy == "Bayesian":
            return optuna.samplers.TPESampler(seed=0, n_startup_trials=min(2, self.limits["MaxNumberOfTrainingJobs"]))
        if self.strategy == "Random":
            return optuna.samplers.RandomSampler(seed=0)
        if self.strategy == "Grid":  # every combination is enqueued in run(); the sampler never chooses
            return optuna.samplers.RandomSampler(seed=0)
        raise validation(f"strategy {self.strategy} is not supported by the local SageMaker")

    def distributions(self) -> dict:
        """The declared ranges as optuna distributions (the values travel as strings, as SageMaker's do)."""
        found = {}
        for r in self.ranges.get("ContinuousParameterRanges", []):
            log = r.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic")
            found[r["Name"]] = FloatDistribution(float(r["MinValue"]), float(r["MaxValue"]), log=log)
        for r in self.ranges.get("IntegerParameterRanges", []):
            log = r.get("ScalingType") == "Logarithmic"
            found[r["Name"]] = IntDistribution(int(r["MinValue"]), int(r["MaxValue"]), log=log)
        for r in self.ranges.get("CategoricalParameterRanges", []):
            found[r["Name"]] = CategoricalDistribution(r["Values"])
        return found

    def _suggest(self, trial: optuna.Trial) -> dict[str, str]:
        values = {}
        for name, dist in self.distributions().items():
            if isinstance(dist, FloatDistribution):
                values[name] = repr(trial.suggest_float(name, dist.low, dist.high, log=dist.log))
            elif isinstance(dist, IntDistribution):
                values[name] = str(trial.suggest_int(name, dist.low, dist.high, log=dist.log))
            else:
                values[name] = trial.suggest_categorical(name, dist.choices)
        return values

    def _seed(self, study: optuna.Study) -> None:
        """The parents' scored trials as finished trials of this study, where they fit the current ranges."""
        distributions = self.distributions()
        for parent in self.parents:
            for trial in parent.trials:
                if trial["objective"] is None or set(trial["hyperparameters"]) != set(distributions):
                    continue
                params = {name: _typed(distributions[name], text) for name, text in trial["hyperparameters"].items()}
                if all(_fits(distributions[name], value) for name, value in params.items()):
                    study.add_trial(
                        optuna.trial.create_trial(params=params, distributions=distributions, value=trial["objective"])
                    )

    def run(self) -> None:
        try:
            study = optuna.create_study(direction="maximize" if self.objective["Type"] == "Maximize" else "minimize",
                                        sampler=self._sampler())  # fmt: skip
            self._seed(study)
            self.study = study  # seeded: what a warm start's search starts from
            max_jobs = self.limits["MaxNumberOfTrainingJobs"]
            if self.strategy == "Grid":
                # optuna's GridSampler stops the study from inside tell(), which ask-and-tell does not allow
                categorical = self.ranges.get("CategoricalParameterRanges", [])
                names = [r["Name"] for r in categorical]
                grid = list(itertools.product(*(r["Values"] for r in categorical)))
                for combination in grid:
                    study.enqueue_trial(dict(zip(names, combination, strict=True)))
                max_jobs = min(max_jobs, len(grid))
            parallel = max(1, self.limits["MaxParallelTrainingJobs"])
            number = 0
            while number < max_jobs and not self.stop_requested:
                batch = [study.ask() for _ in range(min(parallel, max_jobs - number))]
                started = []
                for trial in batch:
                    number += 1
                    started.append((trial, self._start_trial(number, self._suggest(trial))))
                for trial, name in started:
                    job = self.training.wait(name)
                    value = next(
                        (m["Value"] for m in job.metrics if m["MetricName"] == self.objective["MetricName"]), None
                    )
                    record = next(t for t in self.trials if t["name"] == name)
                    record["objective"] = value if job.status == "Completed" else None
                    if record["objective"] is None:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        study.tell(trial, value)
            self._finish()
        except Exception as error:
            self.status, self.failure_reason = "Failed", f"{type(error).__name__}: {error}"
        finally:
            self.ended = now()

    def _start_trial(self, number: int, tuned: dict[str, str]) -> str:
        definition = self.request["TrainingJobDefinition"]
        name = f"{self.name}-{number:03d}-{uuid.uuid4().hex[:8]}"
        hyperparameters = {**definition.get("StaticHyperParameters", {}), **tuned}
        if number in self.faults.failing_trials:
            hyperparameters["epochs"] = json.dumps("not-a-number")  # the script refuses it: a real failed trial
        request = {
            "TrainingJobName": name,
            "HyperParameters": hyperparameters,
            **{key: definition[key] for key in ("AlgorithmSpecification", "RoleArn", "InputDataConfig",
                                                 "OutputDataConfig", "ResourceConfig", "StoppingCondition")},
        }  # fmt: skip
        self.trials.append({"name": name, "hyperparameters": tuned, "objective": None})
        self.training.create(request, tuning_job=self.name)
        return name

    def _finish(self) -> None:
        if self.stop_requested:
            self.status = "Stopped"
            return
        scored = [t for t in self.trials if t["objective"] is not None]
        if not scored:
            reasons = [self.training.get(t["name"]).failure_reason for t in self.trials]
            self.status = "Failed"
            self.failure_reason = (
                f"All training jobs failed. First failure: {reasons[0] if reasons else 'no trial ran'}"
            )
            return
        self.status = "Completed"

    # ------------------------------------------------------------------ describing

    def best(self) -> dict | None:
        """The best scored trial; with IdenticalDataAndAlgorithm the parents' best compete, as on AWS."""
        jobs = [self]
        if self.warm_start and self.warm_start["WarmStartType"] == "IdenticalDataAndAlgorithm":
            jobs += self.parents
        scored = [t for job in jobs for t in job.trials if t["objective"] is not None]
        if not scored:
            return None
        pick = max if self.objective["Type"] == "Maximize" else min
        best = pick(scored, key=lambda t: t["objective"])
        job = self.training.get(best["name"])
        return {
            "TrainingJobName": best["name"],
            "TrainingJobArn": self.arns.sagemaker("training-job", best["name"]),
            "CreationTime": job.created,
            "TrainingJobStatus": job.status,
            "TunedHyperParameters": best["hyperparameters"],
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "Type": self.objective["Type"],
                "MetricName": self.objective["MetricName"],
                "Value": best["objective"],
            },
            "ObjectiveStatus": "Succeeded",
        }

    def counters(self) -> tuple[dict, dict]:
        # a trial still Stopping counts as in progress: it has not ended
        statuses = [
            "InProgress" if (status := self.training.get(t["name"]).status) == "Stopping" else status
            for t in self.trials
        ]
        training = {
            "Completed": statuses.count("Completed"),
            "InProgress": statuses.count("InProgress"),
            "RetryableError": 0,
            "NonRetryableError": statuses.count("Failed"),
            "Stopped": statuses.count("Stopped"),
        }
        objective = {
            "Succeeded": sum(t["objective"] is not None for t in self.trials),
            "Pending": statuses.count("InProgress"),
            "Failed": sum(
                t["objective"] is None and s != "InProgress" for t, s in zip(self.trials, statuses, strict=True)
            ),
        }
        return training, objective

    def describe(self) -> dict:
        training, objective = self.counters()
        described = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arns.sagemaker("hyper-parameter-tuning-job", self.name),
            "HyperParameterTuningJobConfig": self.request["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": self.request["TrainingJobDefinition"],
            **({"WarmStartConfig": self.warm_start} if self.warm_start else {}),
            "HyperParameterTuningJobStatus": self.status,
            "CreationTime": self.created,
            "TrainingJobStatusCounters": training,
            "ObjectiveStatusCounters": objective,
        }
        best = self.best()
        if best and self.status != "InProgress":
            described["BestTrainingJob"] = best
        if self.ended:
            described["HyperParameterTuningEndTime"] = self.ended
        if self.failure_reason:
            described["FailureReason"] = self.failure_reason
        return described


class TuningJobs:
    """All tuning jobs; they start, wait for and stop their trials through ``training``. ``lock`` is the local
    SageMaker's: a job is checked against ``capacity`` and counted in one step with every other create."""

    def __init__(
        self,
        training: TrainingJobs,
        arns: Arns,
        capacity: TrainingCapacity,
        experiments: Experiments,
        faults: Faults,
        lock: threading.RLock,
    ):
        self.training, self.arns, self.capacity = training, arns, capacity
        self.experiments, self.faults, self.lock = experiments, faults, lock
        self.jobs: dict[str, TuningJob] = {}

    def create(self, request: dict) -> str:
        name = request["HyperParameterTuningJobName"]
        if "TrainingJobDefinition" not in request:
            raise validation("TrainingJobDefinition is required by the local SageMaker")
        with self.lock:
            if name in self.jobs:
                raise SageMakerError("ResourceInUse", f"Hyperparameter tuning job {name} already exists")
            self.capacity.check_tuning_job(request, sum(job.status == "InProgress" for job in self.jobs.values()))
            job = TuningJob(request, self.training, self.arns, self.faults)
            if job.warm_start:
                job.parents = self._checked_parents(job)
            self.jobs[name] = job
            self.capacity.hold(job)
            self.experiments.tuning_job_created(name)
        threading.Thread(target=job.run, name=f"tuning-{name}", daemon=True).start()
        return self.arns.sagemaker("hyper-parameter-tuning-job", name)

    def _checked_parents(self, job: TuningJob) -> list[TuningJob]:
        """The warm-start parents, refused as AWS documents (ValidationException with the reason)."""
        names = [p["HyperParameterTuningJobName"] for p in job.warm_start["ParentHyperParameterTuningJobs"]]
        if len(names) > MAX_PARENTS:
            raise validation(f"A warm start tuning job can have at most {MAX_PARENTS} parent jobs, got {len(names)}")
        parents = [self.get(name) for name in names]
        total = job.limits["MaxNumberOfTrainingJobs"] + sum(len(parent.trials) for parent in parents)
        if total > MAX_TRAINING_JOBS:
            raise validation(f"The parents' and the new job's training jobs ({total}) exceed {MAX_TRAINING_JOBS}")
        for parent in parents:
            if parent.status not in TERMINAL:
                raise validation(f"Parent tuning job {parent.name} is {parent.status}, not in a terminal state")
            if parent.objective != job.objective:
                raise validation(f"The objective metric differs from that of parent tuning job {parent.name}")
            changes = _hyperparameter_changes(parent, job)
            if changes > MAX_CHANGES:
                raise validation(f"{changes} hyperparameter changes from parent {parent.name}, more than {MAX_CHANGES}")
        return parents

    def get(self, name: str) -> TuningJob:
        if name not in self.jobs:
            raise not_found("hyperparameter tuning job", name)
        return self.jobs[name]

    def describe(self, name: str) -> dict:
        return self.get(name).describe()

    def stop(self, name: str) -> None:
        """Stopping until its trials have stopped, then Stopped (run() ends), as StopHyperParameterTuningJob does."""
        job = self.get(name)
        job.stop_requested = True
        if job.status == "InProgress":
            job.status = "Stopping"
        for trial in job.trials:
            if self.training.get(trial["name"]).status == "InProgress":
                self.training.stop(trial["name"])

    def stop_all(self) -> None:
        for job in self.jobs.values():
            job.stop_requested = True

    def trials(self, name: str) -> list[dict]:
        job = self.get(name)
        summaries = []
        for trial in job.trials:
            training = self.training.get(trial["name"])
            summary = {
                "TrainingJobName": trial["name"],
                "TrainingJobArn": self.arns.sagemaker("training-job", trial["name"]),
                "TuningJobName": name,
                "CreationTime": training.created,
                "TrainingJobStatus": training.status,
                "TunedHyperParameters": trial["hyperparameters"],
            }
            if training.started:
                summary["TrainingStartTime"] = training.started
            if training.ended:
                summary["TrainingEndTime"] = training.ended
            if trial["objective"] is not None:
                summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                    "MetricName": job.objective["MetricName"],
                    "Value": trial["objective"],
                }
                summary["ObjectiveStatus"] = "Succeeded"
            elif training.failure_reason:
                summary["FailureReason"] = training.failure_reason
            summaries.append(summary)
        return summaries

    def summaries(self, status: str | None = None, name_contains: str | None = None) -> list[dict]:
        result = []
        for job in sorted(self.jobs.values(), key=lambda j: j.created, reverse=True):
            if status is not None and job.status != status:
                continue
            if name_contains and name_contains.lower() not in job.name.lower():
                continue
            training, objective = job.counters()
            result.append({
                "HyperParameterTuningJobName": job.name,
                "HyperParameterTuningJobArn": self.arns.sagemaker("hyper-parameter-tuning-job", job.name),
                "HyperParameterTuningJobStatus": job.status,
                "Strategy": job.strategy,
                "CreationTime": job.created,
                "TrainingJobStatusCounters": training,
                "ObjectiveStatusCounters": objective,
            })  # fmt: skip
        return result


def _hyperparameter_changes(parent: TuningJob, job: TuningJob) -> int:
    """AWS's count of warm-start changes; ValidationException when names or range types differ."""
    tuned, parent_tuned = job.distributions(), parent.distributions()
    static = job.request["TrainingJobDefinition"].get("StaticHyperParameters", {})
    parent_static = parent.request["TrainingJobDefinition"].get("StaticHyperParameters", {})
    if tuned.keys() | static.keys() != parent_tuned.keys() | parent_static.keys():
        raise validation(f"The static plus tunable hyperparameters differ from those of parent {parent.name}")
    for name in tuned.keys() & parent_tuned.keys():
        if type(tuned[name]) is not type(parent_tuned[name]):
            raise validation(f"Hyperparameter {name} changed its type from parent {parent.name}")
    made_static = sum(
        len(d.choices) if isinstance(d, CategoricalDistribution) else 1
        for name, d in parent_tuned.items()
        if name in static
    )
    return made_static + 2 * sum(static[name] != parent_static[name] for name in static.keys() & parent_static.keys())


def _typed(distribution, text: str):
    if isinstance(distribution, CategoricalDistribution):
        return text
    return int(float(text)) if isinstance(distribution, IntDistribution) else float(text)


def _fits(distribution, value) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    return distribution.low <= value <= distribution.high
