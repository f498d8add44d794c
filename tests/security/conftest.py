"""The network refused, and the endpoint's code with a model loaded as the container runs it."""

import socket
import threading
from pathlib import Path

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Connections and DNS lookups from this test's thread are refused and recorded."""
    attempts = []
    test_thread = threading.get_ident()

    def guarded(original, what):
        def refuse(*args, **kwargs):
            if threading.get_ident() != test_thread:  # another thread's (a running twin's) traffic
                return original(*args, **kwargs)
            attempts.append((what, args[1:] if what != "getaddrinfo" else args))
            raise ConnectionRefusedError(f"{what} refused: this code must not touch the network")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect, "connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex, "connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", guarded(socket.getaddrinfo, "getaddrinfo"))
    return attempts


@pytest.fixture(scope="package")
def untrained_model(tmp_path_factory) -> Path:
    from local_twin.serving import untrained_model_dir

    return untrained_model_dir(tmp_path_factory.mktemp("security-model"), ["Beagle", "Poodle"], image_size=32)


@pytest.fixture
def endpoint_handler(untrained_model, no_network):
    """model_code/inference.py with a model loaded, as the container runs it (loading itself is guarded too)."""
    from model_code import inference

    return inference, inference.model_fn(str(untrained_model))
