"""``python -m local_twin demo|up``: the pipeline end to end on one machine, or the twin kept serving."""

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

from local_twin.demo import run_demo
from local_twin.sagemaker.quotas import PRESETS
from local_twin.twin import DEFAULT_WORKDIR, Twin


def serve(args: argparse.Namespace) -> int:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with Twin(workdir=args.workdir, account=args.account) as twin:
        prefix = twin.upload_prefix
        route = twin.template.api().routes[0]
        connection_file = args.workdir / "up.json"
        connection_file.write_text(json.dumps(twin.connection(), indent=1))
        print(
            f"S3 endpoint  {twin.moto.url}\n"
            f"bucket       {twin.aws.bucket}\n"
            f"upload to    s3://{twin.aws.bucket}/{prefix}\n"
            f"SageMaker    {twin.sagemaker.url}\n"
            f"model group  {twin.model_package_group}\n"
            f"API URL      {twin.api.url}{route.path}\n"
            f"API key      {twin.api.api_key}\n"
            f"\n  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={twin.region} \\\n"
            f"    aws --endpoint-url {twin.moto.url} s3 cp my.zip s3://{twin.aws.bucket}/{prefix}\n"
            f"  curl --data-binary @img.jpg -H 'Content-Type: image/jpeg' -H 'x-api-key: {twin.api.api_key}' "
            f"{twin.api.url}{route.path}\n"
            f"  try-it page: {twin.api.url}/ (paste the API key above)\n"
            f"  dogbreeds --twin {connection_file} watch      # follow the newest run live; also: runs, predict IMG\n"
            f"  dogbreeds --twin {connection_file} doctor     # the modelled account's quotas ({args.account})\n"
            f"\nserving; Ctrl-C stops everything.",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_twin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="digits through the whole pipeline, then a prediction over HTTP")
    up = commands.add_parser("up", help="start the twin and keep it serving")
    up.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    up.add_argument(
        "--account",
        choices=PRESETS,
        default="default",
        help="the modelled account's SageMaker quotas: default (enough for every run) or new-account (as new accounts "
        "report them: most instance quotas 0)",
    )
    args = parser.parse_args(argv)
    if args.command == "up":
        return serve(args)
    # SIGTERM unwinds like Ctrl-C, so the twin stops its training and serving subprocesses
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())
