"""Masking (脱敏) of personal values for display.

Masking happens on the server, before a value reaches a template or a JSON body; the browser never receives
the full value. These are the plain string strategies; who may see what is decided elsewhere.
"""

from __future__ import annotations


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
