"""The bot's languages: every text translated in every shipped language, placeholders and emoji kept, the compiled
catalogs up to date, dates and percentages as each language writes them, and Telegram's language codes mapped to the
right one."""

import io
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot import texts
from bot.i18n import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, LOCALES, language_of, translator

REPO = Path(texts.__file__).resolve().parents[1]
TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]  # English is the source


def catalog(language: str):
    with (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale=language)


def texts_in_code() -> set[tuple]:
    """Every text the bot's code marks for translation, found as `pybabel extract -F babel.cfg` finds them, as
    (message id, context): a plural text's id is its (singular, plural) pair, the context is None but for `NC_`."""
    with (REPO / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {(found[2], found[4]) for found in extract_from_dir(REPO, method_map, options_map, DEFAULT_KEYWORDS)}


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{[^{}]*\}", text))


def html_tags(text: str) -> list[str]:
    return sorted(re.findall(r"</?\w+>", text))


def emoji(text: str) -> list[str]:
    return sorted(character for character in text if ord(character) >= 0x2190)  # arrows, symbols, emoji


def test_the_template_lists_exactly_the_texts_in_the_code():
    with (LOCALES / f"{DOMAIN}.pot").open("rb") as pot:
        template = {(message.id, message.context) for message in read_po(pot) if message.id}
    assert template == texts_in_code(), "run the pybabel commands in bot/README.md (Languages)"


def test_every_text_in_texts_py_is_marked_for_translation():
    constants = [value for name, value in vars(texts).items() if name.isupper()]
    strings = [value for value in constants if isinstance(value, str)]
    strings += [text for value in constants if isinstance(value, dict) for text in value.values()]
    assert {(text, None) for text in strings} <= texts_in_code()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_button_and_command_description_is_translated(language):
    translations = catalog(language)
    for message_id, context in texts_in_code():
        message = translations.get(message_id, context=context)
        assert message is not None, f"{language} lacks {message_id!r}"
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(forms) and not message.fuzzy, f"{language} has no final translation of {message_id!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder_html_tag_and_emoji(language):
    for message in catalog(language):
        if not message.id:
            continue
        english = message.id[0] if isinstance(message.id, tuple) else message.id
        for translated in message.string if isinstance(message.string, tuple) else (message.string,):
            for part in (placeholders, html_tags, emoji):
                assert part(translated) == part(english), f"{language}: {part.__name__} of {english!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_is_up_to_date_with_its_po_file(language):
    compiled = io.BytesIO()
    write_mo(compiled, catalog(language))
    assert (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.mo").read_bytes() == compiled.getvalue(), \
        "run `pybabel compile -d bot/locales` (bot/README.md, Languages)"


# Dates and shares as Babel 2.19 (CLDR 47) wrote them when the bot used it at run time, which the patterns and month
# names in the catalogs now reproduce without it; \u00a0 is a no-break space, \u202f a narrow one.
DATES = {  # the 1st of odd months and the 23rd of even ones, with the year and without
    "en": [("January 1, 2026", "January 1"), ("February 23, 2026", "February 23"), ("March 1, 2026", "March 1"),
           ("April 23, 2026", "April 23"), ("May 1, 2026", "May 1"), ("June 23, 2026", "June 23"),
           ("July 1, 2026", "July 1"), ("August 23, 2026", "August 23"), ("September 1, 2026", "September 1"),
           ("October 23, 2026", "October 23"), ("November 1, 2026", "November 1"),
           ("December 23, 2026", "December 23")],
    "es": [("1 de enero de 2026", "1 de enero"), ("23 de febrero de 2026", "23 de febrero"),
           ("1 de marzo de 2026", "1 de marzo"), ("23 de abril de 2026", "23 de abril"),
           ("1 de mayo de 2026", "1 de mayo"), ("23 de junio de 2026", "23 de junio"),
           ("1 de julio de 2026", "1 de julio"), ("23 de agosto de 2026", "23 de agosto"),
           ("1 de septiembre de 2026", "1 de septiembre"), ("23 de octubre de 2026", "23 de octubre"),
           ("1 de noviembre de 2026", "1 de noviembre"), ("23 de diciembre de 2026", "23 de diciembre")],
    "pt_BR": [("1 de janeiro de 2026", "1 de janeiro"), ("23 de fevereiro de 2026", "23 de fevereiro"),
              ("1 de março de 2026", "1 de março"), ("23 de abril de 2026", "23 de abril"),
              ("1 de maio de 2026", "1 de maio"), ("23 de junho de 2026", "23 de junho"),
              ("1 de julho de 2026", "1 de julho"), ("23 de agosto de 2026", "23 de agosto"),
              ("1 de setembro de 2026", "1 de setembro"), ("23 de outubro de 2026", "23 de outubro"),
              ("1 de novembro de 2026", "1 de novembro"), ("23 de dezembro de 2026", "23 de dezembro")],
    "ru": [("1 января 2026\u202fг.", "1 января"), ("23 февраля 2026\u202fг.", "23 февраля"),
           ("1 марта 2026\u202fг.", "1 марта"), ("23 апреля 2026\u202fг.", "23 апреля"),
           ("1 мая 2026\u202fг.", "1 мая"), ("23 июня 2026\u202fг.", "23 июня"), ("1 июля 2026\u202fг.", "1 июля"),
           ("23 августа 2026\u202fг.", "23 августа"), ("1 сентября 2026\u202fг.", "1 сентября"),
           ("23 октября 2026\u202fг.", "23 октября"), ("1 ноября 2026\u202fг.", "1 ноября"),
           ("23 декабря 2026\u202fг.", "23 декабря")],
    "de": [("1. Januar 2026", "1. Januar"), ("23. Februar 2026", "23. Februar"), ("1. März 2026", "1. März"),
           ("23. April 2026", "23. April"), ("1. Mai 2026", "1. Mai"), ("23. Juni 2026", "23. Juni"),
           ("1. Juli 2026", "1. Juli"), ("23. August 2026", "23. August"), ("1. September 2026", "1. September"),
           ("23. Oktober 2026", "23. Oktober"), ("1. November 2026", "1. November"),
           ("23. Dezember 2026", "23. Dezember")],
}
SHARES = [0.0, 0.07, 0.5, 0.905, 0.915, 1.0]  # 90.5% and 91.5%: rounded half to even
PERCENTS = {
    "en": ["0%", "7%", "50%", "90%", "92%", "100%"],
    "es": ["0\u00a0%", "7\u00a0%", "50\u00a0%", "90\u00a0%", "92\u00a0%", "100\u00a0%"],
    "pt_BR": ["0%", "7%", "50%", "90%", "92%", "100%"],
    "ru": ["0\u00a0%", "7\u00a0%", "50\u00a0%", "90\u00a0%", "92\u00a0%", "100\u00a0%"],
    "de": ["0\u00a0%", "7\u00a0%", "50\u00a0%", "90\u00a0%", "92\u00a0%", "100\u00a0%"],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_dates_read_as_the_language_writes_them_in_every_month(language):
    tr = translator(language)
    days = [date(2026, month, 1 if month % 2 else 23) for month in range(1, 13)]
    assert [(tr.date(day), tr.date(day, with_year=False)) for day in days] == DATES[language]
    assert tr.date(datetime(2026, 12, 23, 23, 59, tzinfo=timezone.utc)) == DATES[language][-1][0], "a moment's date"


@pytest.mark.parametrize("language", LANGUAGES)
def test_percentages_read_as_the_language_writes_them(language):
    assert [translator(language).percent(share) for share in SHARES] == PERCENTS[language]


@pytest.mark.parametrize("telegram_code, language", [
    ("pt-br", "pt_BR"), ("pt-BR", "pt_BR"), ("pt", "pt_BR"), ("de-AT", "de"), ("de", "de"), ("es-419", "es"),
    ("ru", "ru"), ("en-GB", "en"), ("fr", "en"), ("", "en"), (None, "en"),
])
def test_telegram_s_language_code_picks_a_shipped_language_with_english_as_fallback(telegram_code, language):
    assert language_of(telegram_code) == language


def test_each_language_has_words_of_its_own():
    for message in (texts.NO_FACE, texts.LANGUAGE_CHOSEN, *texts.COMMANDS.values()):
        assert len({translator(language)(message) for language in LANGUAGES}) == len(LANGUAGES), message


@pytest.mark.parametrize("language", LANGUAGES)
def test_command_descriptions_fit_telegram_s_limits(language):
    for description in {**texts.COMMANDS, **texts.ADMIN_COMMANDS}.values():
        assert 3 <= len(translator(language)(description)) <= 256


@pytest.mark.parametrize("count, russian", [(1, "1 запись"), (3, "3 записи"), (11, "11 записей"), (21, "21 запись")])
def test_counts_take_the_language_s_plural_forms(count, russian):
    assert russian in texts.forget_done(translator("ru"), count)
    assert f"{count} record{'' if count == 1 else 's'} about you" in texts.forget_done(translator("en"), count)
