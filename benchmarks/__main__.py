"""``python -m benchmarks`` (``make bench``): every benchmark's table, one after the other."""

from benchmarks import inference_latency, training_throughput

for benchmark in (training_throughput, inference_latency):
    benchmark.main([])
