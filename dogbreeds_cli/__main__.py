import sys

from dogbreeds_cli.cli import main

sys.exit(main())
