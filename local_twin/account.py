"""The one AWS account the twin plays: every ARN, pseudo parameter and request context of the twin names it."""

ACCOUNT_ID = "123456789012"  # moto's default account (moto.core.DEFAULT_ACCOUNT_ID): the twin's moto serves it
PARTITION = "aws"
