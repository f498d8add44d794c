"""Where the twin meets moto: only local_twin/moto_seam.py touches moto's internals, and what keeps the twin one
per process (docs/local_twin.md, "Known differences from AWS") is moto's own in-process state."""

import ast
from pathlib import Path

import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from local_twin.moto_stack import client

pytestmark = pytest.mark.enable_socket  # moto servers on loopback

LOCAL_TWIN = Path(__file__).resolve().parents[2] / "local_twin"
# moto's public API the rest of the twin may import: its server (everything else goes over HTTP to it)
PUBLIC = {"moto.moto_server.threaded_moto_server"}


def moto_imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {module for module in modules if module == "moto" or module.startswith("moto.")}


def test_only_the_seam_imports_moto_beyond_its_server():
    beyond = {
        str(path.relative_to(LOCAL_TWIN)): sorted(moto_imports(path) - PUBLIC)
        for path in LOCAL_TWIN.rglob("*.py")
        if path.name != "moto_seam.py" and moto_imports(path) - PUBLIC
    }
    assert beyond == {}


def test_moto_servers_in_one_process_share_their_state():
    """Why two twins cannot share a process: a bucket made through one moto server is listed by another. When this
    fails, moto keeps state per server and the twin could lift its one-per-process rule."""
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False) for _ in range(2)]
    for server in servers:
        server.start()
    urls = ["http://{}:{}".format(*server.get_host_and_port()) for server in servers]
    first, second = (client("s3", url, "us-east-1") for url in urls)
    try:
        first.create_bucket(Bucket="made-through-the-first-server")
        assert "made-through-the-first-server" in [bucket["Name"] for bucket in second.list_buckets()["Buckets"]]
    finally:
        first.delete_bucket(Bucket="made-through-the-first-server")
        for server in servers:
            server.stop()
