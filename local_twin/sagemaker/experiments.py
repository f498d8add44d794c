"""The SageMaker Experiments resources SageMaker creates on its own when jobs run, and their List/Delete calls.

What AWS creates without being asked (nothing in a request names them):

- a tuning job: the experiment ``<tuning-job>-aws-tuning-job`` (Apache Airflow's SageMaker system test deletes
  it by that name), with a trial per training job it starts;
- a training job: the trial component ``<training-job>-aws-training-job`` (sagemaker-python-sdk's lineage code
  uses the suffix), associated with its tuning job's trial when a tuning job started it.

The trial's name is the twin's (``<training-job>-aws-trial``): AWS does not document it, and a teardown must find
trials with ListTrials rather than by name. Deletion keeps AWS's documented order: "A trial component must be
disassociated from all trials before the trial component can be deleted", "All trial components that make up the
trial must be deleted first", "All trials associated with the experiment must be deleted first" (botocore's
model of DeleteTrialComponent, DeleteTrial, DeleteExperiment); the refusals' wording is the twin's. The List
calls page with MaxResults (default 10) and NextToken (service.py's page), as SageMaker's do.
"""

import threading
from dataclasses import dataclass, field

from local_twin.sagemaker.arns import Arns
from local_twin.sagemaker.errors import SageMakerError, now, validation

TUNING_EXPERIMENT_SUFFIX = "-aws-tuning-job"
TRAINING_COMPONENT_SUFFIX = "-aws-training-job"
TRIAL_SUFFIX = "-aws-trial"


def not_found(kind: str, name: str) -> SageMakerError:
    return SageMakerError("ResourceNotFound", f"{kind} '{name}' does not exist.")


@dataclass
class Experiment:
    name: str
    source_arn: str
    created: float = field(default_factory=now)


@dataclass
class Trial:
    name: str
    experiment: str
    source_arn: str
    created: float = field(default_factory=now)
    components: set[str] = field(default_factory=set)


@dataclass
class TrialComponent:
    name: str
    source_arn: str
    created: float = field(default_factory=now)
    trials: set[str] = field(default_factory=set)


class Experiments:
    """The experiments, trials and trial components jobs created; ``lock`` is the local SageMaker's, which the jobs'
    creates hold when they add theirs."""

    def __init__(self, arns: Arns, lock: threading.RLock):
        self.arns, self.lock = arns, lock
        self.experiments: dict[str, Experiment] = {}
        self.trials: dict[str, Trial] = {}
        self.components: dict[str, TrialComponent] = {}

    # ------------------------------------------------------------------ what jobs create

    def tuning_job_created(self, tuning_job: str) -> None:
        with self.lock:
            name = f"{tuning_job}{TUNING_EXPERIMENT_SUFFIX}"
            source = self.arns.sagemaker("hyper-parameter-tuning-job", tuning_job)
            self.experiments.setdefault(name, Experiment(name, source))

    def training_job_created(self, training_job: str, tuning_job: str | None) -> None:
        with self.lock:
            source = self.arns.sagemaker("training-job", training_job)
            component = self.components.setdefault(
                f"{training_job}{TRAINING_COMPONENT_SUFFIX}",
                TrialComponent(f"{training_job}{TRAINING_COMPONENT_SUFFIX}", source),
            )
            if tuning_job is None:
                return
            trial = Trial(f"{training_job}{TRIAL_SUFFIX}", f"{tuning_job}{TUNING_EXPERIMENT_SUFFIX}", source)
            self.trials[trial.name] = trial
            trial.components.add(component.name)
            component.trials.add(trial.name)

    # ------------------------------------------------------------------ the API

    def _get(self, table: dict, kind: str, name: str):
        if name not in table:
            raise not_found(kind, name)
        return table[name]

    def describe_experiment(self, name: str) -> dict:
        experiment = self._get(self.experiments, "Experiment", name)
        return {
            "ExperimentName": name,
            "ExperimentArn": self.arns.sagemaker("experiment", name),
            "DisplayName": name,
            "Source": {"SourceArn": experiment.source_arn, "SourceType": "SageMakerTuningJob"},
            "CreationTime": experiment.created,
        }

    def experiment_summaries(self) -> list[dict]:
        return [
            {
                "ExperimentName": e.name,
                "ExperimentArn": self.arns.sagemaker("experiment", e.name),
                "ExperimentSource": {"SourceArn": e.source_arn, "SourceType": "SageMakerTuningJob"},
                "CreationTime": e.created,
            }
            for e in sorted(self.experiments.values(), key=lambda e: e.created, reverse=True)
        ]

    def trial_summaries(self, experiment: str | None, component: str | None) -> list[dict]:
        if experiment is not None:
            self._get(self.experiments, "Experiment", experiment)
        if component is not None:
            self._get(self.components, "TrialComponent", component)
        return [
            {
                "TrialName": t.name,
                "TrialArn": self.arns.sagemaker("experiment-trial", t.name),
                "TrialSource": {"SourceArn": t.source_arn, "SourceType": "SageMakerTrainingJob"},
                "CreationTime": t.created,
            }
            for t in sorted(self.trials.values(), key=lambda t: t.created, reverse=True)
            if (experiment is None or t.experiment == experiment) and (component is None or component in t.components)
        ]

    def component_summaries(self, params: dict) -> list[dict]:
        filters = [key for key in ("ExperimentName", "TrialName", "SourceArn") if key in params]
        if len(filters) > 1:  # botocore's model: "If you specify SourceArn, you can't filter by ExperimentName
            # or TrialName"; and one of ExperimentName or TrialName
            raise validation(f"Only one of ExperimentName, TrialName or SourceArn may be given, got {filters}")
        selected = list(self.components.values())
        if "TrialName" in params:
            trial = self._get(self.trials, "Trial", params["TrialName"])
            selected = [c for c in selected if c.name in trial.components]
        if "ExperimentName" in params:
            self._get(self.experiments, "Experiment", params["ExperimentName"])
            names = {t.name for t in self.trials.values() if t.experiment == params["ExperimentName"]}
            selected = [c for c in selected if c.trials & names]
        if "SourceArn" in params:
            selected = [c for c in selected if c.source_arn == params["SourceArn"]]
        return [
            {
                "TrialComponentName": c.name,
                "TrialComponentArn": self.arns.sagemaker("experiment-trial-component", c.name),
                "TrialComponentSource": {"SourceArn": c.source_arn, "SourceType": "SageMakerTrainingJob"},
                "CreationTime": c.created,
            }
            for c in sorted(selected, key=lambda c: c.created, reverse=True)
        ]

    def describe_component(self, name: str) -> dict:
        component = self._get(self.components, "TrialComponent", name)
        return {
            "TrialComponentName": name,
            "TrialComponentArn": self.arns.sagemaker("experiment-trial-component", name),
            "DisplayName": name,
            "Source": {"SourceArn": component.source_arn, "SourceType": "SageMakerTrainingJob"},
            "CreationTime": component.created,
        }

    def disassociate(self, component_name: str, trial_name: str) -> dict:
        with self.lock:
            component = self._get(self.components, "TrialComponent", component_name)
            trial = self._get(self.trials, "Trial", trial_name)
            if trial_name not in component.trials:
                raise validation(f"Trial component '{component_name}' is not associated with trial '{trial_name}'.")
            component.trials.discard(trial_name)
            trial.components.discard(component_name)
        return {
            "TrialComponentArn": self.arns.sagemaker("experiment-trial-component", component_name),
            "TrialArn": self.arns.sagemaker("experiment-trial", trial_name),
        }

    def delete_component(self, name: str) -> dict:
        with self.lock:
            component = self._get(self.components, "TrialComponent", name)
            if component.trials:
                raise validation(
                    f"Trial component '{name}' is associated with trials {sorted(component.trials)}: disassociate it "
                    "from all trials before deleting it."
                )
            del self.components[name]
        return {"TrialComponentArn": self.arns.sagemaker("experiment-trial-component", name)}

    def delete_trial(self, name: str) -> dict:
        with self.lock:
            trial = self._get(self.trials, "Trial", name)
            if trial.components:
                raise validation(
                    f"Trial '{name}' still has trial components {sorted(trial.components)}: delete them first."
                )
            del self.trials[name]
        return {"TrialArn": self.arns.sagemaker("experiment-trial", name)}

    def delete_experiment(self, name: str) -> dict:
        with self.lock:
            self._get(self.experiments, "Experiment", name)
            trials = sorted(t.name for t in self.trials.values() if t.experiment == name)
            if trials:
                raise validation(f"Experiment '{name}' still has trials {trials}: delete them first.")
            del self.experiments[name]
        return {"ExperimentArn": self.arns.sagemaker("experiment", name)}
