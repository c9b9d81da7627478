"""Two reports of one overdose: the same person, on looser evidence than a link.

An EMS and a police report from the same scene, minutes apart, are one incident
when the people they name could be one person: the dates of birth agree exactly,
the last names agree (exactly, as a near spelling, phonetically, or one inside the
other), and so do the first names, or one first name is a nickname or a prefix of
the other ("Zeb" / "Zebulon", "Bill" / "William"). The scene and the time are the
rest of the evidence; the caller checks them. This joins the two reports into one
case; whether they are one *person* is still decided by `matching` (a review when
unsure): link, don't merge destructively.

Pure: features in, a yes or no out."""

from __future__ import annotations

from services.identity.matching import SIMILAR_JW, PersonFeatures
from services.identity.similarity import jaro_winkler

# Common given names and their short forms (normalised: lower case, no accents).
_NICKNAMES: dict[str, tuple[str, ...]] = {
    "abigail": ("abby", "abbie", "gail"),
    "albert": ("al", "bert"),
    "alberto": ("beto",),
    "alejandro": ("alex", "alejo"),
    "alexander": ("alex", "al", "sandy", "xander"),
    "alexandra": ("alex", "sandra", "sandy", "lexi"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony",),
    "antonio": ("tony", "tono"),
    "barbara": ("barb", "babs"),
    "benjamin": ("ben", "benny", "benji"),
    "catherine": ("cathy", "kate", "katie", "cat"),
    "charles": ("charlie", "chuck", "chas"),
    "christina": ("chris", "tina", "christy"),
    "christopher": ("chris", "topher", "kit"),
    "cynthia": ("cindy",),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davey"),
    "deborah": ("deb", "debbie", "debby"),
    "dolores": ("lola",),
    "donald": ("don", "donnie"),
    "dorothy": ("dot", "dottie"),
    "douglas": ("doug",),
    "edward": ("ed", "eddie", "ted", "ned"),
    "eduardo": ("lalo", "eddie"),
    "elizabeth": ("liz", "beth", "betty", "lizzie", "eliza", "betsy"),
    "enrique": ("kike",),
    "eugene": ("gene",),
    "francis": ("frank", "fran"),
    "francisco": ("paco", "pancho", "frank"),
    "frederick": ("fred", "freddie"),
    "gerald": ("jerry",),
    "gregory": ("greg",),
    "guadalupe": ("lupe",),
    "guillermo": ("memo", "willy"),
    "harold": ("harry", "hal"),
    "henry": ("hank", "harry"),
    "ignacio": ("nacho",),
    "jacqueline": ("jackie",),
    "james": ("jim", "jimmy", "jamie"),
    "jeffrey": ("jeff",),
    "jennifer": ("jen", "jenny"),
    "jesus": ("chuy",),
    "jessica": ("jess", "jessie"),
    "john": ("jack", "johnny", "jon"),
    "jonathan": ("jon", "jonny"),
    "jose": ("pepe",),
    "joseph": ("joe", "joey"),
    "joshua": ("josh",),
    "katherine": ("kathy", "kate", "katie", "kat"),
    "kenneth": ("ken", "kenny"),
    "kimberly": ("kim",),
    "lawrence": ("larry",),
    "leonard": ("leo", "len", "lenny"),
    "margaret": ("maggie", "peggy", "meg", "marge"),
    "margarita": ("rita",),
    "matthew": ("matt",),
    "michael": ("mike", "mikey", "mick"),
    "nathaniel": ("nate", "nathan", "nat"),
    "nicholas": ("nick", "nicky"),
    "pamela": ("pam",),
    "patricia": ("pat", "patty", "trish", "tricia"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "phillip": ("phil",),
    "raymond": ("ray",),
    "rebecca": ("becky", "becca"),
    "richard": ("rick", "rich", "dick", "ricky"),
    "robert": ("bob", "rob", "bobby", "robbie", "bert"),
    "roberto": ("beto",),
    "ronald": ("ron", "ronnie"),
    "rosario": ("charo",),
    "samantha": ("sam", "sammy"),
    "samuel": ("sam", "sammy"),
    "stephen": ("steve", "stevie"),
    "steven": ("steve", "stevie"),
    "susan": ("sue", "susie"),
    "theodore": ("ted", "teddy", "theo"),
    "thomas": ("tom", "tommy"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "tori"),
    "walter": ("walt",),
    "william": ("bill", "will", "billy", "willy", "liam"),
    "zachary": ("zach", "zack"),
}
_SHORT_TO_FULL: dict[str, set[str]] = {}
for _full, _shorts in _NICKNAMES.items():
    for _short in _shorts:
        _SHORT_TO_FULL.setdefault(_short, set()).add(_full)

MIN_PREFIX = 3  # "Zeb" for "Zebulon"; a single initial is not enough


def nickname_of(a: str, b: str) -> bool:
    """One normalised first name is a common short form of the other (or both are short
    forms of one name: "Bill" / "Will")."""
    fulls_a = _SHORT_TO_FULL.get(a, set()) | ({a} if a in _NICKNAMES else set())
    fulls_b = _SHORT_TO_FULL.get(b, set()) | ({b} if b in _NICKNAMES else set())
    return bool(fulls_a & fulls_b) and a != b


def _close(a: str, b: str, a_code: str | None, b_code: str | None) -> bool:
    ca, cb = a.replace(" ", ""), b.replace(" ", "")
    if ca == cb or (a_code is not None and a_code == b_code):
        return True
    if jaro_winkler(ca, cb) >= SIMILAR_JW:
        return True
    small, large = sorted((set(a.split()), set(b.split())), key=len)
    return small < large and any(len(t) >= 3 for t in small)


def _first_names_agree(a: PersonFeatures, b: PersonFeatures) -> bool:
    assert a.first is not None and b.first is not None
    if _close(a.first, b.first, a.first_code, b.first_code):
        return True
    x, y = a.first.replace(" ", ""), b.first.replace(" ", "")
    short, long = sorted((x, y), key=len)
    return nickname_of(x, y) or (len(short) >= MIN_PREFIX and long.startswith(short))


def could_be_one_person(a: PersonFeatures, b: PersonFeatures) -> bool:
    """The people two reports of one scene name could be one person (module doc)."""
    if a.dob is None or b.dob is None or a.dob != b.dob:
        return False
    if not (a.last and b.last and a.first and b.first):
        return False
    return _close(a.last, b.last, a.last_code, b.last_code) and _first_names_agree(a, b)
