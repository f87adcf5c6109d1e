"""The bot's languages: every text translated in every shipped language, placeholders and emoji kept, the compiled
catalogs up to date, and Telegram's language codes mapped to the right one."""

import io
import re
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


def texts_in_code() -> set:
    """Every text the bot's code marks for translation, found as `pybabel extract -F babel.cfg` finds them (a plural
    text as its (singular, plural) pair)."""
    with (REPO / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {found[2] for found in extract_from_dir(REPO, method_map, options_map, DEFAULT_KEYWORDS)}


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{[^{}]*\}", text))


def html_tags(text: str) -> list[str]:
    return sorted(re.findall(r"</?\w+>", text))


def emoji(text: str) -> list[str]:
    return sorted(character for character in text if ord(character) >= 0x2190)  # arrows, symbols, emoji


def test_the_template_lists_exactly_the_texts_in_the_code():
    with (LOCALES / f"{DOMAIN}.pot").open("rb") as pot:
        template = {message.id for message in read_po(pot) if message.id}
    assert template == texts_in_code(), "run the pybabel commands in bot/README.md (Languages)"


def test_every_text_in_texts_py_is_marked_for_translation():
    constants = [value for name, value in vars(texts).items() if name.isupper()]
    strings = [value for value in constants if isinstance(value, str)]
    strings += [text for value in constants if isinstance(value, dict) for text in value.values()]
    assert set(strings) <= texts_in_code()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_button_and_command_description_is_translated(language):
    translations = catalog(language)
    for message_id in texts_in_code():
        message = translations.get(message_id)
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
