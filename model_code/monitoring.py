"""What the live model is compared with: the baseline its own test split gives, and how far a window of live answers
has drifted from it. Standard library only (the training job writes the baseline, the CLI reads it).

The baseline (metadata.json's ``baseline``) is what the exported model answered on the TEST split, which it never
trained or was selected on: how many images fell in each tenth of top-1 probability, and how many it labelled as
each class. Drift is the population stability index (PSI) of a live distribution against the baseline's:
sum over bins of (live share - baseline share) * ln(live share / baseline share). By the usual reading, below 0.1
the population is stable, 0.1 to 0.25 has shifted moderately, above 0.25 has shifted a lot.

Two samples of one population differ by chance too: their PSI is about (bins - 1) * (1/n + 1/m). So the breeds are
compared as the baseline's CLASS_GROUPS most predicted ones and "other" (133 breeds would read as a shift on a few
hundred images), and a window of fewer than MIN_IMAGES images gets no verdict.
"""

import math
from collections.abc import Sequence

CONFIDENCE_BINS = 10  # tenths of top-1 probability: [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]
EMPTY_SHARE = 1e-4  # a bin with no sample counts as this share (PSI's logarithm needs both shares above 0)
STABLE_BELOW, MODERATE_BELOW = 0.1, 0.25
CLASS_GROUPS = 20
MIN_IMAGES = 100
OTHER = "other"
TOO_FEW = "too few images to judge"


def confidence_bin(probability: float) -> int:
    """The tenth of [0, 1] a top-1 probability falls in (1.0 in the last)."""
    return min(int(probability * CONFIDENCE_BINS), CONFIDENCE_BINS - 1)


def baseline(confidence_histogram: Sequence[int], predicted_counts: Sequence[int], classes: Sequence[str]) -> dict:
    """metadata.json's ``baseline`` from a split's histogram of top-1 probability and its predicted-class counts."""
    if len(confidence_histogram) != CONFIDENCE_BINS or len(predicted_counts) != len(classes):
        raise ValueError(
            f"a baseline needs {CONFIDENCE_BINS} confidence bins and one count per class "
            f"({len(classes)}), got {len(confidence_histogram)} and {len(predicted_counts)}"
        )
    samples = int(sum(confidence_histogram))
    if samples != int(sum(predicted_counts)):
        raise ValueError("the confidence histogram and the predicted classes count different samples")
    return {
        "split": "test",
        "samples": samples,
        "confidence_histogram": [int(count) for count in confidence_histogram],
        "predicted_classes": {label: int(count) for label, count in zip(classes, predicted_counts, strict=True)},
    }


def shares(counts: Sequence[float]) -> list[float]:
    total = sum(counts)
    if total <= 0:
        raise ValueError("no sample to compare")
    return [max(count / total, EMPTY_SHARE) for count in counts]


def population_stability_index(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of ``actual`` counts against ``expected`` counts over the same bins."""
    if len(expected) != len(actual):
        raise ValueError(f"the distributions have {len(expected)} and {len(actual)} bins")
    return sum((a - e) * math.log(a / e) for e, a in zip(shares(expected), shares(actual), strict=True))


def grouped_classes(baseline_counts: dict[str, int], live_counts: dict[str, int]) -> dict[str, tuple[int, int]]:
    """label -> (baseline count, live count) for the baseline's CLASS_GROUPS most predicted classes, the rest as
    OTHER (a class the baseline never predicted included)."""
    kept = sorted(baseline_counts, key=lambda label: (-baseline_counts[label], label))[:CLASS_GROUPS]
    groups = {label: (baseline_counts[label], live_counts.get(label, 0)) for label in kept}
    rest = set(baseline_counts) | set(live_counts)
    rest -= set(kept)
    if rest:
        groups[OTHER] = (
            sum(baseline_counts.get(label, 0) for label in rest),
            sum(live_counts.get(label, 0) for label in rest),
        )
    return groups


def drift_verdict(psi: float, images: int = MIN_IMAGES) -> str:
    if images < MIN_IMAGES:
        return TOO_FEW
    if psi < STABLE_BELOW:
        return "stable"
    return "moderate shift" if psi < MODERATE_BELOW else "major shift"
