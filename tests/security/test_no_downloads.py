"""No URL fetched on the serving path, read from the code: the proxy imports no HTTP client and calls only
InvokeEndpoint and, for the prediction log, PutObject (it writes to its own bucket, reads nothing); the endpoint's
code can download only through the training weights option."""

import ast
from pathlib import Path

from tests.support import code_scan
from tests.support.paths import ROOT

MODEL_CODE = ROOT / "model_code"


# Modules that open connections. botocore is not here: the proxy needs it for InvokeEndpoint, and the test
# below pins its one use.
NETWORK_MODULES = ("socket", "ssl", "http.client", "urllib.request", "urllib3", "requests", "httpx", "aiohttp")
# A torchvision ``*_Weights`` enum downloads pretrained weights when used; boto3 downloads from S3.
DOWNLOADING_MODULES = (*NETWORK_MODULES, "boto3", "botocore")


def network_names(names: set[str], modules=NETWORK_MODULES) -> set[str]:
    return {name for name in names if any(name == module or name.startswith(f"{module}.") for module in modules)}


def imported_names(path: Path) -> set[str]:
    return code_scan.imported_names(ast.parse(path.read_text()))


def test_the_proxy_imports_no_http_client_and_only_invokes_the_endpoint_and_writes_its_log():
    modules = code_scan.function_modules("predict")
    assert ROOT / "functions" / "predict" / "endpoint.py" in modules
    assert network_names(set().union(*map(imported_names, modules))) == set()
    assert code_scan.boto3_actions(modules) == {"sagemaker:InvokeEndpoint", "s3:PutObject"}


def top_level_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def downloads_in(node: ast.AST) -> set[str]:
    """What in ``node`` can download: a network-capable import, a torchvision pretrained-weights enum, or
    torchvision's ``get_model`` given weights."""
    found = network_names(code_scan.imported_names(node), DOWNLOADING_MODULES)
    found |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr.endswith("_Weights")}
    found |= {
        n.func.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "get_model" and n.keywords
    }
    return found


def serving_functions(inference: ast.Module, dogbreeds: ast.Module) -> set[str]:
    """dogbreeds' functions that inference.py runs: those it names, and what they name, transitively."""
    functions = top_level_functions(dogbreeds)
    pending = [
        node.attr
        for node in ast.walk(inference)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "dogbreeds"
    ]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name in functions and name not in reached:
            reached.add(name)
            pending += [node.id for node in ast.walk(functions[name]) if isinstance(node, ast.Name)]
    return reached


def test_the_endpoint_code_can_download_only_through_the_training_weights_option():
    """inference.py imports nothing that connects. dogbreeds (shared with training) can download in two
    places, both chosen by build_model's ``weights`` (ImageNet weights, or a state_dict from s3://); the
    serving path always builds with weights="none"."""
    inference = ast.parse((MODEL_CODE / "inference.py").read_text())
    dogbreeds = ast.parse((MODEL_CODE / "dogbreeds.py").read_text())
    assert downloads_in(inference) == set()
    module_level = ast.Module([node for node in dogbreeds.body if not isinstance(node, ast.FunctionDef)], [])
    assert downloads_in(module_level) == set()
    downloading = {name: found for name, function in top_level_functions(dogbreeds).items()
                   if (found := downloads_in(function))}  # fmt: skip
    assert downloading == {"_load_state_dict": {"boto3"}, "build_model": {"get_model"}}
    serving = serving_functions(inference, dogbreeds)
    assert {"load_artifacts", "load_rgb", "eval_preset", "build_model"} <= serving
    builds = [
        node
        for name in serving
        for node in ast.walk(top_level_functions(dogbreeds)[name])
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "build_model"
    ]
    weights = [next((k.value.value for k in call.keywords if k.arg == "weights"), None) for call in builds]
    assert weights == ["none"], "the endpoint must never build a model that downloads weights"
