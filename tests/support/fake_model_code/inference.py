"""Stand-in endpoint handler: answers which dataset its model came from.

Its contract is inference.py's: a raw image is answered with one ranking, a JSON batch with one per image.
"""

import json
import os


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)


def input_fn(body, content_type):
    return json.loads(body) if content_type == "application/json" else None


def predict_fn(data, model):
    ranking = [{"label": model["dataset"], "probability": 1.0}]
    return {"predictions": ranking if data is None else [ranking for _ in data["images"]]}


def output_fn(prediction, accept):
    return json.dumps(prediction)
