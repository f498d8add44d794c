"""The template as written and as resolved for the local profile."""

import pytest

from local_twin.cloudformation import load_yaml
from local_twin.template import Template
from tests.support.paths import ROOT
from tests.support.template_tools import TEMPLATE


@pytest.fixture(scope="session")
def document() -> dict:
    """template.yaml as written (short tags read into their long forms)."""
    return load_yaml(TEMPLATE)


@pytest.fixture(scope="session")
def template() -> Template:
    """template.yaml with the local profile's parameters, intrinsics resolvable."""
    return Template.load(ROOT)
