"""The per-thread environment the twin's Lambda calls use (local_twin/environ.py)."""

import os
import threading

from local_twin import environ


def test_a_functions_variables_stay_in_its_thread():
    overlaid = environ.install()
    seen = {}

    def elsewhere():
        seen["other thread"] = os.environ.get("TWIN_TEST_FUNCTION_VARIABLE")

    with overlaid.overlay({"TWIN_TEST_FUNCTION_VARIABLE": "inside"}):
        other = threading.Thread(target=elsewhere)
        other.start()
        other.join()
        seen["own thread"] = os.getenv("TWIN_TEST_FUNCTION_VARIABLE")
        os.environ["TWIN_TEST_WRITTEN_BY_HANDLER"] = "x"
    assert seen == {"other thread": None, "own thread": "inside"}
    assert "TWIN_TEST_FUNCTION_VARIABLE" not in os.environ and "TWIN_TEST_WRITTEN_BY_HANDLER" not in os.environ
    assert os.environ["PATH"]  # the process environment reads through


def test_readers_never_see_a_half_swapped_environment():
    """What broke the twin before: a thread iterating os.environ while calls swapped it (KeyError in botocore)."""
    overlaid = environ.install()
    errors, stop = [], threading.Event()

    def swap_like_lambda_calls():
        for round_number in range(2000):
            with overlaid.overlay({f"TWIN_TEST_CALL_{round_number % 7}": "1", "AWS_LAMBDA_FUNCTION_NAME": "f"}):
                pass
        stop.set()

    def read_like_botocore():
        while not stop.is_set():
            try:
                dict(os.environ.items())
            except (KeyError, RuntimeError) as error:
                errors.append(error)

    threads = [threading.Thread(target=swap_like_lambda_calls), threading.Thread(target=read_like_botocore)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ
