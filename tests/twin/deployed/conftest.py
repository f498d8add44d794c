"""One twin and one deployment for every module here: the pipeline's own tests, the CLI's and the try-it page's all
need a run that trained and deployed, and that run (tuning, training, an endpoint) is the longest thing the suite
does. The twin lives while this package's tests run (package scope), so no other module's twin overlaps it."""

import pytest

from tests.support.twin_runs import PipelineRun, run_pipeline


@pytest.fixture(scope="package")
def twin(tmp_path_factory):
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("twin")) as running:
        yield running


@pytest.fixture(scope="package")
def first_run(twin, digits_zip) -> PipelineRun:
    """The first successful pipeline run: creates the endpoint the other tests see."""
    return run_pipeline(twin, digits_zip, "digits.zip")
