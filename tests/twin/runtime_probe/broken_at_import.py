"""A handler module that fails while Lambda imports it (its init phase)."""

import module_that_is_not_installed  # noqa: F401


def handler(event, context):
    return "never reached"
