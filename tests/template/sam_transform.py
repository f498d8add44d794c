"""Run by .venv-sam's Python: SAM's transform of template.yaml for some parameter values, as JSON on stdout.

``sam validate`` transforms with the defaults only; this shows what CloudFormation gets for other choices.
Local paths become S3 URIs first, as ``sam deploy`` would make them.
"""

import json
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    def load(self) -> dict:
        return {}


def main(template_path: str, *overrides: str) -> None:
    template = yaml_parse(Path(template_path).read_text())
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/functions.zip"
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("ContentUri", "DefinitionUri", "CodeUri"):
            if key in properties:
                properties[key] = f"s3://bucket/{key}"
    parameters = dict(override.split("=", 1) for override in overrides)
    print(json.dumps(transform(template, parameters, NoManagedPolicies())))


if __name__ == "__main__":
    main(*sys.argv[1:])
