"""The small recipe the tests train with: real handwritten digits, ResNet18 from scratch, a few epochs on 2 cores."""

DIGITS_TRAINING_ARGS = [
    "--weights", "none", "--image-size", "32", "--epochs", "4", "--lr", "0.003", "--batch-size", "64",
    "--crop-scale-min", "0.6", "--hflip", "0", "--backbone-lr-factor", "1", "--workers", "0",
]  # fmt: skip

# The colour-square datasets of tests/model (tiny images, from scratch): the fastest real training there is.
COLOUR_ARGS = [
    "--weights",
    "none",
    "--image-size",
    "16",
    "--epochs",
    "2",
    "--lr",
    "0.01",
    "--batch-size",
    "8",
    "--crop-scale-min",
    "0.5",
    "--backbone-lr-factor",
    "1",
    "--workers",
    "0",
    "--warmup-epochs",
    "0",
]
