"""Offline US data for a text recipient's time zone: area codes, and ZIP corrections.

Per ZIP, the state and zone come from the `zipcodes` package (see recipient_time.py);
ZIP_ZONE_OVERRIDES below corrects the few ZIPs where that data set is wrong. Its zones
were compared, for every ZIP, with the zone polygons of timezonefinder at the ZIP's
coordinates; each ZIP they disagreed on was looked at by hand.

Area codes: those in service per libphonenumber's metadata (9.0.43), each one checked
against the ZIPs that list it in the `zipcodes` data (same state for every area code).
An area code not listed here (toll-free, Canada and the Caribbean, codes newer than
this table) is unknown, and the caller falls back to the program's zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

EASTERN: Final = "America/New_York"
CENTRAL: Final = "America/Chicago"
MOUNTAIN: Final = "America/Denver"
PACIFIC: Final = "America/Los_Angeles"
INDIANA: Final = "America/Indiana/Indianapolis"

# Area codes of each state, territory and DC.
_AREA_CODES_BY_STATE: Final[Mapping[str, str]] = {
    "AK": "907",
    "AL": "205 251 256 334 659 938",
    "AR": "327 479 501 870",
    "AS": "684",
    "AZ": "480 520 602 623 928",
    "CA": "209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650"
    " 657 661 669 707 714 738 747 760 805 818 820 831 840 858 909 916 925 949 951",
    "CO": "303 719 720 748 970 983",
    "CT": "203 475 860 959",
    "DC": "202 771",
    "DE": "302",
    "FL": "239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863"
    " 904 941 954",
    "GA": "229 404 470 478 678 706 762 770 912 943",
    "GU": "671",
    "HI": "808",
    "IA": "319 515 563 641 712",
    "ID": "208 986",
    "IL": "217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 872",
    "IN": "219 260 317 463 574 765 812 930",
    "KS": "316 620 785 913",
    "KY": "270 364 502 606 859",
    "LA": "225 318 337 504 985",
    "MA": "339 351 413 508 617 774 781 857 978",
    "MD": "227 240 301 410 443 667",
    "ME": "207",
    "MI": "231 248 269 313 517 586 616 734 810 906 947 989",
    "MN": "218 320 507 612 651 763 952",
    "MO": "235 314 417 557 573 636 660 816 975",
    "MP": "670",
    "MS": "228 601 662 769",
    "MT": "406",
    "NC": "252 336 472 704 743 828 910 919 980 984",
    "ND": "701",
    "NE": "308 402 531",
    "NH": "603",
    "NJ": "201 551 609 640 732 848 856 862 908 973",
    "NM": "505 575",
    "NV": "702 725 775",
    "NY": "212 315 329 332 347 363 516 518 585 607 631 646 680 716 718 838 845 914 917 929 934",
    "OH": "216 220 234 283 326 330 380 419 440 513 567 614 740 937",
    "OK": "405 539 572 580 918",
    "OR": "458 503 541 971",
    "PA": "215 223 267 272 412 445 484 570 582 610 717 724 814 835 878",
    "PR": "787 939",
    "RI": "401",
    "SC": "803 821 839 843 854 864",
    "SD": "605",
    "TN": "423 615 629 731 865 901 931",
    "TX": "210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832"
    " 903 915 936 940 945 956 972 979",
    "UT": "385 435 801",
    "VA": "276 434 540 571 686 703 757 804 826 948",
    "VI": "340",
    "VT": "802",
    "WA": "206 253 360 425 509 564",
    "WI": "262 274 353 414 534 608 715 920",
    "WV": "304 681",
    "WY": "307",
}

# The zone of a state's area codes, unless _AREA_CODE_ZONES names another. Where a state
# spans two zones, this is the zone most of the people of most of its area codes live in.
_STATES_BY_ZONE: Final[Mapping[str, str]] = {
    EASTERN: "CT DC DE FL GA KY MA MD ME NC NH NJ NY OH PA RI SC VA VT WV",
    "America/Detroit": "MI",  # 906 (Upper Peninsula): Marquette, Sault Ste. Marie are Eastern
    INDIANA: "IN",
    CENTRAL: "AL AR IA IL KS LA MN MO MS ND NE OK SD TN TX WI",
    MOUNTAIN: "CO MT NM UT WY",
    "America/Boise": "ID",  # 208/986: southern Idaho (Mountain) outnumbers the Panhandle
    "America/Phoenix": "AZ",  # 928: the Navajo Nation keeps DST (Mountain), most do not
    PACIFIC: "CA NV OR WA",  # 541/458: Malheur Co. and 775: West Wendover are Mountain
    "America/Anchorage": "AK",  # 907: the western Aleutians (America/Adak) are few
    "Pacific/Honolulu": "HI",
    "America/Puerto_Rico": "PR",
    "America/St_Thomas": "VI",
    "Pacific/Guam": "GU",
    "Pacific/Saipan": "MP",
    "Pacific/Pago_Pago": "AS",
}

# Area codes whose zone differs from their state's; each is the zone most of its people
# live in (a minority of the area code is in the other zone, as said).
_AREA_CODE_ZONES: Final[Mapping[str, str]] = {
    # Florida panhandle: Pensacola, Fort Walton Beach, Panama City (Central) outnumber
    # Tallahassee and the Big Bend (Eastern).
    "850": CENTRAL,
    "448": CENTRAL,  # overlay of 850
    # NW Indiana (Gary, Hammond, Valparaiso, Michigan City): Central.
    "219": CENTRAL,
    # 812/930, southern Indiana: Evansville is Central; Bloomington, Terre Haute, Columbus,
    # Jeffersonville and most counties are Eastern, so they keep the state's zone.
    # Western Kentucky: Bowling Green, Owensboro, Paducah, Hopkinsville are Central;
    # Elizabethtown and a few counties are Eastern.
    "270": CENTRAL,
    "364": CENTRAL,  # overlay of 270
    # East Tennessee: Chattanooga, Knoxville, the Tri-Cities (a few Central counties).
    "423": EASTERN,
    "865": EASTERN,
    # El Paso and Hudspeth County, Texas: Mountain.
    "915": MOUNTAIN,
    # The rest of the mixed states keep their main zone: 308 (Nebraska; the Panhandle is
    # Mountain), 605 (South Dakota; West River is Mountain), 701 (North Dakota; the
    # southwest is Mountain), 620/785 (Kansas; four western counties are Mountain),
    # 606 (eastern Kentucky; a few Central counties), 931 (Tennessee; Central),
    # 334 (Alabama; Phenix City and Valley keep Eastern time unofficially).
}

# ZIPs the `zipcodes` data puts in the wrong zone, or in none that exists.
ZIP_ZONE_OVERRIDES: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Phenix City, Smiths Station, Salem, Valley and Lanett, Alabama: officially
        # Central, but they live on Eastern time with Columbus, Georgia.
        **dict.fromkeys(("36854", "36863", "36867", "36868", "36869", "36870"), EASTERN),
        **dict.fromkeys(("36874", "36877"), EASTERN),
        "37405": EASTERN,  # Chattanooga, TN (Hamilton County)
        "42757": CENTRAL,  # Magnolia, KY (Hart County)
        "67857": MOUNTAIN,  # Kendall, KS (Hamilton County)
        "79942": MOUNTAIN,  # El Paso, TX (PO boxes)
        "83522": PACIFIC,  # Cottonwood, ID (Idaho County, north of the Salmon River)
        "86003": "America/Phoenix",  # Flagstaff, AZ (PO boxes)
        "86040": "America/Phoenix",  # Page, AZ: outside the Navajo Nation, no DST
        "86045": MOUNTAIN,  # Tuba City, AZ: in the Navajo Nation, which keeps DST
        "89883": MOUNTAIN,  # West Wendover, NV: on Mountain time since 1999
        "99634": "America/Anchorage",  # Napakiak, AK (the data says "Napakiak")
    }
)


def _index() -> dict[str, tuple[str, str]]:
    zone_of_state = {
        state: zone for zone, states in _STATES_BY_ZONE.items() for state in states.split()
    }
    index: dict[str, tuple[str, str]] = {}
    for state, codes in _AREA_CODES_BY_STATE.items():
        for code in codes.split():
            if code in index:
                raise ValueError(f"area code {code} is listed twice")
            index[code] = (state, _AREA_CODE_ZONES.get(code, zone_of_state[state]))
    return index


AREA_CODES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(_index())
"""Area code -> (two-letter USPS state code, IANA zone name)."""


def area_code_zone(area_code: str) -> tuple[str, str] | None:
    """The state and zone name of a US area code, or None when it is not known here."""
    return AREA_CODES.get(area_code)
