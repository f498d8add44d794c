"""Stand-in tuning trial (fast): its outcome is chosen by the uploaded dataset's name."""

import os
import sys

dataset = os.listdir(os.environ["SM_CHANNEL_TRAINING"])[0]
if "tuning-fails" in dataset:
    sys.exit(f"trial failed on purpose for {dataset}")
print("epoch=1 train_loss=0.5000 valid_loss=0.4000 valid_accuracy=0.9000", flush=True)
