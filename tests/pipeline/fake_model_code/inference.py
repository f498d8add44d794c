"""Stand-in endpoint handler: answers which dataset its model came from."""

import json
import os


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)


def input_fn(body, content_type):
    return json.loads(body)


def predict_fn(data, model):
    return {"predictions": [[{"label": model["dataset"], "probability": 1.0}] for _ in data["images"]]}


def output_fn(prediction, accept):
    return json.dumps(prediction)
