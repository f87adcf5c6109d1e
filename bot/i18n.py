"""The user's language: which one, and the bot's texts in it (gettext catalogs, compiled by Babel).

English is the source language: the texts in `texts.py`, `replies.py` and `keyboards.py` are the message ids, marked
with `N_` so that `pybabel extract` finds them, and translated when shown. `locales/<language>/LC_MESSAGES/` holds
each translation as `messages.po` (edited) and `messages.mo` (compiled, what the bot reads); bot/README.md has the
commands that update them. How each language writes a date or a percentage is in the catalogs too (the patterns and
month names below), so the bot needs only Python's `gettext` at run time: Babel is a development tool.
"""

import gettext
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
# Each shipped language, named in itself (as the /language buttons show it).
LANGUAGES = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)", "ru": "Русский", "de": "Deutsch"}


def N_(message: str) -> str:
    """Mark a text for translation; it is translated when shown, in the language of whoever reads it."""
    return message


def NC_(context: str, message: str) -> tuple[str, str]:
    """Mark a text whose translation depends on where it stands (gettext's msgctxt), translated with `pgettext` when
    shown; `keywords` in babel.cfg tells `pybabel extract` about this marker."""
    return context, message


# TRANSLATORS: a share as this language writes it ("90%");
# {percent} is a whole number. Where the language puts a space before %,
# make it a no-break space (U+00A0), so that a line never breaks there.
PERCENT = N_("{percent}%")
# TRANSLATORS: a date with the year, as in "You agreed on December 1, 2026".
# {day} and {year} are numbers; {month} is the month's name as translated
# under the context "month in a date". Keep the spaces this language uses
# (in Russian, a narrow no-break space U+202F before "г.").
DATE = N_("{month} {day}, {year}")
# TRANSLATORS: a date without the year, as in "Your moods, November 3 –
# December 1". {day} is a number; {month} is the month's name as translated
# under the context "month in a date".
DAY_AND_MONTH = N_("{month} {day}")
# The month names as they stand in DATE and DAY_AND_MONTH (in Russian, the genitive: "1 декабря").
MONTHS = (NC_("month in a date", "January"), NC_("month in a date", "February"), NC_("month in a date", "March"),
          NC_("month in a date", "April"), NC_("month in a date", "May"), NC_("month in a date", "June"),
          NC_("month in a date", "July"), NC_("month in a date", "August"), NC_("month in a date", "September"),
          NC_("month in a date", "October"), NC_("month in a date", "November"), NC_("month in a date", "December"))


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
        """A share from 0 to 1 as people write it in this language ("90%", "90 %"), rounded to a whole percent half
        to even on its decimal digits (0.905 -> 90, 0.915 -> 92), as CLDR's formatters do."""
        return self(PERCENT, percent=round(Decimal(str(fraction)).scaleb(2)))

    def date(self, day: date, with_year: bool = True) -> str:
        """A date (or datetime, as it is) as people write it in this language: "December 1, 2026",
        "1 de dezembro de 2026", or without the year "December 1", "1 de dezembro"."""
        month = self._catalog.pgettext(*MONTHS[day.month - 1])
        if with_year:
            return self(DATE, day=day.day, month=month, year=day.year)
        return self(DAY_AND_MONTH, day=day.day, month=month)


@cache
def translator(language: str) -> Translator:
    """The translator for a shipped language (English for any other)."""
    return Translator(language if language in LANGUAGES else DEFAULT_LANGUAGE)
