"""Double Metaphone, the primary code (Lawrence Philips's algorithm): the phonetic
code names are matched by (services/identity/normalize.py `phonetic`). The rules are a
table of the language's spellings, kept as the algorithm states them."""

from __future__ import annotations

from collections.abc import Callable

_At = Callable[[int], str]
_Sub = Callable[[int, int], str]
_Vowel = Callable[[int], bool]

_VOWELS = frozenset("AEIOUY")
_SILENT_STARTS = frozenset({"GN", "KN", "PN", "WR", "PS"})
_GERMANIC_STARTS = frozenset({"VAN ", "VON "})
_PAD = "     "


def metaphone_primary(word: str) -> str:
    """Double Metaphone primary code of one upper-case A-Z word, without a length cap."""
    size = len(word)
    if size == 0:
        return ""
    padded = word + _PAD  # the published rules read up to 5 letters ahead; past the end is " "
    last = size - 1
    slavo_germanic = "W" in word or "K" in word or "CZ" in word

    def at(i: int) -> str:
        return padded[i] if 0 <= i < len(padded) else ""

    def sub(i: int, n: int) -> str:
        return padded[i : i + n] if i >= 0 else ""

    def vowel(i: int) -> bool:
        return at(i) in _VOWELS

    germanic = sub(0, 4) in _GERMANIC_STARTS or sub(0, 3) == "SCH"
    out: list[str] = []
    pos = 0
    if sub(0, 2) in _SILENT_STARTS:
        pos = 1
    if at(0) == "X":  # "Xavier"
        out.append("S")
        pos = 1

    while pos < size:
        char = padded[pos]
        nxt = at(pos + 1)
        code, step = "", 1
        if char in _VOWELS:
            code = "A" if pos == 0 else ""
        elif char == "B":
            code, step = "P", 2 if nxt == "B" else 1
        elif char == "C":
            code, step = _metaphone_c(pos, nxt, at, sub, vowel, germanic)
        elif char == "D":
            if sub(pos, 2) == "DG":
                code, step = ("J", 3) if at(pos + 2) in ("I", "E", "Y") else ("TK", 2)
            elif sub(pos, 2) in ("DT", "DD"):
                code, step = "T", 2
            else:
                code = "T"
        elif char == "F":
            code, step = "F", 2 if nxt == "F" else 1
        elif char == "G":
            code, step = _metaphone_g(pos, nxt, at, sub, vowel, germanic, slavo_germanic)
        elif char == "H":
            if (pos == 0 or vowel(pos - 1)) and vowel(pos + 1):
                code, step = "H", 2
        elif char == "J":
            if sub(pos, 4) == "JOSE" or sub(0, 4) == "SAN ":
                spanish = (pos == 0 and at(pos + 4) == " ") or sub(0, 4) == "SAN "
                code = "H" if spanish else "J"
            else:
                if (
                    pos == 0
                    or (vowel(pos - 1) and not slavo_germanic and nxt in ("A", "O"))
                    or pos == last
                    or (
                        nxt not in ("L", "T", "K", "S", "N", "M", "B", "Z")
                        and at(pos - 1) not in ("S", "K", "L")
                    )
                ):
                    code = "J"
                step = 2 if nxt == "J" else 1
        elif char == "K":
            code, step = "K", 2 if nxt == "K" else 1
        elif char == "L":
            code, step = "L", 2 if nxt == "L" else 1
        elif char == "M":
            dumb = sub(pos - 1, 3) == "UMB" and (pos + 1 == last or sub(pos + 2, 2) == "ER")
            code, step = "M", 2 if dumb or nxt == "M" else 1
        elif char == "N":
            code, step = "N", 2 if nxt == "N" else 1
        elif char == "P":
            if nxt == "H":
                code, step = "F", 2
            else:
                code, step = "P", 2 if nxt in ("P", "B") else 1
        elif char == "Q":
            code, step = "K", 2 if nxt == "Q" else 1
        elif char == "R":
            french = (
                pos == last
                and not slavo_germanic
                and sub(pos - 2, 2) == "IE"
                and sub(pos - 4, 2) not in ("ME", "MA")
            )
            code, step = ("" if french else "R"), 2 if nxt == "R" else 1
        elif char == "S":
            code, step = _metaphone_s(pos, nxt, last, at, sub)
        elif char == "T":
            if sub(pos, 4) == "TION" or sub(pos, 3) in ("TIA", "TCH"):
                code, step = "X", 3
            elif sub(pos, 2) == "TH" or sub(pos, 3) == "TTH":
                code = "T" if sub(pos + 2, 2) in ("OM", "AM") or germanic else "0"
                step = 2
            else:
                code, step = "T", 2 if nxt in ("T", "D") else 1
        elif char == "V":
            code, step = "F", 2 if nxt == "V" else 1
        elif char == "W":
            if sub(pos, 2) == "WR":
                code, step = "R", 2
            else:
                if pos == 0 and (vowel(pos + 1) or sub(pos, 2) == "WH"):
                    code = "A"
                silent = (
                    (pos == last and vowel(pos - 1))
                    or sub(pos - 1, 5) in ("EWSKI", "EWSKY", "OWSKI", "OWSKY")
                    or sub(0, 3) == "SCH"
                )
                if not silent and sub(pos, 4) in ("WICZ", "WITZ"):
                    code, step = code + "TS", 4
        elif char == "X":
            french = pos == last and (
                sub(pos - 3, 3) in ("IAU", "EAU") or sub(pos - 2, 2) in ("AU", "OU")
            )
            code, step = ("" if french else "KS"), 2 if nxt in ("C", "X") else 1
        elif char == "Z":
            if nxt == "H":
                code, step = "J", 2
            else:
                code, step = "S", 2 if nxt == "Z" else 1
        out.append(code)
        pos += step
    return "".join(out)


def _metaphone_c(
    pos: int,
    nxt: str,
    at: _At,
    sub: _Sub,
    vowel: _Vowel,
    germanic: bool,
) -> tuple[str, int]:
    after = at(pos + 2)
    if (
        pos > 1
        and not vowel(pos - 2)
        and sub(pos - 1, 3) == "ACH"
        and after != "I"
        and (after != "E" or sub(pos - 2, 6) in ("BACHER", "MACHER"))
    ):
        return "K", 2
    if pos == 0 and sub(0, 6) == "CAESAR":
        return "S", 2
    if sub(pos, 4) == "CHIA":
        return "K", 2
    if nxt == "H":
        if pos > 0 and sub(pos, 4) == "CHAE":  # "Michael"
            return "K", 2
        if (
            pos == 0
            and (sub(1, 5) in ("HARAC", "HARIS") or sub(1, 3) in ("HOR", "HYM", "HIA", "HEM"))
            and sub(0, 5) != "CHORE"
        ):
            return "K", 2
        if (
            germanic
            or sub(pos - 2, 6) in ("ORCHES", "ARCHIT", "ORCHID")
            or after in ("T", "S")
            or (
                (at(pos - 1) in ("A", "O", "U", "E") or pos == 0)
                and after in ("L", "R", "N", "M", "B", "H", "F", "V", "W", " ")
            )
        ):
            return "K", 2
        if pos > 0 and sub(0, 2) == "MC":
            return "K", 2
        return "X", 2
    if nxt == "Z" and sub(pos - 2, 4) != "WICZ":  # "Czerny"
        return "S", 2
    if sub(pos + 1, 3) == "CIA":  # "focaccia"
        return "X", 3
    if nxt == "C" and not (pos == 1 and at(0) == "M"):
        if after in ("I", "E", "H") and sub(pos + 2, 2) != "HU":
            if (pos == 1 and at(0) == "A") or sub(pos - 1, 5) in ("UCCEE", "UCCES"):
                return "KS", 3  # "accident", "succeed"
            return "X", 3  # "bacci"
        return "K", 2
    if nxt in ("K", "G", "Q"):
        return "K", 2
    if nxt in ("I", "E", "Y"):
        return "S", 2
    if sub(pos + 1, 2) in (" C", " Q", " G"):
        return "K", 3
    if nxt in ("C", "K", "Q") and sub(pos + 1, 2) not in ("CE", "CI"):
        return "K", 2
    return "K", 1


def _metaphone_g(
    pos: int,
    nxt: str,
    at: _At,
    sub: _Sub,
    vowel: _Vowel,
    germanic: bool,
    slavo_germanic: bool,
) -> tuple[str, int]:
    if nxt == "H":
        if pos > 0 and not vowel(pos - 1):
            return "K", 2
        if pos == 0:  # "Ghislaine"
            return ("J" if at(pos + 2) == "I" else "K"), 2
        # Parker's rule: "hugh", "bough"
        if (
            (pos > 1 and at(pos - 2) in ("B", "H", "D"))
            or (pos > 2 and at(pos - 3) in ("B", "H", "D"))
            or (pos > 3 and at(pos - 4) in ("B", "H"))
        ):
            return "", 2
        if pos > 2 and at(pos - 1) == "U" and at(pos - 3) in ("C", "G", "L", "R", "T"):
            return "F", 2  # "laugh", "tough"
        return ("K" if at(pos - 1) != "I" else ""), 2
    if nxt == "N":
        if pos == 1 and vowel(0) and not slavo_germanic:
            return "KN", 2
        if sub(pos + 2, 2) != "EY" and not slavo_germanic:
            return "N", 2
        return "KN", 2
    if sub(pos + 1, 2) == "LI" and not slavo_germanic:  # "Tagliaro"
        return "KL", 2
    if pos == 0 and (
        nxt == "Y"
        or sub(1, 2) in ("ES", "EP", "EB", "EL", "EY", "IB", "IL", "IN", "IE", "EI", "ER")
    ):
        return "K", 2
    if (
        (sub(pos + 1, 2) == "ER" or nxt == "Y")
        and sub(0, 6) not in ("DANGER", "RANGER", "MANGER")
        and at(pos - 1) not in ("E", "I")
        and sub(pos - 1, 3) not in ("RGY", "OGY")
    ):
        return "K", 2
    if nxt in ("E", "I", "Y") or sub(pos - 1, 4) in ("AGGI", "OGGI"):
        if germanic or sub(pos + 1, 2) == "ET":
            return "K", 2
        return "J", 2
    return "K", 2 if nxt == "G" else 1


def _metaphone_s(pos: int, nxt: str, last: int, at: _At, sub: _Sub) -> tuple[str, int]:
    if sub(pos - 1, 3) in ("ISL", "YSL"):  # "island", "carlysle"
        return "", 1
    if pos == 0 and sub(0, 5) == "SUGAR":
        return "X", 1
    if nxt == "H":
        return ("S" if sub(pos + 1, 4) in ("HEIM", "HOEK", "HOLM", "HOLZ") else "X"), 2
    if sub(pos, 3) in ("SIO", "SIA") or sub(pos, 4) == "SIAN":
        return "S", 3
    if (pos == 0 and nxt in ("M", "N", "L", "W")) or nxt == "Z":
        return "S", 2 if nxt == "Z" else 1
    if nxt == "C":
        if at(pos + 2) == "H":
            dutch = sub(pos + 3, 2)
            if dutch in ("OO", "ER", "EN", "UY", "ED", "EM"):
                return ("X" if dutch in ("ER", "EN") else "SK"), 3
            return "X", 3
        if at(pos + 2) in ("I", "E", "Y"):
            return "S", 3
        return "SK", 3
    if pos == last and sub(pos - 2, 2) in ("AI", "OI"):  # French "Artois"
        return "", 1
    return "S", 2 if nxt in ("S", "Z") else 1
