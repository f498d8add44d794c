"""Inference: model_code/inference.py from JPEG bytes to JSON vs the bare model forward (224 px).

Goal: a single image costs <= 1.2x the bare forward on an already preprocessed tensor.
"""

import argparse
import io
import tempfile
from pathlib import Path

from benchmarks.common import interleaved, median, percentile, print_table


def dog_sized_jpeg(seed: int) -> bytes:
    """A photo-like 500x375 JPEG (the dog dataset's typical size) with smooth gradients and noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, 500)[None, :, None]
    y = np.linspace(0, 1, 375)[:, None, None]
    base = np.concatenate([x * 200 + 30 + 0 * y, y * 180 + 40 + 0 * x, (x + y) * 90 + 20], axis=2)
    pixels = np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args(argv)

    import base64
    import json

    import torch

    from model_code import dogbreeds, inference

    with tempfile.TemporaryDirectory() as tmp:
        model = dogbreeds.build_model(133, weights="none")
        classes = [f"Breed {i}" for i in range(133)]
        dogbreeds.save_artifacts(Path(tmp), model, classes, {"image_size": 224, "architecture": "resnet18"})
        predictor = inference.model_fn(tmp)

    images = [dog_sized_jpeg(seed) for seed in range(8)]
    single_tensor = predictor.transform(dogbreeds.load_rgb(images[0])).unsqueeze(0)
    batch_tensor = torch.stack([predictor.transform(dogbreeds.load_rgb(image)) for image in images])
    batch_json = json.dumps({"images": [base64.b64encode(image).decode() for image in images]})

    def handle(body, content_type):
        prediction = inference.predict_fn(inference.input_fn(body, content_type), predictor)
        return inference.output_fn(prediction, "application/json")

    def bare(tensor):
        with torch.inference_mode():
            return predictor.model(tensor)

    cases = {
        ("single", "bare forward"): lambda: bare(single_tensor),
        ("single", "inference.py JPEG -> JSON"): lambda: handle(images[0], "image/jpeg"),
        ("batch of 8", "bare forward"): lambda: bare(batch_tensor),
        ("batch of 8", "inference.py JSON -> JSON"): lambda: handle(batch_json, "application/json"),
    }
    results = interleaved(cases, args.repeats)
    rows = []
    for (size, what), samples in results.items():
        ratio = median(samples) / median(results[(size, "bare forward")])
        rows.append([size, what, median(samples) * 1000, percentile(samples, 99) * 1000, ratio])
    print_table(
        f"Inference at 224 px, {args.repeats} runs each (goal: single image <= 1.2x the bare forward)",
        ["images", "path", "p50 ms", "p99 ms", "x bare forward (p50)"],
        rows,
    )


if __name__ == "__main__":
    main()
