"""`dogbreeds monitor`: is what the live model sees still like what it was tested on?

SageMaker Model Monitor is closed to new customers and serverless endpoints capture no data, so this reads the
API's own prediction log (functions/predict/prediction_log.py: the sampled requests under
``<prefix>records/dt=YYYY-MM-DD/``) over a window, keeps the answers of the model the endpoint serves now, and
compares two distributions with the baseline that model carries (its answers on the test split, metadata.json;
model_code/monitoring.py): the top-1 confidence by tenths, and the predicted breeds. Each gets a population
stability index and its verdict, and both are drawn side by side, baseline against live, in a PNG.
"""

import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from dogbreeds_cli.snapshot import Clients
from model_code import monitoring

MONITOR_PLOT = "monitor.png"
TOP_BREEDS_DRAWN = 15


class NoBaseline(RuntimeError):
    """The live model carries no baseline (trained before models recorded one)."""


@dataclass(frozen=True)
class LiveModel:
    endpoint: str
    model_name: str
    version: str | None  # the training job that made it (what the API's answers and the log name)
    serving_since: datetime
    baseline: dict


@dataclass(frozen=True)
class Drift:
    images: int
    requests: int
    confidence_histogram: list[int]
    predicted_classes: dict[str, int]
    confidence_psi: float
    classes_psi: float

    @property
    def verdict(self) -> str:
        return monitoring.drift_verdict(max(self.confidence_psi, self.classes_psi), self.images)


def live_model(clients: Clients, endpoint_name: str) -> LiveModel:
    """The model the endpoint serves, and the baseline in its model.tar.gz's metadata.json."""
    sagemaker = clients("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model_name = config["ProductionVariants"][0]["ModelName"]
    container = sagemaker.describe_model(ModelName=model_name)["PrimaryContainer"]
    if "ModelPackageName" in container:  # made from a registered version: its package holds the model data
        package = sagemaker.describe_model_package(ModelPackageName=container["ModelPackageName"])
        model_data = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    else:  # made directly (a stack deployed before the model registry)
        model_data = container["ModelDataUrl"]
    location = urlsplit(model_data)
    body = clients("s3").get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"]
    metadata = read_metadata(body, model_data)
    if "baseline" not in metadata:
        raise NoBaseline(f"model {model_name} carries no baseline: it was trained before models recorded one")
    since = endpoint.get("LastModifiedTime") or endpoint["CreationTime"]
    return LiveModel(endpoint_name, model_name, metadata.get("training_job"), since, metadata["baseline"])


def read_metadata(stream, where: str) -> dict:
    """metadata.json out of a streamed model.tar.gz, read up to that member only (the weights may be large)."""
    with tarfile.open(fileobj=stream, mode="r|gz") as tar:
        for member in tar:
            if member.name.removeprefix("./") == "metadata.json":
                return json.load(tar.extractfile(member))
    raise NoBaseline(f"{where} has no metadata.json: not a model this project trained")


def window_records(clients: Clients, bucket: str, prefix: str, since: datetime, until: datetime) -> list[dict]:
    """The prediction log's records written from ``since`` to ``until`` (the date folders they may be in)."""
    s3 = clients("s3")
    records, day = [], since.date()
    while day <= until.date():
        folder = f"{prefix}records/dt={day:%Y-%m-%d}/"
        # keys start with the record's time of day: on the first day, list from the window's start
        start_after = f"{folder}{since:%H%M%S}" if day == since.date() else folder
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder, StartAfter=start_after):
            for listed in page.get("Contents", []):
                record = json.loads(s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read())
                written = datetime.fromisoformat(record["time"])
                if written.tzinfo is not None and since <= written <= until:
                    records.append(record)
        day += timedelta(days=1)
    return records


def drift(model: LiveModel, records: list[dict]) -> Drift:
    """The records the live model answered, against its baseline (a record of another version is left out; one
    without a version counts when it was written after the model started serving)."""
    mine = [
        record
        for record in records
        if (model.version is not None and record.get("model") == model.version)
        or (record.get("model") is None and datetime.fromisoformat(record["time"]) >= model.serving_since)
    ]
    baseline_classes = model.baseline["predicted_classes"]
    histogram = [0] * monitoring.CONFIDENCE_BINS
    classes = dict.fromkeys(baseline_classes, 0)
    images = 0
    for record in mine:
        for image in record["images"]:
            top = image["top_k"][0]
            histogram[monitoring.confidence_bin(top["probability"])] += 1
            classes[top["label"]] = classes.get(top["label"], 0) + 1
            images += 1
    if not images:
        raise ValueError("no answer of the live model in this window: send it images (or widen --hours)")
    groups = monitoring.grouped_classes(baseline_classes, classes)
    return Drift(
        images=images,
        requests=len(mine),
        confidence_histogram=histogram,
        predicted_classes=classes,
        confidence_psi=monitoring.population_stability_index(model.baseline["confidence_histogram"], histogram),
        classes_psi=monitoring.population_stability_index(
            [test for test, _ in groups.values()], [live for _, live in groups.values()]
        ),
    )


def monitor_figure(model: LiveModel, found: Drift, hours: float):
    """Baseline against live: the top-1 confidence by tenths, and the most predicted breeds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (confidence, breeds) = plt.subplots(1, 2, figsize=(13, 4.8))
    tenths = [f"{index / 10:.1f}" for index in range(monitoring.CONFIDENCE_BINS)]
    width = 0.4
    positions = range(monitoring.CONFIDENCE_BINS)
    test_shares = monitoring.shares(model.baseline["confidence_histogram"])
    live_shares = monitoring.shares(found.confidence_histogram)
    confidence.bar([p - width / 2 for p in positions], test_shares, width, label="test split")
    confidence.bar([p + width / 2 for p in positions], live_shares, width, label=f"live, last {hours:g} h")
    confidence.set_xticks(list(positions), tenths)
    confidence.set_xlabel("top-1 probability (from)")
    confidence.set_ylabel("share of images")
    confidence.set_title(f"confidence: PSI {found.confidence_psi:.3f}")
    confidence.legend()

    groups = monitoring.grouped_classes(model.baseline["predicted_classes"], found.predicted_classes)
    labels = list(groups)
    test = dict(zip(labels, monitoring.shares([test for test, _ in groups.values()]), strict=True))
    live = dict(zip(labels, monitoring.shares([live for _, live in groups.values()]), strict=True))
    drawn = sorted(labels, key=lambda name: -max(test[name], live[name]))[:TOP_BREEDS_DRAWN]
    rows = range(len(drawn))
    breeds.barh([r - width / 2 for r in rows], [test[n] for n in drawn], width, label="test split")
    breeds.barh([r + width / 2 for r in rows], [live[n] for n in drawn], width, label="live")
    breeds.set_yticks(list(rows), drawn)
    breeds.invert_yaxis()
    breeds.set_xlabel("share of images")
    breeds.set_title(f"predicted breeds: PSI {found.classes_psi:.3f}")
    figure.suptitle(f"{model.endpoint} ({model.version or model.model_name}): {found.verdict}, {found.images} images")
    figure.tight_layout()
    return figure


def write_monitor_plot(model: LiveModel, found: Drift, hours: float, out: Path) -> Path:
    from matplotlib import pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    figure = monitor_figure(model, found, hours)
    path = out / MONITOR_PLOT
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def now() -> datetime:
    return datetime.now(UTC)
