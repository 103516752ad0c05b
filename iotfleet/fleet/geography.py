"""Continents and their countries (ISO 3166-1 alpha-2), for spreading a fleet across markets.

Countries are listed in a fixed order per continent, largest vehicle markets first, so "the first N countries
of a continent" is a stable, meaningful choice.
"""

from __future__ import annotations

from iotfleet.aws.errors import UsageError

CONTINENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "North America": (
        ("US", "United States"), ("CA", "Canada"), ("MX", "Mexico"), ("GT", "Guatemala"), ("CU", "Cuba"),
        ("DO", "Dominican Republic"), ("CR", "Costa Rica"), ("PA", "Panama"), ("HN", "Honduras"),
        ("SV", "El Salvador"), ("NI", "Nicaragua"), ("JM", "Jamaica"), ("TT", "Trinidad and Tobago"),
        ("BS", "Bahamas"), ("BZ", "Belize"), ("HT", "Haiti"), ("BB", "Barbados"),
    ),
    "South America": (
        ("BR", "Brazil"), ("AR", "Argentina"), ("CO", "Colombia"), ("CL", "Chile"), ("PE", "Peru"),
        ("VE", "Venezuela"), ("EC", "Ecuador"), ("UY", "Uruguay"), ("PY", "Paraguay"), ("BO", "Bolivia"),
        ("GY", "Guyana"), ("SR", "Suriname"),
    ),
    "Europe": (
        ("DE", "Germany"), ("FR", "France"), ("GB", "United Kingdom"), ("IT", "Italy"), ("ES", "Spain"),
        ("PL", "Poland"), ("NL", "Netherlands"), ("BE", "Belgium"), ("SE", "Sweden"), ("AT", "Austria"),
        ("CH", "Switzerland"), ("CZ", "Czechia"), ("PT", "Portugal"), ("DK", "Denmark"), ("NO", "Norway"),
        ("FI", "Finland"), ("IE", "Ireland"), ("GR", "Greece"), ("RO", "Romania"), ("HU", "Hungary"),
        ("SK", "Slovakia"), ("BG", "Bulgaria"), ("HR", "Croatia"), ("SI", "Slovenia"), ("LT", "Lithuania"),
        ("LV", "Latvia"), ("EE", "Estonia"), ("LU", "Luxembourg"), ("UA", "Ukraine"), ("RS", "Serbia"),
        ("IS", "Iceland"), ("MT", "Malta"), ("CY", "Cyprus"),
    ),
    "Asia": (
        ("CN", "China"), ("JP", "Japan"), ("IN", "India"), ("KR", "South Korea"), ("ID", "Indonesia"),
        ("TH", "Thailand"), ("TR", "Turkey"), ("SA", "Saudi Arabia"), ("MY", "Malaysia"), ("VN", "Vietnam"),
        ("PH", "Philippines"), ("AE", "United Arab Emirates"), ("IL", "Israel"), ("TW", "Taiwan"),
        ("SG", "Singapore"), ("PK", "Pakistan"), ("KZ", "Kazakhstan"), ("QA", "Qatar"), ("BD", "Bangladesh"),
        ("LK", "Sri Lanka"), ("KW", "Kuwait"), ("OM", "Oman"), ("JO", "Jordan"), ("UZ", "Uzbekistan"),
    ),
    "Africa": (
        ("ZA", "South Africa"), ("EG", "Egypt"), ("MA", "Morocco"), ("NG", "Nigeria"), ("DZ", "Algeria"),
        ("KE", "Kenya"), ("TN", "Tunisia"), ("GH", "Ghana"), ("ET", "Ethiopia"), ("CI", "Cote d'Ivoire"),
        ("TZ", "Tanzania"), ("AO", "Angola"), ("SN", "Senegal"), ("UG", "Uganda"), ("CM", "Cameroon"),
        ("BW", "Botswana"), ("NA", "Namibia"), ("MU", "Mauritius"), ("ZM", "Zambia"), ("RW", "Rwanda"),
    ),
    "Oceania": (
        ("AU", "Australia"), ("NZ", "New Zealand"), ("PG", "Papua New Guinea"), ("FJ", "Fiji"),
        ("NC", "New Caledonia"), ("PF", "French Polynesia"), ("SB", "Solomon Islands"), ("VU", "Vanuatu"),
        ("WS", "Samoa"), ("TO", "Tonga"),
    ),
    "Antarctica": (("AQ", "Antarctica"),),
}

COUNTRY_NAMES: dict[str, str] = {code: name for countries in CONTINENTS.values() for code, name in countries}
CONTINENT_OF: dict[str, str] = {
    code: continent for continent, countries in CONTINENTS.items() for code, _ in countries
}


def continent_names() -> list[str]:
    """The continents, in menu order."""
    return list(CONTINENTS)


def check_continent(name: str, param: str | None = "--continent") -> str:
    """The canonical continent name for ``name`` (case and spacing insensitive)."""
    wanted = "".join(name.split()).lower()
    for continent in CONTINENTS:
        if "".join(continent.split()).lower() == wanted:
            return continent
    choices = ", ".join(CONTINENTS)
    raise UsageError(f"unknown continent {name!r}; choose one of: {choices}", param=param)


def first_countries(continent: str, count: int) -> list[str]:
    """The first ``count`` country codes of ``continent``."""
    countries = CONTINENTS[check_continent(continent)]
    if not 1 <= count <= len(countries):
        raise UsageError(
            f"{continent} has {len(countries)} countries in iotfleet's list; ask for 1 to {len(countries)}",
            param="--countries",
        )
    return [code for code, _ in countries[:count]]


def check_countries(codes: list[str], param: str | None = "--countries") -> list[str]:
    """Upper-cased ISO codes, in the given order; an unknown code, or one given twice, is a usage error."""
    result: list[str] = []
    unknown: list[str] = []
    twice: list[str] = []
    for raw in codes:
        code = raw.strip().upper()
        if not code:
            continue
        if code not in COUNTRY_NAMES:
            unknown.append(raw.strip())
        elif code in result:
            twice.append(code)
        else:
            result.append(code)
    if unknown:
        raise UsageError(f"unknown country code(s): {', '.join(unknown)} (use ISO 3166-1 alpha-2, e.g. US, DE)", param=param)
    if twice:
        # Two groups of one country cannot exist; a repeated code is a slip worth pointing out, not skipping.
        raise UsageError(f"country code(s) given twice: {', '.join(sorted(set(twice)))}", param=param)
    if not result:
        raise UsageError("at least one country is required", param=param)
    return result


def group_name_for_country(code: str) -> str:
    """The static thing group of a country, e.g. ``US_Fleet``."""
    return f"{code}_Fleet"


def group_name_for_continent(continent: str) -> str:
    """The optional parent group of a continent's country groups, e.g. ``NorthAmerica_Fleet``."""
    return "".join(continent.split()) + "_Fleet"
