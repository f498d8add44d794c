"""The PyTorch inference image's entry point for ``serve``, as the local SageMaker starts it.

The image (aws/deep-learning-containers, pytorch/inference/docker/build_artifacts/torchserve-entrypoint.py) sets
``SAGEMAKER_MODEL_SERVER_WORKERS`` to the CPU count and calls ``sagemaker_pytorch_serving_container.serving.main()``:
the SageMaker PyTorch inference toolkit writes TorchServe's configuration, starts TorchServe (its Java frontend,
which starts one Python worker per model server worker, each running the toolkit's handler over the model's
``code/inference.py``) and waits on it. This module does exactly that, in the inference image's stand-in
(``.venv-inference-image``: standard library and the image's packages only, never the project's).

It is the one place where the twin's start differs from the image's, because several servers share this machine
(the image has a container each). What the toolkit reads from the environment is set by the caller
(local_twin/sagemaker/endpoints.py): ``SAGEMAKER_BASE_DIR`` (the model in ``$SAGEMAKER_BASE_DIR/model``, /opt/ml
in the image), ``SAGEMAKER_BIND_TO_PORT``, ``TMPDIR`` (TorchServe's pid file) and ``TEMP`` (Java's temp folder),
TorchServe's ``TS_*`` settings for the ports the toolkit leaves at TorchServe's defaults, and the working folder
(the toolkit's model store ``.sagemaker/ts/models`` and TorchServe's ``logs/``). Two things are constants in the
toolkit, patched here:

- ``torchserve.TS_CONFIG_FILE``: ``/etc/sagemaker-ts.properties`` in the image; here in the working folder.
- ``torchserve._retrieve_ts_server_process``: the image's looks for the one TorchServe on the machine and fails
  if there are more ("multiple ts model servers are not supported"); here it looks for the one in this process's
  process group (TorchServe's launcher starts Java in the caller's group), so other endpoints' servers are not
  seen.

    python -P serving_entrypoint.py serve
"""

import multiprocessing
import os
import sys

import psutil
from retrying import retry
from sagemaker_pytorch_serving_container import serving, torchserve


@retry(stop_max_delay=10 * 1000)  # the toolkit's own retry
def _this_servers_torchserve() -> psutil.Process:
    group = os.getpgrp()
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE or os.getpgid(process.pid) != group:
                continue
            if torchserve.TS_NAMESPACE in process.cmdline():
                found.append(process)
        except (psutil.Error, ProcessLookupError):
            continue
    if len(found) != 1:
        raise Exception(f"{len(found)} TorchServe processes in this server's process group, expected 1")
    return found[0]


def main() -> None:
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: serving_entrypoint.py serve")
    os.environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(multiprocessing.cpu_count())  # as the image's entry point
    torchserve.TS_CONFIG_FILE = os.path.join(os.getcwd(), "sagemaker-ts.properties")
    torchserve._retrieve_ts_server_process = _this_servers_torchserve
    serving.main()


if __name__ == "__main__":
    main()
