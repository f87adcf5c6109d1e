"""The Telegram side of MoodTunes: talks to users and uses `model` (emotions from photos) and `db` (everything stored).

Start at `bot.app`, the table of contents; `bot/README.md` explains how to run and configure it.
"""
