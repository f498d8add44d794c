"""Lambda's execution environments on one machine: each function runs in processes of its own, as Lambda runs Python.

Each execution environment is AWS's own runtime interface client (``python -m awslambdaric <Handler>``,
started in the function's code folder with its layers on the import path) talking to a Runtime API that
this module serves for it on 127.0.0.1 (``/2018-06-01/runtime/invocation/next``, ``.../{id}/response``,
``.../{id}/error``, ``/init/error``). Its environment is what Lambda gives a function: the template's
variables, the reserved ones Lambda sets (AWS_LAMBDA_FUNCTION_NAME, memory, LAMBDA_TASK_ROOT, region, ...)
and the temporary credentials of the function's role (STS AssumeRole), nothing from the twin's process.

As on Lambda:
- an idle environment is reused (warm); a busy one gets a sibling, up to the function's concurrency
  (ReservedConcurrentExecutions, else ``DEFAULT_CONCURRENCY``, the quota of a new account); past it a
  synchronous call is throttled (TooManyRequestsException) and an asynchronous one waits its turn;
- the Timeout is enforced: the process is killed and the caller gets "Task timed out after N.00 seconds";
- an exception at import is the init error awslambdaric reports (Runtime.ImportModuleError, ...); a process
  that exits mid-invocation is Runtime.ExitError; an environment that failed is never reused;
- a synchronous request and a response are at most 6 MB;
- the Runtime API answers a second response (or error) for an invocation, and one for an id that is not the
  current invocation's, as AWS's Runtime Interface Emulator does (403 InvalidStateTransition, 400
  InvalidRequestID); the first answer stands.

Each function's processes write to ``<log_dir>/<function>.log`` (its log group, as it were), and the twin writes
there what Lambda writes for each invocation: START, END and REPORT lines (duration, billed duration, memory size,
the environment's peak memory, and its init duration on a cold start).
"""

import json
import logging
import math
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

from local_twin.faults import Faults
from local_twin.loopback import LoopbackHandler, reply, serve_in_background, shut_down

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 10  # Lambda's concurrency quota of a new account (the twin's bound per function)
INIT_LIMIT_SECONDS = 10  # Lambda's init phase; past it, init is retried inside the invocation's own timeout
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024  # a synchronous invocation's request
RESPONSE_LIMIT_BYTES = PAYLOAD_LIMIT_BYTES + 100  # and its response (what Lambda enforces: 6 MiB + 100 bytes)
_RUNTIME_PATH = "/2018-06-01/runtime"
_ANSWER_PATH = re.compile(r"/invocation/(?P<request_id>[^/]+)/(?P<kind>response|error)")
# How AWS's Runtime Interface Emulator refuses a second answer: the runtime is in its RuntimeResponseSentState and
# may not move to InvocationResponse / InvocationErrorResponse (aws/aws-lambda-runtime-interface-emulator:
# internal/lambda/rapi/handler/invocationresponse.go, invocationerror.go, constants.go, core/states.go; its JSON
# comes from Go's json.Encoder, hence the final newline, rendering/render_json.go).
_RUNTIME_STATE_AFTER_ANSWER = "RuntimeResponseSentState"
_STATE_OF_ANSWER = {"response": "InvocationResponse", "error": "InvocationErrorResponse"}


class Throttled(Exception):
    """Every environment of the function is busy and it may not have more (Lambda: TooManyRequestsException)."""


class RequestTooLarge(Exception):
    """The invocation's payload is over Lambda's synchronous limit (RequestEntityTooLargeException)."""


@dataclass(frozen=True)
class FunctionConfig:
    """What Lambda knows of a function when it starts an environment for it."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path]
    runtime: str
    timeout: int
    memory: int
    environment: dict[str, str]  # what the twin adds (its endpoints) to the function's own variables
    credentials: Callable[[], dict[str, str]]  # the role's session: AWS_ACCESS_KEY_ID, ..._SECRET_..., ..._TOKEN
    variables: Callable[[], dict[str, str]]  # the function's variables now (UpdateFunctionConfiguration changes them)
    concurrency: int = DEFAULT_CONCURRENCY
    log_group: str = ""  # LoggingConfig.LogGroup, else Lambda's /aws/lambda/<name>


@dataclass
class Invocation:
    event: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    fetched_at: float | None = None  # when the runtime took it (the Timeout counts from here)
    answered_at: float | None = None  # when it ended (its result, an error, a timeout or a crash)
    result: bytes | None = None
    errored: bool = False

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    def finish(self, payload: bytes, errored: bool) -> None:
        """The invocation's outcome; only the first one counts."""
        if not self.answered:
            self.result, self.errored = payload, errored
            self.answered_at = time.monotonic()


def error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def emulator_error(error_type: str, message: str) -> bytes:
    """An error of the Runtime API to the runtime, as the emulator renders it: model.ErrorResponse through Go's
    json.Encoder (compact, then a newline)."""
    body = {"errorMessage": message, "errorType": error_type}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


_ACCEPTED = b'{"status":"OK"}\n'  # the emulator's RenderAccepted (model.StatusResponse)
_INVALID_REQUEST_ID = emulator_error("InvalidRequestID", "Invalid request ID")  # its RenderInvalidRequestID


def refused_second_answer(kind: str) -> bytes:
    """The emulator's 403 for a response or error after the invocation's first answer."""
    message = (
        f"State transition from {_RUNTIME_STATE_AFTER_ANSWER} to {_STATE_OF_ANSWER[kind]} failed for runtime. "
        "Error: State transition is not allowed"
    )
    return emulator_error("InvalidStateTransition", message)


def peak_memory_mb(pid: int) -> int | None:
    """The process's peak resident memory (VmHWM) in MB, rounded up; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return math.ceil(int(match.group(1)) / 1024) if match else None


def report_line(request_id: str, duration_ms: float, memory: int, used_mb: int, init_ms: float | None) -> str:
    """Lambda's REPORT line. Fields, order and the billed duration (ceil of duration plus init, as the INIT phase
    is billed) as in the example log of AWS's "Log and monitor Python Lambda functions" page (python-logging)."""
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {math.ceil(duration_ms + (init_ms or 0))} ms",
        f"Memory Size: {memory} MB",
        f"Max Memory Used: {used_mb} MB",
    ]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    return "\t".join(fields)


class ExecutionEnvironment:
    """One process of one function, and the Runtime API it polls."""

    def __init__(self, config: FunctionConfig, log_dir: Path, variables: dict[str, str]):
        self.config = config
        self.variables = variables
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.current: Invocation | None = None  # the invocation the runtime holds, until it asks for the next one
        self.init_error: bytes | None = None
        self.healthy = True
        # Notified when the runtime takes an invocation, answers it, or its process exits: the invoker sleeps
        # until one of these (or its deadline) instead of polling.
        self.changed = threading.Condition()
        self._init_ms: float | None = None  # from the process's start to its first /next (Lambda's init phase)
        self._cold = True  # until the first REPORT line, which carries the init duration
        self._peak_mb = 0
        self._server = self._serve()
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = log_file(log_dir, config.name).open("ab")
        self._started_at = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-m", "awslambdaric", config.handler],
            cwd=config.code_dir,
            env=self._environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        threading.Thread(target=self._notify_exit, name=f"exit-{config.name}", daemon=True).start()

    @property
    def runtime_api(self) -> str:
        """What the runtime gets as AWS_LAMBDA_RUNTIME_API."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def _notify_exit(self) -> None:
        self.process.wait()
        with self.changed:
            self.changed.notify_all()

    def _write_log(self, line: str) -> None:
        """A line of Lambda's own (START, END, REPORT) in the function's log, between its output."""
        self._log.write(f"{line}\n".encode())
        self._log.flush()

    def _environment(self) -> dict[str, str]:
        config = self.config
        region = config.environment.get("AWS_REGION", "us-east-1")
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(str(path) for path in [config.code_dir, *config.layer_dirs]),
            "HOME": str(Path(self._log.name).parent),  # no user's ~/.aws: the role's credentials only
            **self.variables,
            **config.environment,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group or f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
            "LAMBDA_TASK_ROOT": str(config.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "_HANDLER": config.handler,
            **config.credentials(),
        }

    def _take_next(self) -> Invocation | None:
        """The runtime asks for work: its previous invocation is over (no answer for it is valid any more)."""
        with self.changed:
            self.current = None
            if self._init_ms is None:
                self._init_ms = (time.monotonic() - self._started_at) * 1000
        invocation = self.pending.get()
        if invocation is None:  # the environment is shutting down: its process is gone
            return None
        self._write_log(f"START RequestId: {invocation.request_id} Version: $LATEST")
        with self.changed:
            invocation.fetched_at = time.monotonic()
            self.current = invocation
            self.changed.notify_all()
        return invocation

    def _answer(self, request_id: str, kind: str, body: bytes) -> tuple[int, bytes]:
        """(status, body) of the Runtime API for the runtime's response or error for one invocation."""
        with self.changed:
            current = self.current
            if current is None or current.request_id != request_id:
                return 400, _INVALID_REQUEST_ID
            if current.answered:
                return 403, refused_second_answer(kind)
            if kind == "error":
                current.finish(body, True)
            elif len(body) > RESPONSE_LIMIT_BYTES:
                message = (
                    f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                    f"({RESPONSE_LIMIT_BYTES} bytes)."
                )
                current.finish(error_payload("Function.ResponseSizeTooLarge", message), True)
            else:
                current.finish(body, False)
            self.changed.notify_all()
        return 202, _ACCEPTED

    def _serve(self) -> ThreadingHTTPServer:
        environment = self

        class RuntimeApi(LoopbackHandler):
            def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                reply(self, status, body, {"Content-Type": "application/json", **(headers or {})})

            def do_GET(self):
                if self.path != f"{_RUNTIME_PATH}/invocation/next":
                    return self._answer(404)
                invocation = environment._take_next()
                if invocation is None:
                    self.close_connection = True
                    return
                deadline_ms = int((time.time() + environment.config.timeout) * 1000)
                self._answer(
                    200,
                    invocation.event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": environment.config.arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
                    },
                )

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.removeprefix(_RUNTIME_PATH)
                if path == "/init/error":
                    environment.init_error = body
                    return self._answer(202, _ACCEPTED)
                answer = _ANSWER_PATH.fullmatch(path)
                if answer is None:
                    return self._answer(404)
                self._answer(*environment._answer(answer["request_id"], answer["kind"], body))

        return serve_in_background(RuntimeApi, f"runtime-api-{self.config.name}")

    def invoke(self, invocation: Invocation) -> None:
        """Run one invocation to its end (a result, an error, a timeout or a crash); always finishes it."""
        timeout = self.config.timeout
        queued = time.monotonic()
        self.pending.put(invocation)
        timed_out_now = False
        with self.changed:
            while not invocation.answered:
                if self.process.poll() is not None:
                    self.healthy = False
                    invocation.finish(self.init_error or self._exit_error(invocation), True)
                    break
                started = invocation.fetched_at
                deadline = started + timeout if started is not None else queued + INIT_LIMIT_SECONDS + timeout
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.healthy = False
                    timed_out_now = True
                    invocation.finish(timed_out(invocation.request_id, timeout), True)
                    break
                self.changed.wait(remaining)
        if invocation.fetched_at is not None:
            self._report(invocation, timed_out_now)
        if timed_out_now:
            self.kill()

    def _exit_error(self, invocation: Invocation) -> bytes:
        message = (
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: "
            f"exit status {self.process.returncode}"
        )
        return error_payload("Runtime.ExitError", message)

    def _report(self, invocation: Invocation, timed_out_now: bool) -> None:
        """Lambda's END and REPORT lines for an invocation the runtime took."""
        duration_ms = (invocation.answered_at - invocation.fetched_at) * 1000
        if timed_out_now:
            duration_ms = min(duration_ms, self.config.timeout * 1000)  # as the emulator caps it
        self._peak_mb = peak_memory_mb(self.process.pid) or self._peak_mb  # a process that is gone: its last peak
        init_ms = self._init_ms if self._cold else None
        self._cold = False
        self._write_log(f"END RequestId: {invocation.request_id}")
        self._write_log(report_line(invocation.request_id, duration_ms, self.config.memory, self._peak_mb, init_ms))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        self.pending.put(None)
        shut_down(self._server)
        self._log.close()


def timed_out(request_id: str, timeout: int) -> bytes:
    """What Lambda reports for a handler that outlived its Timeout (Step Functions sees Sandbox.Timedout)."""
    message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
    return error_payload("Sandbox.Timedout", message)


class FunctionPool:
    """A function's execution environments: warm ones reused, new ones up to its concurrency."""

    def __init__(self, config: FunctionConfig, log_dir: Path):
        self.config = config
        self.log_dir = log_dir
        self._idle: list[ExecutionEnvironment] = []
        self._all: set[ExecutionEnvironment] = set()
        self._in_use = 0
        self._lock = threading.Condition()
        self._variables = config.variables()
        self.started = 0  # environments started so far (cold starts)

    def acquire(self, wait: bool) -> ExecutionEnvironment:
        variables = self.config.variables()
        with self._lock:
            if variables != self._variables:  # the function was reconfigured: new environments, as Lambda starts
                self._variables = variables
                for stale in self._idle:
                    self._all.discard(stale)
                    stale.stop()
                self._idle.clear()
                for busy in self._all:
                    busy.healthy = False  # retired when its invocation ends
            while not self._idle and self._in_use >= self.config.concurrency:
                if not wait:
                    raise Throttled(f"Rate Exceeded. ({self.config.name}: {self.config.concurrency} concurrent)")
                self._lock.wait()
            self._in_use += 1
            if self._idle:
                return self._idle.pop()
            self.started += 1
        try:
            environment = ExecutionEnvironment(self.config, self.log_dir, variables)
        except BaseException:
            self._give_back(None)
            raise
        with self._lock:
            self._all.add(environment)
        return environment

    def release(self, environment: ExecutionEnvironment) -> None:
        self._give_back(environment)

    def _give_back(self, environment: ExecutionEnvironment | None) -> None:
        with self._lock:
            self._in_use -= 1
            if environment is not None and environment.healthy:
                self._idle.append(environment)
            elif environment is not None:
                self._all.discard(environment)
                environment.stop()
            self._lock.notify_all()

    @property
    def environments(self) -> int:
        """Environments alive now (idle or busy)."""
        with self._lock:
            return len(self._all)

    def stop(self) -> None:
        with self._lock:
            environments = list(self._all)
            self._all.clear()
            self._idle.clear()
        for environment in environments:
            environment.stop()


def log_file(log_dir: Path, function_name: str) -> Path:
    """Where a function's environments write (its log group, as it were)."""
    return log_dir / f"{function_name}.log"


class LambdaRuntime:
    """Every function of the twin, invoked by name or ARN.

    ``read_log``, when set, is given a function's log file after each of its invocations (the twin's CloudWatch
    reads the metrics there: emf.py)."""

    def __init__(self, log_dir: Path, faults: Faults | None = None, read_log: Callable[[Path], object] | None = None):
        self.log_dir = Path(log_dir)
        self.faults = faults or Faults()
        self.read_log = read_log
        self.pools: dict[str, FunctionPool] = {}

    def register(self, config: FunctionConfig) -> None:
        self.pools[config.name] = self.pools[config.arn] = FunctionPool(config, self.log_dir)

    def pool(self, name_or_arn: str) -> FunctionPool:
        try:
            return self.pools[name_or_arn]
        except KeyError:
            raise KeyError(f"Function not found: {name_or_arn}") from None

    def invoke(self, name_or_arn: str, event: bytes, asynchronous: bool = False) -> tuple[bytes, bool]:
        """(payload, errored) of one invocation; an asynchronous one waits for a free environment."""
        if not asynchronous and len(event) > PAYLOAD_LIMIT_BYTES:
            raise RequestTooLarge(
                f"Request must be smaller than {PAYLOAD_LIMIT_BYTES} bytes for the InvokeFunction operation"
            )  # Lambda's RequestEntityTooLargeException
        pool = self.pool(name_or_arn)
        invocation = Invocation(event)
        if self.faults.times_out(pool.config.name):  # an injected timeout: as if the handler had hung
            return timed_out(invocation.request_id, pool.config.timeout), True
        environment = pool.acquire(wait=asynchronous)
        try:
            environment.invoke(invocation)
        finally:
            pool.release(environment)
            self._after(pool.config.name)
        return invocation.result or b"null", invocation.errored

    def _after(self, function_name: str) -> None:
        if self.read_log is None:
            return
        try:
            self.read_log(log_file(self.log_dir, function_name))
        except Exception:  # what reads the log never fails the invocation (AWS's log pipeline is apart from it)
            log.exception("reading %s's log after an invocation failed", function_name)

    def invoke_async(self, name_or_arn: str, event: bytes) -> None:
        """An Event invocation (EventBridge, S3): queued, run in the background, its result only logged."""

        def run() -> None:
            payload, errored = self.invoke(name_or_arn, event, asynchronous=True)
            if errored:
                log.warning("asynchronous invocation of %s failed: %s", name_or_arn, payload[:500])

        threading.Thread(target=run, name=f"async->{name_or_arn.rsplit(':', 1)[-1]}", daemon=True).start()

    def stop(self) -> None:
        for pool in set(self.pools.values()):
            pool.stop()
