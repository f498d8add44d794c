"""The model code's sourcedir.tar.gz (common/sourcedir.py), which StartTuning and StartTraining upload."""

import io

import pytest


def test_sourcedir_is_reproducible(tmp_path):
    from common import sourcedir

    (tmp_path / "hpo.py").write_text("print('hi')\n")
    (tmp_path / "train_model.py").write_text("print('hi')\n")
    (tmp_path / "requirements.txt").write_text("pandas<3\n")
    (tmp_path / "Makefile").write_text("not shipped\n")
    first, second = sourcedir.build_archive(tmp_path), sourcedir.build_archive(tmp_path)
    assert first == second
    (tmp_path / "hpo.py").write_text("print('changed')\n")
    assert sourcedir.build_archive(tmp_path)[0] != first[0]
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(first[1])) as archive:
        # the package beside the scripts the training toolkit runs, and the requirements it installs
        assert archive.getnames() == [
            "hpo.py", "model_code/hpo.py", "model_code/train_model.py", "requirements.txt", "train_model.py"
        ]  # fmt: skip
        entry = archive.extractfile("hpo.py").read().decode()
    assert "from model_code.hpo import main" in entry


def test_sourcedir_needs_both_training_scripts(tmp_path):
    from common import sourcedir

    (tmp_path / "hpo.py").write_text("print('hi')\n")
    with pytest.raises(FileNotFoundError, match=r"train_model\.py"):
        sourcedir.build_archive(tmp_path)
