"""Tuning jobs: the declared strategy over the declared ranges, each trial a real training job.

Bayesian is optuna's TPE sampler (a Bayesian optimiser: a model of good and bad regions, updated after
each trial); Random is optuna's random sampler; Grid walks every combination of the categorical ranges
(as SageMaker's Grid allows only those). Early stopping ("Auto") is accepted and not applied.
MaxNumberOfTrainingJobs and MaxParallelTrainingJobs hold; the objective is read from the trial's log with
the declared metric's regex (its last value).
"""

import itertools
import json
import threading
import uuid

import optuna

from local_twin.sagemaker.service import SageMakerError, not_found, now, validation

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TuningJob:
    def __init__(self, service, request: dict):
        self.service = service
        self.request = request
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

    # ------------------------------------------------------------------ search

    def _sampler(self):
        if self.strategy == "Bayesian":
            return optuna.samplers.TPESampler(seed=0, n_startup_trials=min(2, self.limits["MaxNumberOfTrainingJobs"]))
        if self.strategy == "Random":
            return optuna.samplers.RandomSampler(seed=0)
        if self.strategy == "Grid":  # every combination is enqueued in run(); the sampler never chooses
            return optuna.samplers.RandomSampler(seed=0)
        raise validation(f"strategy {self.strategy} is not supported by the local SageMaker")

    def _suggest(self, trial: optuna.Trial) -> dict[str, str]:
        values = {}
        for r in self.ranges.get("ContinuousParameterRanges", []):
            log = r.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic")
            values[r["Name"]] = repr(
                trial.suggest_float(r["Name"], float(r["MinValue"]), float(r["MaxValue"]), log=log)
            )
        for r in self.ranges.get("IntegerParameterRanges", []):
            log = r.get("ScalingType") == "Logarithmic"
            values[r["Name"]] = str(trial.suggest_int(r["Name"], int(r["MinValue"]), int(r["MaxValue"]), log=log))
        for r in self.ranges.get("CategoricalParameterRanges", []):
            values[r["Name"]] = trial.suggest_categorical(r["Name"], r["Values"])
        return values

    def run(self) -> None:
        try:
            study = optuna.create_study(direction="maximize" if self.objective["Type"] == "Maximize" else "minimize",
                                        sampler=self._sampler())  # fmt: skip
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
                    job = self.service.training.wait(name)
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
        if number in self.service.faults.failing_trials:
            hyperparameters["epochs"] = json.dumps("not-a-number")  # the script refuses it: a real failed trial
        request = {
            "TrainingJobName": name,
            "HyperParameters": hyperparameters,
            **{key: definition[key] for key in ("AlgorithmSpecification", "RoleArn", "InputDataConfig",
                                                 "OutputDataConfig", "ResourceConfig", "StoppingCondition")},
        }  # fmt: skip
        self.trials.append({"name": name, "hyperparameters": tuned, "objective": None})
        self.service.training.create(request, tuning_job=self.name)
        return name

    def _finish(self) -> None:
        if self.stop_requested:
            self.status = "Stopped"
            return
        scored = [t for t in self.trials if t["objective"] is not None]
        if not scored:
            reasons = [self.service.training.get(t["name"]).failure_reason for t in self.trials]
            self.status = "Failed"
            self.failure_reason = (
                f"All training jobs failed. First failure: {reasons[0] if reasons else 'no trial ran'}"
            )
            return
        self.status = "Completed"

    # ------------------------------------------------------------------ describing

    def best(self) -> dict | None:
        scored = [t for t in self.trials if t["objective"] is not None]
        if not scored:
            return None
        pick = max if self.objective["Type"] == "Maximize" else min
        best = pick(scored, key=lambda t: t["objective"])
        job = self.service.training.get(best["name"])
        return {
            "TrainingJobName": best["name"],
            "TrainingJobArn": self.service.arn("training-job", best["name"]),
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
        statuses = [self.service.training.get(t["name"]).status for t in self.trials]
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
            "HyperParameterTuningJobArn": self.service.arn("hyper-parameter-tuning-job", self.name),
            "HyperParameterTuningJobConfig": self.request["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": self.request["TrainingJobDefinition"],
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
    def __init__(self, service):
        self.service = service
        self.jobs: dict[str, TuningJob] = {}

    def create(self, request: dict) -> str:
        name = request["HyperParameterTuningJobName"]
        if "TrainingJobDefinition" not in request:
            raise validation("TrainingJobDefinition is required by the local SageMaker")
        with self.service.lock:
            if name in self.jobs:
                raise SageMakerError("ResourceInUse", f"Hyperparameter tuning job {name} already exists")
            job = self.jobs[name] = TuningJob(self.service, request)
        threading.Thread(target=job.run, name=f"tuning-{name}", daemon=True).start()
        return self.service.arn("hyper-parameter-tuning-job", name)

    def get(self, name: str) -> TuningJob:
        if name not in self.jobs:
            raise not_found("hyperparameter tuning job", name)
        return self.jobs[name]

    def describe(self, name: str) -> dict:
        return self.get(name).describe()

    def stop(self, name: str) -> None:
        job = self.get(name)
        job.stop_requested = True
        for trial in job.trials:
            if self.service.training.get(trial["name"]).status == "InProgress":
                self.service.training.stop(trial["name"])

    def stop_all(self) -> None:
        for job in self.jobs.values():
            job.stop_requested = True

    def trials(self, name: str) -> list[dict]:
        job = self.get(name)
        summaries = []
        for trial in job.trials:
            training = self.service.training.get(trial["name"])
            summary = {
                "TrainingJobName": trial["name"],
                "TrainingJobArn": self.service.arn("training-job", trial["name"]),
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

    def summaries(self, status: str | None = None) -> list[dict]:
        result = []
        for job in sorted(self.jobs.values(), key=lambda j: j.created, reverse=True):
            if status is not None and job.status != status:
                continue
            training, objective = job.counters()
            result.append({
                "HyperParameterTuningJobName": job.name,
                "HyperParameterTuningJobArn": self.service.arn("hyper-parameter-tuning-job", job.name),
                "HyperParameterTuningJobStatus": job.status,
                "Strategy": job.strategy,
                "CreationTime": job.created,
                "TrainingJobStatusCounters": training,
                "ObjectiveStatusCounters": objective,
            })  # fmt: skip
        return result
