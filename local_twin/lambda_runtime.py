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
- a synchronous request and a response are at most 6 MB.

Each function's processes write to ``<log_dir>/<function>.log`` (its log group, as it were).
"""

import json
import logging
import os
import queue
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
    result: bytes | None = None
    errored: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self, payload: bytes, errored: bool) -> None:
        if not self.done.is_set():
            self.result, self.errored = payload, errored
            self.done.set()


def error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class ExecutionEnvironment:
    """One process of one function, and the Runtime API it polls."""

    def __init__(self, config: FunctionConfig, log_dir: Path, variables: dict[str, str]):
        self.config = config
        self.variables = variables
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.current: Invocation | None = None
        self.init_error: bytes | None = None
        self.healthy = True
        self._server = self._serve()
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = (log_dir / f"{config.name}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-m", "awslambdaric", config.handler],
            cwd=config.code_dir,
            env=self._environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def _environment(self) -> dict[str, str]:
        config = self.config
        region = config.environment.get("AWS_REGION", "us-east-1")
        runtime_api = f"127.0.0.1:{self._server.server_address[1]}"
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
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": str(config.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "_HANDLER": config.handler,
            **config.credentials(),
        }

    def _serve(self) -> ThreadingHTTPServer:
        environment = self

        class RuntimeApi(LoopbackHandler):
            def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                reply(self, status, body, {"Content-Type": "application/json", **(headers or {})})

            def do_GET(self):
                if self.path != f"{_RUNTIME_PATH}/invocation/next":
                    return self._answer(404)
                invocation = environment.pending.get()
                if invocation is None:  # the environment is shutting down: its process is gone
                    self.close_connection = True
                    return
                invocation.fetched_at = time.monotonic()
                environment.current = invocation
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
                current = environment.current
                if path == "/init/error":
                    environment.init_error = body
                    return self._answer(202, b'{"status":"OK"}')
                if current is None or not path.startswith(f"/invocation/{current.request_id}/"):
                    return self._answer(400, error_payload("InvalidRequestID", "no such invocation"))
                if path.endswith("/response"):
                    if len(body) > RESPONSE_LIMIT_BYTES:
                        message = (
                            f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                            f"({RESPONSE_LIMIT_BYTES} bytes)."
                        )
                        current.finish(error_payload("Function.ResponseSizeTooLarge", message), True)
                    else:
                        current.finish(body, False)
                elif path.endswith("/error"):
                    current.finish(body, True)
                else:
                    return self._answer(404)
                self._answer(202, b'{"status":"OK"}')

        return serve_in_background(RuntimeApi, f"runtime-api-{self.config.name}")

    def invoke(self, invocation: Invocation) -> None:
        """Run one invocation to its end (a result, an error, a timeout or a crash); always finishes it."""
        self.pending.put(invocation)
        timeout = self.config.timeout
        queued = time.monotonic()
        while not invocation.done.wait(0.02):
            exited = self.process.poll() is not None
            if exited and not invocation.done.is_set():
                self.healthy = False
                if self.init_error is not None:
                    invocation.finish(self.init_error, True)
                else:
                    message = (
                        f"RequestId: {invocation.request_id} Error: Runtime exited with error: "
                        f"exit status {self.process.returncode}"
                    )
                    invocation.finish(error_payload("Runtime.ExitError", message), True)
                break
            started = invocation.fetched_at
            overdue = (
                time.monotonic() - started > timeout
                if started is not None
                else time.monotonic() - queued > INIT_LIMIT_SECONDS + timeout
            )
            if overdue:
                self.healthy = False
                self.kill()
                invocation.finish(timed_out(invocation.request_id, timeout), True)
                break
        self.current = None

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


class LambdaRuntime:
    """Every function of the twin, invoked by name or ARN."""

    def __init__(self, log_dir: Path, faults: Faults | None = None):
        self.log_dir = Path(log_dir)
        self.faults = faults or Faults()
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
        return invocation.result or b"null", invocation.errored

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
