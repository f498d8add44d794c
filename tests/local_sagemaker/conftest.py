"""A moto S3 and a local SageMaker on loopback, with tiny fake model code (fast, no torch)."""

import json

import pytest
import requests
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from local_twin.faults import Faults
from local_twin.moto_stack import client
from local_twin.sagemaker import LocalSageMaker
from tests.support.local_sagemaker import BUCKET, ROLE, sourcedir


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = client("s3", url, "us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=sourcedir())
    s3.put_object(Bucket=BUCKET, Key="datasets/dataset.zip", Body=b"PK fake zip")
    trust = {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    client("iam", url, "us-east-1").create_role(  # SageMaker refuses a role it cannot assume
        RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps({"Statement": [trust]})
    )
    yield url
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()  # moto's state is per process
    server.stop()


@pytest.fixture(scope="module")
def local_sagemaker(moto_url, tmp_path_factory):
    faults = Faults()
    service = LocalSageMaker(tmp_path_factory.mktemp("sagemaker"), moto_url, faults=faults)
    url = service.start()
    yield service, client("sagemaker", url, "us-east-1"), client("sagemaker-runtime", url, "us-east-1")
    service.stop()
