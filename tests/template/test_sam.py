"""The SAM CLI's own checks: cfn-lint (`sam validate --lint`), the SAM transform (`sam validate`), `sam build`."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local_twin.template import Template
from tests.support import code_scan
from tests.support.paths import ROOT
from tests.support.template_tools import SAM, TOOL_ENV, functions_of, handler_folder, run_tool, tool

BUILD_DIR = ROOT / ".aws-sam" / "test-build"
CACHE_DIR = ROOT / ".aws-sam" / "test-cache"  # kept between runs: `--cached` reuses unchanged builds
# What the builds may run: this Python (not the runtime's 3.12) as python/python3, and the Makefiles' tools
BUILD_TOOLS = ("make", "cp", "mkdir", "find", "rm", "sh")


def test_cfn_lint_passes():
    result = run_tool(tool(SAM), "validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_transform_accepts_the_template():
    result = run_tool(tool(SAM), "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


@pytest.mark.parametrize(
    ("authorizer", "security", "page_security"),
    [("NONE", [{"api_key": []}], []), ("AWS_IAM", [{"AWS_IAM": []}, {"api_key": []}], [{"AWS_IAM": []}])],
)
def test_api_authorizer_parameter_reaches_the_method(authorizer, security, page_security):
    """SAM's transform (the one the twin runs: aws-sam-translator) for other parameter values than the profile's;
    `sam validate` transforms with the defaults only."""
    overrides = {"ApiAuthorizer": authorizer, "ApiThrottleRateLimit": "7", "ApiThrottleBurstLimit": "9"}
    template = Template.load(ROOT, overrides=overrides)
    resources = template.resources
    body = template.resolve(resources["PredictApi"]["Properties"]["Body"])
    assert body["paths"]["/predict"]["post"]["security"] == security
    # the try-it page needs no key (and, with a key-only API, nothing at all)
    assert body["paths"]["/"]["get"]["security"] == page_security
    # the browser's preflight carries neither key nor signature: API Gateway's mock answers it, unauthenticated
    preflight = body["paths"]["/predict"]["options"]
    assert "security" not in preflight and preflight["x-amazon-apigateway-integration"]["type"] == "mock"
    headers = preflight["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
    assert headers["method.response.header.Access-Control-Allow-Methods"] == "'POST,OPTIONS'"
    throttle = template.resolve(resources["PredictApiUsagePlan"]["Properties"]["Throttle"])
    assert (int(throttle["RateLimit"]), int(throttle["BurstLimit"])) == (7, 9)
    # and the twin's API front reads the key and the throttle from there
    api = template.api()
    assert {(route.method, route.path): route.api_key_required for route in api.routes} == {
        ("POST", "/predict"): True,
        ("GET", "/"): False,
    }
    assert (api.usage_plan.rate_limit, api.usage_plan.burst_limit) == (7.0, 9)


def only_this_python(folder: Path) -> str:
    """A PATH with this interpreter as the only Python (no pyenv shims, no python3.12 or python3.13)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        (folder / name).symlink_to(sys.executable)
    for name in BUILD_TOOLS:
        (folder / name).symlink_to(shutil.which(name))
    return str(folder)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> dict:
    """`sam build` of every function and the layer, with only the project's Python; returns the built template."""
    path = only_this_python(tmp_path_factory.mktemp("bin"))
    for other in ("python3.12", "python3.13"):
        assert shutil.which(other, path=path) is None
    result = subprocess.run(
        [
            str(tool(SAM)),
            "build",
            "--build-dir",
            str(BUILD_DIR),
            "--cache-dir",
            str(CACHE_DIR),
            "--cached",
            "--parallel",
        ],
        cwd=ROOT,
        env={**TOOL_ENV, "PATH": path},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Build Succeeded" in result.stdout
    built = run_tool(
        sys.executable,
        "-c",
        "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        BUILD_DIR / "template.yaml",
    )
    return json.loads(built.stdout)


@pytest.mark.slow
def test_every_function_is_built_with_its_handler_and_the_shared_code(document, build):
    for logical_id, resource in functions_of(document).items():
        folder = handler_folder(resource)
        artifact = BUILD_DIR / logical_id
        assert (artifact / folder / "app.py").is_file(), f"{logical_id}: {folder}/app.py not built"
        for module in code_scan.function_modules(folder):
            if not module.is_relative_to(code_scan.FUNCTIONS_DIR):
                continue  # the layer's (test_model_code_layer_is_the_package_model_code)
            relative = module.relative_to(code_scan.FUNCTIONS_DIR)
            assert (artifact / relative).is_file(), f"{logical_id}: {relative} not built"
        assert build["Resources"][logical_id]["Properties"]["CodeUri"] == logical_id
        wrong_python = [
            path.name for path in artifact.rglob("*.so") if "cpython-" in path.name and "cpython-312" not in path.name
        ]
        assert not wrong_python, f"{logical_id}: native modules for another Python than the runtime's: {wrong_python}"


@pytest.mark.slow
def test_model_code_layer_is_the_package_model_code(build, tmp_path):
    layer = BUILD_DIR / "ModelCodeLayer" / "python"
    shipped = {path.name for path in (layer / "model_code").iterdir()}
    expected = {path.name for path in (ROOT / "model_code").glob("*.py")} | {"requirements.txt"}
    assert shipped == expected
    probe = "import model_code.metrics as m; print(len(m.METRIC_DEFINITIONS), m.OBJECTIVE_METRIC, m.__file__)"
    result = subprocess.run(  # no site-packages: the layer's /opt/python is the only place model_code can come from
        [sys.executable, "-S", "-c", probe],
        cwd=tmp_path,  # not the checkout: -c puts the working folder first on the path
        env={"PYTHONPATH": str(layer)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6", "valid_accuracy", str(layer / "model_code" / "metrics.py")]


def test_functions_that_import_model_code_get_the_layer(document):
    for logical_id, resource in functions_of(document).items():
        layers = resource["Properties"].get("Layers", [])
        needs = code_scan.imports_model_code(handler_folder(resource))
        assert ({"Ref": "ModelCodeLayer"} in layers) == needs, (
            f"{logical_id}: layer {layers}, imports model_code {needs}"
        )


def test_the_functions_makefile_builds_for_the_runtime(document):
    """functions/Makefile asks pip for the wheels of the template's runtime and architecture."""
    makefile = (ROOT / "functions" / "Makefile").read_text()
    function_globals = document["Globals"]["Function"]
    version = re.search(r"^LAMBDA_PYTHON_VERSION := (\S+)$", makefile, re.MULTILINE).group(1)
    platform = re.search(r"^LAMBDA_PLATFORM := (\S+)$", makefile, re.MULTILINE).group(1)
    assert function_globals["Runtime"] == f"python{version}"
    assert {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}[
        function_globals["Architectures"][0]
    ] == platform
    for logical_id, resource in functions_of(document).items():
        assert resource["Metadata"]["BuildMethod"] == "makefile", logical_id


def lambda_python() -> Path:
    """The Lambda runtime's Python (template Globals: python3.12): on PATH, or pyenv's."""
    candidates = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))  # pyenv's shims may refuse
    candidates += [Path(found)] if (found := shutil.which("python3.12")) else []
    for candidate in candidates:
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    pytest.fail("no Python 3.12 (the Lambda runtime's) on this machine: install it (pyenv install 3.12)")


@pytest.fixture(scope="module")
def lambda_runtime_packages(tmp_path_factory) -> Path:
    """What Lambda's python3.12 runtime provides besides the standard library: boto3 (and botocore)."""
    target = tmp_path_factory.mktemp("lambda-runtime")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "--python-version", "3.12",
               "--platform", "manylinux2014_x86_64", "--only-binary=:all:", "boto3"]  # fmt: skip
    installed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr
    return target


@pytest.mark.slow
def test_every_handler_imports_from_its_built_folder_and_the_layer_alone(document, build, lambda_runtime_packages):
    """As Lambda starts a function: Python 3.12, no site-packages, only the function's artifact (/var/task), the
    layers (/opt/python) and the runtime's boto3 on the path, from a folder of its own."""
    python = lambda_python()
    layer = BUILD_DIR / "ModelCodeLayer" / "python"
    for logical_id, resource in functions_of(document).items():
        handler_module = resource["Properties"]["Handler"].rsplit(".", 1)[0]
        task_root = BUILD_DIR / logical_id
        layers = [str(layer)] if {"Ref": "ModelCodeLayer"} in resource["Properties"].get("Layers", []) else []
        path = os.pathsep.join([str(task_root), *layers, str(lambda_runtime_packages)])
        probe = f"import {handler_module} as handler, sys; print(handler.__file__); print(sorted(sys.modules))"
        result = subprocess.run(
            [str(python), "-S", "-c", probe],
            cwd=task_root,
            env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1",
                 "LAMBDA_TASK_ROOT": str(task_root)},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{logical_id}: {result.stderr[-2000:]}"
        handler_file, modules = result.stdout.splitlines()[:2]
        assert handler_file.startswith(str(task_root)), f"{logical_id}: imported {handler_file}"
        assert "torch" not in modules, f"{logical_id} imports torch"
