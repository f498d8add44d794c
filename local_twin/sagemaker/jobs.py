"""Training jobs that really run: the sagemaker-training toolkit runs the job's script in a subprocess.

Per job, under ``<workdir>/jobs/<name>/``: an /opt/ml-shaped folder (``ml/``) with the channels downloaded
from S3, the source directory from ``sagemaker_submit_directory`` and the hyperparameters as SageMaker writes
them (removed when the job ends, as the instance's storage is), and ``job.log`` (the script's output: kept, and
readable while the job runs). The training image is not run; its stand-in is (images.py): the toolkit and the
script run on the image's Python and libraries, not the twin's. When the job ends its output goes to CloudWatch
Logs as SageMaker sends it (``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<epoch seconds>``), written with
the job's execution role.

A job with more than one GPU in all runs as SageMaker's PyTorch image runs it: its hyperparameters enable the
``torch_distributed`` distribution (model_code/gpus.py), the image's framework module (sagemaker-pytorch-training,
``SAGEMAKER_TRAINING_MODULE``) has the toolkit launch the script with torchrun, one process per GPU, on every
instance. Here each instance is a toolkit process of its own with its own /opt/ml (``ml/`` for the first,
``ml-algo-<n>/`` for the others; hosts are loopback addresses), its GPUs are named to the toolkit by a stand-in
``nvidia-smi`` (the count of model_code/gpus.py), and the scripts, finding no CUDA, train on gloo. torchrun's
rendezvous port is fixed (7777 across instances, 29500 on one), so distributed jobs take turns on this machine.

StopTrainingJob works as AWS documents it: the status turns ``Stopping``, the script gets SIGTERM, what the job
still uploads (its checkpoints) is uploaded, and only then is the status ``Stopped``
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StopTrainingJob.html).
"""

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from local_twin.faults import Faults
from local_twin.sagemaker import rules
from local_twin.sagemaker.arns import Arns
from local_twin.sagemaker.errors import SageMakerError, failure_reason, not_found, now, validation
from local_twin.sagemaker.experiments import Experiments
from local_twin.sagemaker.quotas import TrainingCapacity
from local_twin.sagemaker.roles import ExecutionRoles
from local_twin.sagemaker.runtime import JobRuntime
from model_code import gpus

TERMINAL = ("Completed", "Failed", "Stopped")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"  # one per account and region, shared by every training job
# The PyTorch training images' framework module (their SAGEMAKER_TRAINING_MODULE): it reads the distribution
# hyperparameters and picks the toolkit's launcher (torchrun for torch_distributed).
PYTORCH_FRAMEWORK_MODULE = "sagemaker_pytorch_container.training:main"
# Held by the distributed job training now, machine-wide (another twin, another test worker): torchrun's ports are
# fixed. flock on a file of its own: separate opens exclude each other, in one process or in two.
RENDEZVOUS_LOCK = Path(tempfile.gettempdir()) / "local-sagemaker-torchrun.lock"


@contextlib.contextmanager
def rendezvous_turn():
    with open(RENDEZVOUS_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class TrainingJob:
    """One training job: ``folder`` its own, run with ``runtime`` as a session of its execution role (``roles``);
    ``tuning_job`` names the tuning job that started it, if one did."""

    def __init__(
        self,
        request: dict,
        tuning_job: str | None,
        folder: Path,
        runtime: JobRuntime,
        roles: ExecutionRoles,
        arns: Arns,
    ):
        self.request = request
        self.name = request["TrainingJobName"]
        self.tuning_job = tuning_job
        self.arns = arns
        self.runtime = runtime
        self.folder = folder
        self.log_path = self.folder / "job.log"  # the first instance's (algo-1): rank 0 prints the metric lines
        self.status = "InProgress"
        self.secondary = "Starting"
        self.failure_reason = None
        self.created = now()
        self.started = self.ended = None
        self.metrics: list[dict] = []
        self.rule_statuses: list[dict] = []
        self.processes: list[subprocess.Popen] = []  # one toolkit per instance
        self.stop_requested = False
        # the role SageMaker reads channels and writes outputs and logs with, assumed for this job (source_arn)
        self.role = roles.session(request["RoleArn"], f"SageMaker-{self.name}", self.source_arn)
        self.log_error: str | None = None  # why the job's logs could not be written to CloudWatch Logs
        self.stopping_describes = 0  # Faults.stopping_describes, taken when the stop was asked
        self.stop_released = threading.Event()  # set once the job may finish stopping
        self.stop_released.set()
        self.starting = threading.Lock()  # held while the script is started (stop() takes it too)

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        collected = False
        try:
            self._prepare()
            self._train()
            self.stop_released.wait()  # a job held Stopping (Faults.stopping_describes) makes its last uploads later
            collected = self._collect()
        except Exception as error:  # any failure of the job is the job's FailureReason, as on SageMaker
            if self.status == "InProgress":
                self.status, self.failure_reason = "Failed", failure_reason(error)
        finally:
            self._send_logs()  # a job's log stream is whole by the time it is described as ended
            # the instances' storage goes when the job ends, as on SageMaker: what outlives it is in S3 (the
            # job's folder keeps its logs and tensors)
            for index in range(len(self.hosts)):
                shutil.rmtree(self.ml(index), ignore_errors=True)
            if collected and self.status == "InProgress":
                self.status = "Completed"
            self.ended = now()
            if self.status == "Stopping":  # its last uploads are done: now it has stopped
                self.status = "Stopped"
            self.secondary = self.status

    def _send_logs(self) -> None:
        """Each instance's output as its log stream, ``<job>/algo-<n>-<epoch seconds>``."""
        for index in range(len(self.hosts)):
            log = self.log_of(index)
            if log.exists():
                lines = log.read_text(errors="replace").splitlines()
                stream = f"{self.name}/algo-{index + 1}-{int(self.created)}"
                self.log_error = self.role.send_logs(LOG_GROUP, stream, lines) or self.log_error

    @property
    def hosts(self) -> list[str]:
        """The job's instances as the toolkit's resourceconfig.json names them. "localhost" for one: the toolkit hangs
        resolving SageMaker's "algo-1" here; several are loopback addresses of this machine, in SageMaker's order."""
        count = self.request["ResourceConfig"].get("InstanceCount", 1)
        return ["localhost"] if count == 1 else [f"127.0.0.{n}" for n in range(1, count + 1)]

    def ml(self, index: int) -> Path:
        """Instance ``index``'s /opt/ml."""
        return self.folder / ("ml" if index == 0 else f"ml-algo-{index + 1}")

    def log_of(self, index: int) -> Path:
        return self.log_path if index == 0 else self.folder / f"job-algo-{index + 1}.log"

    @property
    def distributed(self) -> bool:
        """The job enables torch_distributed, as the request builders do for more than one GPU in all."""
        return json.loads(self.request.get("HyperParameters", {}).get(gpus.TORCH_DISTRIBUTED, "false")) is True

    def _prepare(self) -> None:
        for index in range(len(self.hosts)):
            self._prepare_instance(index)

    def _prepare_instance(self, index: int) -> None:
        ml = self.ml(index)
        config = ml / "input" / "config"
        for folder in (config, ml / "model", ml / "output" / "data", ml / "checkpoints", ml / "code"):
            folder.mkdir(parents=True, exist_ok=True)
        self.secondary = "Downloading"
        s3 = self.s3
        for channel in self.request["InputDataConfig"]:
            bucket, prefix = split_s3_uri(channel["DataSource"]["S3DataSource"]["S3Uri"])
            target = ml / "input" / "data" / channel["ChannelName"]
            target.mkdir(parents=True, exist_ok=True)
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            if not listed:
                raise validation(f"no S3 objects under {channel['DataSource']['S3DataSource']['S3Uri']}")
            for item in listed:
                relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(destination))
        hyperparameters = dict(self.request.get("HyperParameters", {}))
        source = json.loads(hyperparameters["sagemaker_submit_directory"])
        bucket, key = split_s3_uri(source)
        archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(ml / "code", filter="data")
        hyperparameters["sagemaker_submit_directory"] = json.dumps(str(ml / "code"))
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        resources = {"current_host": self.hosts[index], "hosts": self.hosts}
        if self.distributed:  # as SageMaker writes it; torchrun's launcher reads the type (EFA settings)
            resources["current_instance_type"] = self.request["ResourceConfig"]["InstanceType"]
        (config / "resourceconfig.json").write_text(json.dumps(resources))
        channels = {c["ChannelName"]: {"TrainingInputMode": "File"} for c in self.request["InputDataConfig"]}
        (config / "inputdataconfig.json").write_text(json.dumps(channels))
        hook = self.request.get("DebugHookConfig")
        if hook:
            (config / "debughookconfig.json").write_text(
                json.dumps(
                    {
                        "LocalPath": str(self.tensors),
                        "S3OutputPath": hook["S3OutputPath"],
                        "HookParameters": hook.get("HookParameters", {}),
                        "CollectionConfigurations": hook.get("CollectionConfigurations", []),
                    }
                )
            )

        checkpoints = self.request.get("CheckpointConfig")
        if checkpoints:  # SageMaker copies the checkpoint prefix into /opt/ml/checkpoints before the job starts
            self._sync_checkpoints(index, download=True)

    @property
    def tensors(self) -> Path:
        return self.folder / "tensors"

    @property
    def source_arn(self) -> str | None:
        """What SageMaker names as the source when it assumes the job's role: the job, none for a tuning trial."""
        return None if self.tuning_job else self.arns.sagemaker("training-job", self.name)

    @property
    def s3(self):
        """S3 as the job's execution role (RoleArn): channels, code, outputs, checkpoints and Debugger paths."""
        if not hasattr(self, "_s3"):
            self._s3 = self.role.client("s3")
        return self._s3

    def _sync_checkpoints(self, index: int, download: bool) -> None:
        local = self.ml(index) / "checkpoints"
        bucket, prefix = split_s3_uri(self.request["CheckpointConfig"]["S3Uri"].rstrip("/"))
        if download:
            listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])
            for item in listed:
                destination = local / item["Key"][len(prefix) + 1 :]
                destination.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, item["Key"], str(destination))
            return
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            self.s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")

    def _environment(self, index: int) -> dict[str, str]:
        ml = self.ml(index)
        env = {
            **self.runtime.training_environment,
            **self.role.credentials(),
            "SAGEMAKER_BASE_DIR": str(ml),
            "PYTHONUNBUFFERED": "1",
        }
        env["TRAINING_JOB_NAME"] = self.name  # as SageMaker sets it in the container
        if self.request.get("DebugHookConfig"):
            env["SMDEBUG_CONFIG_FILE_PATH"] = str(ml / "input" / "config" / "debughookconfig.json")
        if self.distributed:
            env["SAGEMAKER_TRAINING_MODULE"] = PYTORCH_FRAMEWORK_MODULE
            # torchrun from the job's Python, and the instance type's GPUs as nvidia-smi lists them to the toolkit
            tools = [str(Path(self.runtime.training_python).parent), str(self._stand_in_nvidia_smi())]
            env["PATH"] = os.pathsep.join([*tools, env.get("PATH", os.defpath)])
        return env

    def _stand_in_nvidia_smi(self) -> Path:
        """A folder with an ``nvidia-smi`` that lists the instance type's GPUs the way ``nvidia-smi --list-gpus``
        does (``GPU <n>: ...``, what the toolkit counts to start one process per GPU)."""
        folder = self.folder / "bin"
        folder.mkdir(exist_ok=True)
        instance_type = self.request["ResourceConfig"]["InstanceType"]
        listing = "".join(
            f"GPU {n}: stand-in for a GPU of {instance_type} (local twin)\n"
            for n in range(gpus.gpus_per_instance(instance_type))
        )
        tool = folder / "nvidia-smi"
        tool.write_text(f"#!/bin/sh\nprintf '%s' '{listing}'\n")
        tool.chmod(0o755)
        return folder

    def _train(self) -> None:
        with rendezvous_turn() if self.distributed else contextlib.nullcontext():
            self._train_instances()

    def _train_instances(self) -> None:
        limit = self.request["StoppingCondition"].get("MaxRuntimeInSeconds", 86400)
        with contextlib.ExitStack() as logs:
            with self.starting:  # a stop is either seen here or finds the processes to signal, never in between
                if self.stop_requested:  # stopped while it downloaded: the script never starts
                    return
                self.started, self.secondary = now(), "Training"
                for index in range(len(self.hosts)):
                    log = logs.enter_context(open(self.log_of(index), "wb"))
                    # a session of its own: a stop ends the toolkit and the script it started, as the container's
                    # end does
                    self.processes.append(
                        subprocess.Popen(
                            [str(self.runtime.train)],
                            env=self._environment(index),
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            deadline = time.monotonic() + limit
            try:
                codes = [process.wait(timeout=max(0, deadline - time.monotonic())) for process in self.processes]
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                for process in self.processes:
                    process.wait()
                self.status, self.failure_reason = "Stopped", f"MaxRuntimeInSeconds ({limit} s) exceeded"
                return
        if self.stop_requested:
            return  # Stopping: Stopped once its checkpoints are uploaded (run())
        for index, code in enumerate(codes):
            failure = self.ml(index) / "output" / "failure"
            if code != 0 or failure.exists():
                toolkit = " ".join(failure.read_text().split())[-400:] if failure.exists() else f"exit code {code}"
                self.status = "Failed"
                self.failure_reason = f"AlgorithmError: {toolkit}; last output: {self._log_tail(index)}"
                return

    def signal(self, number: int) -> None:
        """Send ``number`` to every process of the job (the toolkits, the scripts and their data loaders)."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, number)

    def _log_tail(self, index: int = 0) -> str:
        toolkit_words = ("sagemaker-training-toolkit", "ExitCode", "ErrorMessage", "Command ", "ExecuteUserScriptError")
        lines = [
            line
            for line in self.log_of(index).read_text(errors="replace").splitlines()
            if line.strip() and not any(word in line for word in toolkit_words)
        ]
        return " | ".join(lines[-3:])[-600:]

    def _collect(self) -> bool:
        """The job's metrics and uploads; True when it trained to the end (run() then marks it Completed)."""
        self.metrics = self.read_metrics()
        if self.request.get("CheckpointConfig"):  # kept whatever the outcome: a retried job resumes from them
            for index in range(len(self.hosts)):
                self._sync_checkpoints(index, download=False)
        if self.status not in ("InProgress", "Stopping"):
            return False
        # a stopped job's model is saved too: "You can use the model artifacts that are saved when SageMaker stops a
        # training job to create a model" (StopTrainingJob): the late upload a teardown must wait for
        if self.status == "InProgress":
            self.secondary = "Uploading"
        ml = self.ml(0)  # the first instance's, where rank 0 writes the model and its output
        s3 = self.s3
        output = self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        bucket, prefix = split_s3_uri(f"{output}/{self.name}/output")
        s3.put_object(Bucket=bucket, Key=f"{prefix}/model.tar.gz", Body=tar_gz(ml / "model"))
        s3.put_object(Bucket=bucket, Key=f"{prefix}/output.tar.gz", Body=tar_gz(ml / "output" / "data"))
        hook = self.request.get("DebugHookConfig")
        if hook and self.tensors.is_dir():
            hook_bucket, hook_prefix = split_s3_uri(f"{hook['S3OutputPath'].rstrip('/')}/{self.name}/debug-output")
            for path in sorted(p for p in self.tensors.rglob("*") if p.is_file()):
                s3.upload_file(str(path), hook_bucket, f"{hook_prefix}/{path.relative_to(self.tensors).as_posix()}")
        if self.status == "Stopping":
            return False  # no rule is evaluated on a stopped job; run() marks it Stopped
        self.rule_statuses = rules.evaluate(self.request, self.tensors, self.runtime.python)
        return True

    def read_metrics(self) -> list[dict]:
        """The last value of each MetricDefinitions regex in the job's log, as FinalMetricDataList."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(errors="replace")
        found = []
        for definition in self.request["AlgorithmSpecification"].get("MetricDefinitions", []):
            values = re.findall(definition["Regex"], text)
            if values:
                found.append({"MetricName": definition["Name"], "Value": float(values[-1]), "Timestamp": now()})
        return found

    # ------------------------------------------------------------------ describing

    def describe(self) -> dict:
        if self.status == "Stopping" and self.stopping_describes:
            self.stopping_describes -= 1
            if not self.stopping_describes:
                self.stop_released.set()
        request = self.request
        output = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        described = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arns.sagemaker("training-job", self.name),
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary,
            "HyperParameters": request.get("HyperParameters", {}),
            "AlgorithmSpecification": request["AlgorithmSpecification"],
            "RoleArn": request["RoleArn"],
            "InputDataConfig": request["InputDataConfig"],
            "OutputDataConfig": request["OutputDataConfig"],
            "ResourceConfig": request["ResourceConfig"],
            "StoppingCondition": request["StoppingCondition"],
            "CreationTime": self.created,
            "ModelArtifacts": {"S3ModelArtifacts": f"{output}/{self.name}/output/model.tar.gz"},
            "FinalMetricDataList": self.metrics or (self.read_metrics() if self.status == "InProgress" else []),
            "EnableManagedSpotTraining": request.get("EnableManagedSpotTraining", False),
        }
        for key in ("DebugHookConfig", "DebugRuleConfigurations", "ProfilerConfig", "ProfilerRuleConfigurations",
                    "CheckpointConfig", "Tags"):  # fmt: skip
            if key in request:
                described[key] = request[key]
        if self.rule_statuses:
            described["DebugRuleEvaluationStatuses"] = [s for s in self.rule_statuses if s["kind"] == "debug"]
            described["ProfilerRuleEvaluationStatuses"] = [s for s in self.rule_statuses if s["kind"] == "profiler"]
            for group in ("DebugRuleEvaluationStatuses", "ProfilerRuleEvaluationStatuses"):
                described[group] = [{k: v for k, v in s.items() if k != "kind"} for s in described[group]]
        if self.failure_reason:
            described["FailureReason"] = self.failure_reason
        if self.started:
            described["TrainingStartTime"] = self.started
        if self.ended:
            described["TrainingEndTime"] = self.ended
        if self.started and self.ended:  # no spot discount here: billed as long as it trained
            described["TrainingTimeInSeconds"] = described["BillableTimeInSeconds"] = round(self.ended - self.started)
        if self.tuning_job:
            described["TuningJobArn"] = self.arns.sagemaker("hyper-parameter-tuning-job", self.tuning_job)
        return described


def tar_gz(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                archive.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


# Two jobs at once, one per core: a tuning job's parallel trials, or two runs' jobs, overlap their start-up (imports,
# data download) and their waits as SageMaker's instances do; a third torch process would only slow the other two.
JOB_SLOTS = 2


class TrainingJobs:
    """All training jobs, each in a folder under ``folder``; at most ``max_concurrent`` run at once, the rest
    wait their turn. ``lock`` is the local SageMaker's: a job is checked against ``capacity`` and counted in one
    step with every other create."""

    def __init__(
        self,
        folder: Path,
        runtime: JobRuntime,
        roles: ExecutionRoles,
        arns: Arns,
        capacity: TrainingCapacity,
        experiments: Experiments,
        faults: Faults,
        lock: threading.RLock,
        max_concurrent: int,
    ):
        self.folder, self.runtime, self.roles, self.arns = folder, runtime, roles, arns
        self.capacity, self.experiments, self.faults, self.lock = capacity, experiments, faults, lock
        self.jobs: dict[str, TrainingJob] = {}
        self.slots = threading.Semaphore(max_concurrent)

    def create(self, request: dict, tuning_job: str | None = None) -> str:
        name = request["TrainingJobName"]
        with self.lock:
            if name in self.jobs:
                raise SageMakerError("ResourceInUse", f"Training job {name} already exists")
            job = TrainingJob(request, tuning_job, self.folder / name, self.runtime, self.roles, self.arns)
            if tuning_job is None:  # a tuning job's trials were counted when it was created
                self.capacity.check_training_job(request)
                self.capacity.hold(job)
            self.jobs[name] = job
            self.experiments.training_job_created(name, tuning_job)
        threading.Thread(target=self._run, args=(job,), name=f"training-{name}", daemon=True).start()
        return self.arns.sagemaker("training-job", name)

    def _run(self, job: TrainingJob) -> None:
        with self.slots:
            if job.stop_requested:  # stopped while it waited for a slot: nothing ran, nothing to upload
                job.ended = now()
                job.status = job.secondary = "Stopped"
                return
            job.run()

    def get(self, name: str) -> TrainingJob:
        if name not in self.jobs:
            raise not_found("training job", name)
        return self.jobs[name]

    def describe(self, name: str) -> dict:
        return self.get(name).describe()

    def stop(self, name: str) -> None:
        job = self.get(name)
        if job.status != "InProgress":  # ended, or already Stopping
            raise validation(f"The training job {name} is not in progress (status {job.status}).")
        with job.starting:
            job.stop_requested = True
            job.stopping_describes = self.faults.stopping_describes
            if job.stopping_describes:
                job.stop_released.clear()
            job.status = job.secondary = "Stopping"
            job.signal(signal.SIGTERM)

    def stop_all(self) -> None:
        for job in list(self.jobs.values()):
            job.stop_requested = True
            job.stop_released.set()
            job.signal(signal.SIGKILL)

    def wait(self, name: str, timeout: float = 3600) -> TrainingJob:
        job = self.get(name)
        deadline = time.monotonic() + timeout
        while job.status not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.2)
        return job

    def summaries(self, status: str | None = None) -> list[dict]:
        return [
            {
                "TrainingJobName": job.name,
                "TrainingJobArn": self.arns.sagemaker("training-job", job.name),
                "CreationTime": job.created,
                "TrainingJobStatus": job.status,
                **({"TrainingEndTime": job.ended} if job.ended else {}),
            }
            for job in sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
            if status is None or job.status == status
        ]
