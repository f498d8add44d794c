"""``python -m benchmarks`` (``make bench``): every benchmark's table, one after the other."""

from benchmarks import (
    dataset_validation,
    demo_budget,
    inference_latency,
    load_api,
    predict_proxy,
    training_throughput,
)

for benchmark in (training_throughput, inference_latency, predict_proxy, load_api, dataset_validation, demo_budget):
    benchmark.main([])
