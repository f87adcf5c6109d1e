"""Fixtures every test module can use by name: the local Bot API server and the bot running against it, and the
two database engines."""

from bot_harness import running_bot, telegram  # noqa: F401  (imported here so pytest offers them to every module)
from databases import database_address, new_postgresql_database, postgresql_server  # noqa: F401
