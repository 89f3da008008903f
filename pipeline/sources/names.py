"""Station names as the feeds write them: double-encoded accents, and when two names are one.

The 2024 GBFS ``station_information`` file encodes its accents twice over
(UTF-8 read as cp1252, twice: ``RÃƒÂ©collets`` for ``Récollets``), and the
open-data files spell one station ``Charles de Gaulle - Orléans `` (trailing
space) or ``Vaillant-couturier`` where another file writes ``Vaillant-Couturier``.
:func:`repair_text` undoes the encoding once, where a file is read;
:func:`name_key` is the form two names are compared in, so a station whose
name differs only by accents, case, punctuation or spacing is the same name.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")


def repair_text(text: Any) -> Any:
    """Undo UTF-8 read as cp1252, once or twice over ('RÃƒÂ©collets' -> 'Récollets').

    Anything that is not such text (clean names, numbers, None) comes back as it was.
    """
    if not isinstance(text, str) or not ("Ã" in text or "Â" in text):
        return text
    # The no-break space of a double-encoded 'à' was flattened to a plain space.
    text = text.replace("\u00c3\u0192 ", "\u00c3\u0192\u00c2\u00a0")
    for _ in range(3):
        try:
            fixed = text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            break
        if fixed == text:
            break
        text = fixed
    return text


def name_key(name: str) -> str:
    """The compare form of a station name: repaired, no accents, lower case, words only.

    ``name_key("Karl Marx.") == name_key("karl  marx")`` and
    ``name_key("Vaillant-couturier") == name_key("Vaillant-Couturier")``.
    """
    text = unicodedata.normalize("NFKD", repair_text(name))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(_WORD.findall(text))
