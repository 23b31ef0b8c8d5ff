"""The mail-host agent (`python -m mxagent`): runs beside Postfix with the standard library
and httpx only, no database credentials and no root (docs/deploying.md)."""
