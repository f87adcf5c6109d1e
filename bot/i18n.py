"""The user's language: which one, and the bot's texts in it (gettext catalogs, compiled by Babel).

English is the source language: the texts in `texts.py`, `replies.py` and `keyboards.py` are the message ids, marked
with `N_` so that `pybabel extract` finds them, and translated when shown. `locales/<language>/LC_MESSAGES/` holds
each translation as `messages.po` (edited) and `messages.mo` (compiled, what the bot reads); bot/README.md has the
commands that update them.
"""

import gettext
from datetime import date
from functools import cache
from pathlib import Path

from babel.dates import format_skeleton
from babel.numbers import format_percent

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
# Each shipped language, named in itself (as the /language buttons show it).
LANGUAGES = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)", "ru": "Русский", "de": "Deutsch"}


def N_(message: str) -> str:
    """Mark a text for translation; it is translated when shown, in the language of whoever reads it."""
    return message


def language_of(telegram_code: str | None) -> str:
    """The shipped language for a Telegram `language_code` (an IETF tag: "pt-br" -> pt_BR, "de-AT" -> de);
    English when none fits."""
    tag = (telegram_code or "").replace("-", "_").lower()
    by_tag = {language.lower(): language for language in LANGUAGES}
    if tag in by_tag:
        return by_tag[tag]
    base = tag.split("_")[0]
    return next((language for language in LANGUAGES if language.split("_")[0] == base), DEFAULT_LANGUAGE)


def menu_language_code(language: str) -> str:
    """The two-letter code Telegram's `setMyCommands` takes for a shipped language (pt_BR -> "pt")."""
    return language.split("_")[0]


class Translator:
    """The bot's texts in one language: `tr(texts.GREETING, name=name)` translates, then fills the placeholders."""

    def __init__(self, language: str):
        self.language = language
        self._catalog = gettext.translation(DOMAIN, LOCALES, languages=[language], fallback=True)

    def __call__(self, message: str, **fields) -> str:
        text = self._catalog.gettext(message)
        return text.format(**fields) if fields else text

    def ngettext(self, singular: str, plural: str, count: int, **fields) -> str:
        """The form of a text for `count` things (`{count}` is filled in), by the language's plural rules."""
        return self._catalog.ngettext(singular, plural, count).format(count=count, **fields)

    def percent(self, fraction: float) -> str:
        """A share as people write it in this language, rounded to a whole percent ("90%", "90 %")."""
        return format_percent(fraction, locale=self.language)

    def date(self, day: date, skeleton: str = "yMMMMd") -> str:
        """A date as people write it in this language ("December 1, 2026", "1 de dezembro de 2026"); the skeleton
        says which parts to show ("MMMMd": day and month)."""
        return format_skeleton(skeleton, day, locale=self.language)


@cache
def translator(language: str) -> Translator:
    """The translator for a shipped language (English for any other)."""
    return Translator(language if language in LANGUAGES else DEFAULT_LANGUAGE)
