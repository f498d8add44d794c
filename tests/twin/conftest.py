"""What the twin tests share: the digits dataset as the zip a user uploads. (The modules that need one deployed twin
live in deployed/, which owns it; the others start twins of their own.)"""

from pathlib import Path

import pytest

from local_twin.digits import zip_dataset


@pytest.fixture(scope="session")
def digits_zip(digits_dataset, tmp_path_factory) -> Path:
    root, _ = digits_dataset
    return zip_dataset(root, tmp_path_factory.mktemp("upload") / "digits.zip")
