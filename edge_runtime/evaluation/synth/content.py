"""What the synthetic sets say: words, names, prices, dates, plates and sentences, drawn from a seeded rng."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

Rng = np.random.Generator
T = TypeVar("T")

_WORD_TEXT = """
the of and to in is for on with as by at from this that be are was it or an not have has which
you all can will more one time new year people way day man thing woman life child world school state
family student group country problem hand part place case week company system program question work
government number night point home water room mother area money story fact month lot right study book
eye job word business issue side kind head house service friend father power hour game line end member
law car city community name president team minute idea kid body information back parent face others
level office door health person art war history party result change morning reason research girl guy
moment air teacher force education foot boy age policy music market sense nation plan college interest
death experience effect use class control care field development role effort rate heart drug show
leader light voice wife police mind price report decision son view relationship town road arm
difference value building action model season society tax director position player record paper space
ground form event official matter center couple site project activity star table need court oil
situation cost industry figure street image phone data picture practice piece land product doctor wall
patient worker news test movie north love support technology step baby computer type attention film
tree source organization hair window evidence population site garden river bridge station market coffee
summer winter spring autumn morning evening garden kitchen window letter number simple quiet gentle
bright strong early local public general small large green yellow orange purple silver golden modern
happy careful honest simple ancient famous useful private special central northern southern open closed
"""
WORDS = tuple(_WORD_TEXT.split())

SHOP_WORDS = (
    "MART",
    "STORE",
    "BAKERY",
    "CAFE",
    "MARKET",
    "TRADING",
    "ENTERPRISE",
    "KITCHEN",
    "HARDWARE",
    "PHARMACY",
    "BOOKS",
    "STATIONERY",
    "RESTAURANT",
    "GROCER",
    "DELI",
    "FRESH",
    "FOODS",
    "SUPPLY",
    "OUTLET",
    "CORNER",
    "DEPOT",
    "EMPORIUM",
    "NOODLE HOUSE",
    "TEA HOUSE",
    "BISTRO",
    "PIZZERIA",
)
NAME_WORDS = (
    "GOLDEN",
    "LUCKY",
    "SUNRISE",
    "EVERGREEN",
    "MAPLE",
    "ORIENT",
    "HARBOUR",
    "CITY",
    "ROYAL",
    "GREEN LEAF",
    "BLUE OCEAN",
    "SILVER",
    "PARKSIDE",
    "HILLTOP",
    "RIVERSIDE",
    "STAR",
    "UNION",
    "PIONEER",
    "WESTGATE",
    "EASTERN",
    "METRO",
    "PRIME",
    "NORTHWIND",
    "OAKWOOD",
    "CROWN",
)
STREETS = (
    "JALAN",
    "LORONG",
    "MAIN STREET",
    "HIGH STREET",
    "KING ROAD",
    "MARKET LANE",
    "STATION ROAD",
    "PARK AVENUE",
    "CHURCH STREET",
    "MILL ROAD",
    "BRIDGE STREET",
    "VICTORIA ROAD",
    "GARDEN WAY",
)
TOWNS = (
    "KUALA LUMPUR",
    "PETALING JAYA",
    "SHAH ALAM",
    "LONDON",
    "LEEDS",
    "BRISTOL",
    "SPRINGFIELD",
    "RIVERTON",
    "KLANG",
    "CHERAS",
    "OAKLAND",
    "MADISON",
    "FAIRVIEW",
    "GEORGETOWN",
    "IPOH",
    "YORK",
)
ITEMS = (
    "MILK",
    "BREAD",
    "EGGS",
    "RICE",
    "SUGAR",
    "COFFEE",
    "TEA",
    "BUTTER",
    "CHEESE",
    "APPLE",
    "BANANA",
    "ORANGE JUICE",
    "MINERAL WATER",
    "CHICKEN",
    "BEEF",
    "FISH BALL",
    "NOODLES",
    "SOY SAUCE",
    "SALT",
    "PAPER TOWEL",
    "SOAP",
    "SHAMPOO",
    "TOOTHPASTE",
    "BATTERY AA",
    "NOTEBOOK",
    "PEN BLUE",
    "TAPE",
    "FRIED RICE",
    "ICED LEMON TEA",
    "CURRY PUFF",
    "ROTI CANAI",
    "NASI LEMAK",
    "KOPI O",
    "TEH TARIK",
    "SCREW 4MM",
    "GLUE STICK",
    "A4 PAPER",
    "ENVELOPE",
    "CHOCOLATE",
    "BISCUIT",
    "YOGURT",
    "TOMATO",
)
SIGN_WORDS = (
    "OPEN",
    "CLOSED",
    "EXIT",
    "ENTRANCE",
    "PARKING",
    "NO ENTRY",
    "STOP",
    "SALE",
    "PUSH",
    "PULL",
    "TOILETS",
    "PHARMACY",
    "HOTEL",
    "CAFE",
    "BAKERY",
    "TAXI",
    "BUS STOP",
    "KEEP CLEAR",
    "WELCOME",
    "FIRE EXIT",
    "OFFICE",
    "RECEPTION",
    "LIFT",
    "PRIVATE",
    "DELIVERY",
    "BANK",
    "ATM",
    "POLICE",
    "MUSEUM",
    "STATION",
    "PLATFORM",
    "TICKETS",
    "INFORMATION",
    "BOOKS",
    "FLOWERS",
    "PIZZA",
    "Fresh Bread",
    "Coffee Shop",
    "Open Daily",
    "Happy Hour",
    "Free WiFi",
    "Car Wash",
    "Barber",
    "Florist",
    "Laundry",
    "Library",
    "Garden Centre",
    "Pet Shop",
    "Ice Cream",
    "Noodle Bar",
)


def pick(rng: Rng, seq: Sequence[T]) -> T:
    return seq[int(rng.integers(len(seq)))]


def chance(rng: Rng, p: float) -> bool:
    return bool(rng.random() < p)


def word(rng: Rng) -> str:
    return pick(rng, WORDS)


def digits(rng: Rng, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def letters(rng: Rng, n: int, alphabet: str = "ABCDEFGHJKLMNPRSTUVWXYZ") -> str:
    return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n))


def price(rng: Rng, high: float = 100.0) -> str:
    return f"{rng.uniform(0.5, high):.2f}"


def date(rng: Rng) -> str:
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(2015, 2027))
    style = int(rng.integers(3))
    return (f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y % 100:02d}")[style]


def clock(rng: Rng) -> str:
    return f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"


def sentence(rng: Rng, lo: int = 5, hi: int = 14) -> str:
    words = [word(rng) for _ in range(int(rng.integers(lo, hi + 1)))]
    words[0] = words[0].capitalize()
    if chance(rng, 0.2):
        words.insert(int(rng.integers(1, len(words))), digits(rng, int(rng.integers(1, 4))))
    if len(words) > 6 and chance(rng, 0.4):
        k = int(rng.integers(2, len(words) - 2))
        words[k] += ","
    return " ".join(words) + pick(rng, (".", ".", ".", "?", "!"))


def crop_word(rng: Rng) -> str:
    """A word crop's text: mostly dictionary words in any case, else numbers, codes, prices, dates."""
    r = rng.random()
    if r < 0.55:
        w = pick(rng, WORDS + tuple(s for s in SIGN_WORDS if " " not in s))
        return pick(rng, (w.lower(), w.capitalize(), w.upper(), w.upper()))
    if r < 0.65:
        return digits(rng, int(rng.integers(1, 6)))
    if r < 0.75:
        return pick(rng, ("$", "RM", "")) + price(rng, 500)
    if r < 0.85:
        return date(rng)
    if r < 0.92:
        return letters(rng, int(rng.integers(2, 4))) + "-" + digits(rng, int(rng.integers(2, 5)))
    return clock(rng)


def plate(rng: Rng) -> tuple[str, str]:
    """(printed text with its spaces, region) in one of a few national formats."""
    style = pick(rng, ("uk", "us", "de", "nl", "fr", "my"))
    if style == "uk":
        return f"{letters(rng, 2)}{digits(rng, 2)} {letters(rng, 3)}", style
    if style == "us":
        return pick(
            rng,
            (
                f"{digits(rng, 1)}{letters(rng, 3)}{digits(rng, 3)}",
                f"{letters(rng, 3)} {digits(rng, 4)}",
                f"{letters(rng, 3)}-{digits(rng, 3)}",
            ),
        ), style
    if style == "de":
        return (
            f"{letters(rng, int(rng.integers(1, 3)))} {letters(rng, 2)} {digits(rng, int(rng.integers(2, 5)))}",
            style,
        )
    if style == "nl":
        return f"{digits(rng, 2)}-{letters(rng, 3)}-{digits(rng, 1)}", style
    if style == "fr":
        return f"{letters(rng, 2)}-{digits(rng, 3)}-{letters(rng, 2)}", style
    return f"{letters(rng, 3)} {digits(rng, 4)}", style
