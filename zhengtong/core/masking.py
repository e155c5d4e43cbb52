"""Masking (脱敏) of personal values for display.

Masking happens on the server, before a value reaches a template or a JSON body; the browser never receives
the full value. `apply_rule` applies a field's configured rule to a cleaned registry value, built on the
plain string strategies beside it; who may see what is decided elsewhere.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
from typing import Any

from zhengtong.core import crypto


def keep_ends(value: str | None, first: int, last: int, mask_char: str = "*") -> str:
    """Keep the first `first` and last `last` characters of `value` and mask every character between them.

    `keep_ends("110101199003071234", 6, 4)` → `"110101********1234"`. A value too short to keep both ends
    with at least one character masked is masked entirely, so a short value never shows through in full.
    An empty value stays empty.
    """
    if first < 0 or last < 0:
        raise ValueError("first and last must not be negative")
    if len(mask_char) != 1:
        raise ValueError("mask_char must be a single character")
    if not value:
        return ""
    length = len(value)
    if first + last >= length:
        return mask_char * length
    tail = value[length - last :] if last else ""
    return value[:first] + mask_char * (length - first - last) + tail


# Two-character (compound) surnames that are kept whole, so 欧阳娜娜 reads 欧阳** rather than 欧***.
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐",
    "长孙", "宇文", "司徒", "司空", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门",
    "呼延", "闻人", "万俟", "澹台", "公冶", "太叔", "申屠", "钟离", "濮阳", "淳于",
    "单于", "赫连", "拓跋",
})


def mask_name(name: str | None, mask_char: str = "*") -> str:
    """Keep the surname of a personal name and mask the given name: 张三 → 张*, 欧阳娜娜 → 欧阳**.

    The surname is the first character, or the first two when they are a known compound surname and the
    name is longer than that. A one-character name is masked entirely. Surrounding spaces are ignored.
    """
    if len(mask_char) != 1:
        raise ValueError("mask_char must be a single character")
    cleaned = (name or "").strip()
    if not cleaned:
        return ""
    if len(cleaned) == 1:
        return mask_char
    keep = 2 if len(cleaned) > 2 and cleaned[:2] in COMPOUND_SURNAMES else 1
    return cleaned[:keep] + mask_char * (len(cleaned) - keep)


def mask_resident_id(value: str | None) -> str:
    """A resident ID with the six-digit division code and the last four characters showing."""
    return keep_ends(value, 6, 4)


def mask_phone(value: str | None) -> str:
    """A mobile number with the first three and last four digits showing: 138****5678."""
    return keep_ends(value, 3, 4)


# Masking rules as configured on a field: "none", "null", "name", "keep:<first>:<last>", "address_district",
# "date_year", "pseudonym". The one door applies them; definitions are checked here so a bad rule is refused
# when the field is defined, not when someone reads it.
SIMPLE_RULES = ("none", "null", "name", "address_district", "date_year", "pseudonym")


def check_rule(rule: str) -> str | None:
    """None when `rule` is a masking rule this platform knows, else the reason it is not."""
    if rule in SIMPLE_RULES:
        return None
    parts = rule.split(":")
    if parts[0] == "keep":
        if len(parts) == 3 and all(part.isdigit() and int(part) <= 32 for part in parts[1:]):
            return None
        return "keep takes two numbers, like keep:6:4"
    return f"unknown masking rule {rule!r}; use one of {', '.join(SIMPLE_RULES)} or keep:<first>:<last>"


# What a value becomes when a rule hides it entirely or hides everything after an address's county: always the
# same six characters, so the masked form does not give away the length of what it hides.
FULL_MASK = "******"

# An address is read as up to three administrative units, each a name of Chinese characters ending in the unit's
# suffix: an optional province (省, 自治区, 特别行政区), an optional prefecture (市, 自治州, 盟, 地区) and the
# county-level unit that is kept (区, 县, 县级市, 旗, 自治县, 自治旗). A name never contains a unit suffix or a
# street word (路, 街, 号...), so a unit cannot reach across into the street part; 州 counts only as 自治州,
# since it ends many city names (杭州市). Names are at most four characters, longer only before 自治…: places
# such as 中山公园北区 are then not taken for districts. The rare real unit this misses (市中区, 科尔沁左翼中旗)
# is masked with everything after it, which errs on the safe side.
_NAME_CHAR = r"(?:(?![省市区县旗盟路街巷弄号村])[\u4e00-\u9fff])"


def _unit(suffixes: str, autonomous: str) -> str:
    return rf"(?:{_NAME_CHAR}{{1,4}}(?:{suffixes})|{_NAME_CHAR}{{1,15}}{autonomous})"


_ADDRESS_DISTRICT = re.compile(
    rf"(?:{_unit('省|特别行政区', '自治区')}\s*)?"
    rf"(?:{_unit('市|盟|地区', '自治州')}\s*)?"
    # Not 阳光小区, 东山社区... and not the street 红旗路.
    rf"{_unit('(?<![小社校片景厂院宅])区|县|市|旗', '自治[县旗]')}(?![路街巷道弄号])"
)


def mask_address(address: str) -> str:
    """The address up to and including its county-level unit, then FULL_MASK: 云岭省云溪市东湖区解放路12号 →
    云岭省云溪市东湖区******. Without a county-level unit the whole address is FULL_MASK.

    A city followed directly by the street is taken as county-level (北京市朝阳路 → 北京市******): that shows
    no more than a district would.
    """
    cleaned = address.strip()
    if not cleaned:
        return ""
    match = _ADDRESS_DISTRICT.match(cleaned)
    return (match.group(0) if match else "") + FULL_MASK


def mask_date_year(value: str | datetime.date) -> str:
    """The year of an ISO date or date-time ("1985-06-01" → "1985"), as written (no change of time zone);
    empty text stays empty and anything else that is not a date is FULL_MASK."""
    if isinstance(value, datetime.date):
        return f"{value.year:04d}"
    text = value.strip()
    if not text:
        return ""
    for parse in (datetime.date.fromisoformat, datetime.datetime.fromisoformat):
        try:
            return f"{parse(text).year:04d}"
        except ValueError:
            continue
    return FULL_MASK


PSEUDONYM_PREFIX = "pn_"
_PSEUDONYM_DOMAIN = b"zhengtong.masking.pseudonym\x00"


def pseudonym(value: Any, key: bytes) -> str:
    """A keyed pseudonym of `value`: the same for the same key and value, unrelated across keys, and not
    reversible without the key. 80 bits of the suite's HMAC in base32, so collisions stay out of reach at
    registry scale."""
    # The JSON form tells 1 from "1" and orders a point's keys, so equal values always give equal text.
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    mac = crypto.hmac_digest(key, _PSEUDONYM_DOMAIN + canonical.encode())
    return PSEUDONYM_PREFIX + base64.b32encode(mac[:10]).decode().lower()


def apply_rule(rule: str, value: Any, *, pseudonym_key: bytes | None = None) -> Any:
    """`value` (the cleaned JSON value of a registry field) masked by `rule`.

    A value the rule does not fit is never returned in clear: a text rule on a number, a flag or a point gives
    FULL_MASK, and address_district or date_year on a point or a geometry give None. None stays None and
    empty text stays empty. Raises ValueError for an unknown rule, and for pseudonym without a key (the one
    door always passes the reader's).
    """
    if not isinstance(rule, str):
        raise ValueError(f"a masking rule is text, not {type(rule).__name__}")
    if (problem := check_rule(rule)) is not None:
        raise ValueError(problem)
    if rule == "pseudonym":
        if not pseudonym_key:
            raise ValueError("the pseudonym rule needs the reader's pseudonym key")
        return None if value is None else pseudonym(value, pseudonym_key)
    if rule == "none":
        return value
    if rule == "null" or value is None:
        return None
    if rule.startswith("keep:"):
        _, first, last = rule.split(":")
        # A bool's text (True) would tell its value; numbers are kept like text, as an ID number stored as int.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        return keep_ends(value, int(first), int(last)) if isinstance(value, str) else FULL_MASK
    if isinstance(value, (dict, list)) and rule in ("address_district", "date_year"):
        return None
    if rule == "name" and isinstance(value, str):
        return mask_name(value)
    if rule == "address_district" and isinstance(value, str):
        return mask_address(value)
    if rule == "date_year" and isinstance(value, (str, datetime.date)):
        return mask_date_year(value)
    return FULL_MASK
