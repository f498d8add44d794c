"""The model code: tuning trials (hpo.py), the debugged final training (train_model.py), the endpoint's handler
(inference.py) and what they share.

One import identity wherever it runs: the package ``model_code``. SageMaker runs it from archives that hold the
package beside thin entry scripts (entry_points.py); the Lambda layer ships it as /opt/python/model_code; the
twin, the CLI and the tests import it from the installed project. Outside a job or an endpoint only the
standard-library modules are imported (metrics.py, rule_settings.py, entry_points.py, quotas.py,
dataset_contract.py, serving_limits.py): the Lambdas and the `dogbreeds` command need no torch.
"""
