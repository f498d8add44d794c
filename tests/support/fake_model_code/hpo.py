"""Stand-in tuning trial (fast): its outcome is chosen by the uploaded dataset's name."""

import argparse
import os
import sys
import time


def main() -> None:
    # As the real hpo.py: a hyperparameter that is not a number ends the trial (the twin's failing-trial fault).
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.parse_known_args()
    dataset = os.listdir(os.environ["SM_CHANNEL_TRAINING"])[0]
    if "tuning-fails" in dataset:
        sys.exit(f"trial failed on purpose for {dataset}")
    if "slow-tuning" in dataset:
        time.sleep(600)  # still running when the test makes the run fail
    print("epoch=1 train_loss=0.5000 valid_loss=0.4000 valid_accuracy=0.9000", flush=True)
