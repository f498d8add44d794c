"""The twin's Lambda runtime (local_twin/lambda_runtime.py): AWS's runtime interface client in a process per
execution environment, as Lambda runs Python. Stand-in handlers: tests/twin/runtime_probe/."""

import http.client
import json
import math
import os
import re
import threading
from pathlib import Path

import pytest

from local_twin.account import ACCOUNT_ID
from local_twin.lambda_runtime import (
    PAYLOAD_LIMIT_BYTES,
    FunctionConfig,
    Invocation,
    LambdaRuntime,
    RequestTooLarge,
    Throttled,
)

pytestmark = pytest.mark.enable_socket  # the Runtime API on loopback

PROBE = Path(__file__).with_name("runtime_probe")
VARIABLES: dict[str, dict[str, str]] = {}  # a test's reconfiguration of a function, by name
SESSION = {"AWS_ACCESS_KEY_ID": "ASIAPROBE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}


@pytest.fixture
def runtime(tmp_path):
    running = LambdaRuntime(tmp_path / "logs")
    yield running
    running.stop()


def register(runtime, name: str, handler: str, timeout: int = 10, concurrency: int = 10) -> str:
    runtime.register(
        FunctionConfig(
            name=name,
            arn=f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{name}",
            handler=handler,
            code_dir=PROBE,
            layer_dirs=[],
            runtime="python3.12",
            timeout=timeout,
            memory=256,
            environment={"AWS_REGION": "eu-west-1"},
            credentials=lambda: dict(SESSION),
            variables=lambda: dict(VARIABLES.get(name, {"TEMPLATE_VARIABLE": "from-template"})),
            concurrency=concurrency,
        )
    )
    return name


def invoke(runtime, name: str, event: dict) -> tuple[object, bool]:
    payload, errored = runtime.invoke(name, json.dumps(event).encode())
    return json.loads(payload), errored


def test_a_function_runs_in_its_own_process_with_lambdas_environment_and_context(runtime):
    os.environ["TWIN_PROCESS_ONLY"] = "leaks"
    try:
        name = register(runtime, "probe-describe", "probe.describe", timeout=7)
        seen, errored = invoke(runtime, name, {"x": 1})
    finally:
        del os.environ["TWIN_PROCESS_ONLY"]
    assert not errored, seen
    assert seen["pid"] != os.getpid()
    assert seen["environment"] == {
        "AWS_LAMBDA_FUNCTION_NAME": "probe-describe",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "LAMBDA_TASK_ROOT": str(PROBE),
        "AWS_ACCESS_KEY_ID": "ASIAPROBE",  # the role's session, not the twin's credentials
        "AWS_SESSION_TOKEN": "token",
        "AWS_REGION": "eu-west-1",
        "TEMPLATE_VARIABLE": "from-template",
        "TWIN_PROCESS_ONLY": None,  # nothing of the twin's own environment reaches the function
    }
    assert seen["function_name"] == "probe-describe" and seen["event"] == {"x": 1}
    assert 0 < seen["remaining_ms"] <= 7000


def test_a_warm_environment_is_reused(runtime):
    name = register(runtime, "probe-warm", "probe.describe")
    first, _ = invoke(runtime, name, {})
    second, _ = invoke(runtime, name, {})
    assert first["pid"] == second["pid"] and first["request_id"] != second["request_id"]
    assert runtime.pool(name).started == 1


def test_a_reconfigured_function_gets_new_environments_with_its_new_variables(runtime):
    name = register(runtime, "probe-reconfigured", "probe.describe")
    before, _ = invoke(runtime, name, {})
    VARIABLES[name] = {"TEMPLATE_VARIABLE": "updated"}  # as UpdateFunctionConfiguration would
    try:
        after, _ = invoke(runtime, name, {})
    finally:
        del VARIABLES[name]
    assert before["environment"]["TEMPLATE_VARIABLE"] == "from-template"
    assert after["environment"]["TEMPLATE_VARIABLE"] == "updated" and after["pid"] != before["pid"]
    assert runtime.pool(name).environments == 1  # the stale one was stopped


def test_two_concurrent_invocations_run_in_two_environments(runtime):
    name = register(runtime, "probe-concurrent", "probe.describe")
    results = []
    calls = [threading.Thread(target=lambda: results.append(invoke(runtime, name, {"sleep": 1.5}))) for _ in range(2)]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    assert {errored for _, errored in results} == {False}
    assert len({seen["pid"] for seen, _ in results}) == 2
    assert runtime.pool(name).started == 2 and runtime.pool(name).environments == 2


def test_past_its_concurrency_a_synchronous_call_is_throttled(runtime):
    name = register(runtime, "probe-throttled", "probe.sleep", concurrency=1)
    busy = threading.Thread(target=lambda: invoke(runtime, name, {"seconds": 2}))
    busy.start()
    try:
        while runtime.pool(name).environments == 0:
            threading.Event().wait(0.05)
        with pytest.raises(Throttled, match="Rate Exceeded"):
            invoke(runtime, name, {"seconds": 0})
    finally:
        busy.join()


def test_a_handler_that_outlives_its_timeout_is_killed_with_lambdas_error(runtime):
    name = register(runtime, "probe-timeout", "probe.sleep", timeout=1)
    payload, errored = invoke(runtime, name, {"seconds": 30})
    assert errored
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert runtime.pool(name).environments == 0  # the killed environment is gone: the next call starts anew
    again, _ = invoke(runtime, name, {"seconds": 0})
    assert again == "woke up" and runtime.pool(name).started == 2


def test_an_exception_is_the_functions_error_and_the_environment_stays_warm(runtime):
    name = register(runtime, "probe-fail", "probe.fail")
    payload, errored = invoke(runtime, name, {"value": 7})
    assert errored
    assert (payload["errorType"], payload["errorMessage"]) == ("ValueError", "bad input: 7")
    invoke(runtime, name, {"value": 8})
    assert runtime.pool(name).started == 1


def test_a_module_that_fails_at_import_gets_lambdas_init_error(runtime):
    name = register(runtime, "probe-broken", "broken_at_import.handler")
    payload, errored = invoke(runtime, name, {})
    assert errored
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"] == (
        "Unable to import module 'broken_at_import': No module named 'module_that_is_not_installed'"
    )


def test_a_process_that_exits_mid_invocation_is_a_runtime_exit_error(runtime):
    name = register(runtime, "probe-exit", "probe.exit_process")
    payload, errored = invoke(runtime, name, {})
    assert errored and payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Runtime exited with error: exit status 3")


def test_a_request_over_lambdas_synchronous_limit_is_refused(runtime):
    name = register(runtime, "probe-large", "probe.describe")
    with pytest.raises(RequestTooLarge, match=str(PAYLOAD_LIMIT_BYTES)):
        runtime.invoke(name, b'"' + b"x" * PAYLOAD_LIMIT_BYTES + b'"')


def test_each_functions_output_is_in_its_log(runtime, tmp_path):
    name = register(runtime, "probe-logged", "probe.fail")
    invoke(runtime, name, {"value": "logged"})
    assert "bad input: logged" in (tmp_path / "logs" / "probe-logged.log").read_text()


def post(runtime_api: str, path: str, body: bytes) -> tuple[int, bytes]:
    """What the Runtime API answers the runtime's POST (status, body)."""
    host, port = runtime_api.split(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        connection.request("POST", f"/2018-06-01/runtime{path}", body)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_a_second_answer_for_an_invocation_is_refused_as_the_emulator_refuses_it_and_the_first_stands(
    runtime, tmp_path
):
    name = register(runtime, "probe-answered-twice", "probe.wait_for_word")
    fifo = tmp_path / "word"
    os.mkfifo(fifo)
    pool = runtime.pool(name)
    environment = pool.acquire(wait=False)
    invocation = Invocation(json.dumps({"fifo": str(fifo)}).encode())
    invoker = threading.Thread(target=environment.invoke, args=(invocation,))
    invoker.start()
    try:
        with fifo.open("w") as word:  # opens once the handler has the invocation and waits on the FIFO
            answers = {
                "first": post(environment.runtime_api, f"/invocation/{invocation.request_id}/response", b'"first"'),
                "again": post(environment.runtime_api, f"/invocation/{invocation.request_id}/response", b'"again"'),
                "error": post(environment.runtime_api, f"/invocation/{invocation.request_id}/error", b"{}"),
                "unknown": post(environment.runtime_api, "/invocation/not-an-invocation/response", b'"late"'),
            }
            invoker.join()  # the first answer ended the invocation
            word.write("the handler's own answer")  # the runtime's answer, after the first: refused too
    finally:
        invoker.join()
        pool.release(environment)
    # Byte for byte what aws-lambda-runtime-interface-emulator answers (internal/lambda/rapi/router_test.go:
    # TestInvokeResponseTwice, TestInvokeErrorResponseAfterResponse, TestInvokeResponseInvalidRequestID).
    assert answers == {
        "first": (202, b'{"status":"OK"}\n'),
        "again": (
            403,
            b'{"errorMessage":"State transition from RuntimeResponseSentState to InvocationResponse failed for '
            b'runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}\n',
        ),
        "error": (
            403,
            b'{"errorMessage":"State transition from RuntimeResponseSentState to InvocationErrorResponse failed '
            b'for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}\n',
        ),
        "unknown": (400, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n'),
    }
    assert (invocation.result, invocation.errored) == (b'"first"', False)


def test_each_invocation_logs_lambdas_start_end_and_report_lines(runtime, tmp_path):
    name = register(runtime, "probe-reported", "probe.describe")
    cold, _ = invoke(runtime, name, {})
    warm, _ = invoke(runtime, name, {})
    log = (tmp_path / "logs" / "probe-reported.log").read_text()
    number = r"(\d+\.\d\d)"
    reports = []
    for seen, init in ((cold, rf"\tInit Duration: {number} ms"), (warm, "")):
        request_id = re.escape(seen["request_id"])
        assert re.search(rf"^START RequestId: {request_id} Version: \$LATEST$", log, re.MULTILINE)
        assert re.search(rf"^END RequestId: {request_id}$", log, re.MULTILINE)
        report = re.search(
            rf"^REPORT RequestId: {request_id}\tDuration: {number} ms\tBilled Duration: (\d+) ms"
            rf"\tMemory Size: 256 MB\tMax Memory Used: (\d+) MB{init}$",
            log,
            re.MULTILINE,
        )
        assert report, log
        reports.append(report)
    cold_report, warm_report = reports
    duration, billed, used, init = cold_report.groups()
    assert math.ceil(float(duration) + float(init)) in (int(billed), int(billed) - 1)  # the printed values rounded
    assert int(used) > 5  # an interpreter with awslambdaric loaded: the process's own peak, not a placeholder
    assert int(warm_report.group(3)) >= int(used)  # the environment's peak so far, as Lambda reports it
    assert log.index(f"START RequestId: {cold['request_id']}") < log.index(f"END RequestId: {cold['request_id']}")


def test_the_invoker_is_woken_when_the_runtime_answers_instead_of_polling(runtime, monkeypatch):
    name = register(runtime, "probe-woken", "probe.sleep")
    pool = runtime.pool(name)
    environment = pool.acquire(wait=False)
    waits = []
    wait = environment.changed.wait
    monkeypatch.setattr(environment.changed, "wait", lambda timeout=None: waits.append(timeout) or wait(timeout))
    invocation = Invocation(json.dumps({"seconds": 1}).encode())
    try:
        environment.invoke(invocation)
    finally:
        pool.release(environment)
    assert invocation.result == b'"woke up"'
    # Woken when the runtime takes the invocation and when it answers: a poll every few ms would wait dozens of times.
    assert 1 <= len(waits) <= 3, waits


def test_the_runtime_hands_the_log_over_after_each_invocation_with_the_records_written(runtime):
    read = []
    runtime.read_log = lambda path: read.append([json.loads(line) for line in path.read_text().splitlines()
                                                 if line.startswith("{")])  # fmt: skip
    name = register(runtime, "probe-metrics", "probe.count_metric")
    for value in (2, 5):
        assert invoke(runtime, name, {"value": value}) == ("counted", False)
    assert [[record["Seen"] for record in records] for records in read] == [[[2.0]], [[2.0], [5.0]]]
