"""Languages of the pages: the remembered switch (``cb_lang``) when the reader used it; before that the
browser's ``Accept-Language`` ranked as the API ranks it (``httpio.preferred_language``).

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

from creditbank.httpio import LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = LANGUAGES[0]
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
        if self.lang == "en" and _one(params.get("credits")):
            text = text.replace("%(credits)s credits", "%(credits)s credit")
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text % ({"num": n} | params)


def _one(amount: object) -> bool:
    """1 credit, 1.5 credits: credits are decimals, so gettext's integer plural forms do not fit; in
    English only exactly one (or minus one) is singular."""
    try:
        return abs(float(str(amount))) == 1
    except ValueError:
        return False


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; translated later, where it is shown."""
    return message


def pick(zh: str, en: str | None, lang: str) -> str:
    """One of a pair of texts the domain already keeps in both languages."""
    return en if lang == "en" and en else zh
