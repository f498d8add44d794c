"""The small recipe the tests train with: real handwritten digits, ResNet18 from scratch, a few epochs on 2 cores."""

DIGITS_TRAINING_ARGS = [
    "--weights", "none", "--image-size", "32", "--epochs", "4", "--lr", "0.003", "--batch-size", "64",
    "--crop-scale-min", "0.6", "--hflip", "0", "--backbone-lr-factor", "1", "--workers", "0",
]  # fmt: skip
