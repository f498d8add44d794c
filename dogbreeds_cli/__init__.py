"""`dogbreeds`, the command-line tool: watch runs, list them, try the API (cli.py has the commands)."""
