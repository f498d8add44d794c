"""Every environment variable a function's code reads is set by the template for that function."""

from tests.support import code_scan
from tests.support.pipeline_steps import ENVIRONMENT as STEP_ENVIRONMENT
from tests.support.predict_lambda import LAMBDA_ENVIRONMENT as PREDICT_ENVIRONMENT
from tests.support.template_tools import functions_of, handler_folder

# Set by the Lambda runtime itself, never by the template.
RUNTIME_VARIABLES = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "_X_AMZN_TRACE_ID"}


def test_each_function_gets_every_variable_its_code_reads(template, document):
    functions = template.functions()
    missing = {}
    for logical_id, resource in functions_of(document).items():
        read = code_scan.environment_variables(code_scan.function_modules(handler_folder(resource)))
        unset = read - set(functions[logical_id].environment) - RUNTIME_VARIABLES
        if unset:
            missing[logical_id] = sorted(unset)
    assert not missing, f"read but not set by template.yaml: {missing}"


def test_powertools_is_configured_through_the_environment(template):
    for logical_id, function in template.functions().items():
        for variable in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"):
            assert function.environment.get(variable), f"{logical_id} lacks {variable}"


def test_the_tests_give_the_functions_powertools_settings_as_the_template_does(template):
    """The metrics the handler tests read are in the namespace and service dimension a deployed function uses."""
    functions = template.functions()
    for logical_id, stand_in in (("PredictFunction", PREDICT_ENVIRONMENT), ("DeployFunction", STEP_ENVIRONMENT)):
        for variable in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
            assert stand_in[variable] == functions[logical_id].environment[variable], (logical_id, variable)


def test_the_endpoint_name_is_fixed_server_side_and_shared(template):
    functions = template.functions()
    assert (
        functions["PredictFunction"].environment["ENDPOINT_NAME"]
        == functions["DeployFunction"].environment["ENDPOINT_NAME"]
    )
