"""Languages of the pages: zh-CN by default, English by a remembered switch.

Texts live in Babel message catalogues (``creditbank/web/locale/<lang>/LC_MESSAGES/messages.po``,
extracted with ``pybabel extract -F babel.cfg``). The ``.po`` files are compiled in memory when
the app starts, so a fresh ``pip install -e .`` needs no build step and no ``.mo`` in the repo.
Message ids are English; the zh catalogue translates every one (a test checks it), and English
pages show the ids themselves unless the ``en`` catalogue rewords them.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("zh", "en")
DEFAULT = "zh"
BABEL_LOCALE = {"zh": "zh_Hans_CN", "en": "en"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}


@cache
def translations(lang: str) -> gettext.NullTranslations:
    path = LOCALE_DIR / BABEL_LOCALE.get(lang, lang) / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=BABEL_LOCALE.get(lang, lang))
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Translator:
    """``_("Hello %(name)s", name=…)``: gettext, then %-formatting with the keywords."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self._t = translations(self.lang)

    def __call__(self, message: str, **params: object) -> str:
        text = self._t.gettext(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text % ({"num": n} | params)


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; translated later, where it is shown."""
    return message


def pick(zh: str, en: str | None, lang: str) -> str:
    """One of a pair of texts the domain already keeps in both languages."""
    return en if lang == "en" and en else zh
