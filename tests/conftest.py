"""Fixtures every test module can use by name: the local Bot API server and the bot running against it."""

from bot_harness import running_bot, telegram  # noqa: F401  (imported here so pytest offers them to every module)
