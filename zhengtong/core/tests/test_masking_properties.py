"""Property tests of masking, beside the worked examples of test_masking.py: whatever a rule hides cannot be told
from its masked form.

Each property is stated as indistinguishability where it can be: two values that differ only in what a rule
hides give the same masked value, so the masked value carries nothing of the hidden part (not its characters,
not their positions, for addresses and dates not even its length).
"""

from __future__ import annotations

import datetime

from hypothesis import assume, given
from hypothesis import strategies as st

from zhengtong.core.masking import COMPOUND_SURNAMES, FULL_MASK, PSEUDONYM_PREFIX, apply_rule, keep_ends

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
ANY_TEXT = st.text(st.one_of(CJK, st.characters(codec="utf-8")), max_size=40)
TOKEN_ALPHABET = set(PSEUDONYM_PREFIX + "abcdefghijklmnopqrstuvwxyz234567")
# Keys of one length, as the door derives them (32 bytes of HMAC): HMAC pads a short key with zero bytes, so keys
# of different lengths that differ only in trailing zeros would be one key.
KEYS = st.binary(min_size=32, max_size=32)


# --- keep:F:L ------------------------------------------------------------------------------------------------


@st.composite
def twins_differing_in_the_middle(draw: st.DrawFn) -> tuple[str, str, int, int]:
    """Two texts of one length that agree on the first `first` and last `last` characters, and differ in
    between."""
    first, last = draw(st.integers(0, 32)), draw(st.integers(0, 32))
    head = draw(st.text(st.characters(codec="utf-8"), min_size=first, max_size=first))
    tail = draw(st.text(st.characters(codec="utf-8"), min_size=last, max_size=last))
    middle = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=20))
    other = draw(st.text(st.characters(codec="utf-8"), min_size=len(middle), max_size=len(middle)))
    return head + middle + tail, head + other + tail, first, last


@given(twins_differing_in_the_middle())
def test_keep_cannot_tell_apart_values_that_differ_only_in_what_it_hides(twins: tuple[str, str, int, int]) -> None:
    one, other, first, last = twins
    rule = f"keep:{first}:{last}"
    assert apply_rule(rule, one) == apply_rule(rule, other)
    assert len(apply_rule(rule, one)) == len(one)


@given(value=st.text(st.characters(codec="utf-8", exclude_characters="*#"), max_size=40),
       first=st.integers(0, 32), last=st.integers(0, 32), mask=st.sampled_from("*#"))
def test_keep_never_shows_a_hidden_character_in_its_place(value: str, first: int, last: int, mask: str) -> None:
    masked = keep_ends(value, first, last, mask_char=mask)
    assert len(masked) == len(value)
    shown = range(first) if first + last < len(value) else range(0)
    ends = range(len(value) - last, len(value)) if first + last < len(value) else range(0)
    for position, character in enumerate(masked):
        if position in shown or position in ends:
            assert character == value[position]
        else:
            assert character == mask != value[position]


# --- name ----------------------------------------------------------------------------------------------------

SURNAMES = st.one_of(st.sampled_from(sorted(COMPOUND_SURNAMES)), st.sampled_from("王李张刘陈杨赵黄周吴徐孙"))


@given(surname=SURNAMES, given_name=st.text(CJK, min_size=1, max_size=3),
       other_given_name=st.text(CJK, min_size=3, max_size=3))
def test_a_masked_name_is_the_surname_and_one_mask_per_given_name_character(
        surname: str, given_name: str, other_given_name: str) -> None:
    masked = apply_rule("name", surname + given_name)
    assert masked == surname + "*" * len(given_name)
    # The given name's characters never show, wherever they are: names that share the surname and the length
    # read alike.
    other = surname + other_given_name[:len(given_name)]
    assert apply_rule("name", other) == masked


@given(ANY_TEXT)
def test_a_name_shows_at_most_its_first_two_characters(name: str) -> None:
    masked = apply_rule("name", name)
    cleaned = name.strip()
    assert len(masked) == len(cleaned)
    assert masked[2:] == "*" * len(cleaned[2:])
    if len(masked) >= 2 and masked[1] != "*":
        assert cleaned[:2] in COMPOUND_SURNAMES and len(cleaned) > 2


# --- date_year -----------------------------------------------------------------------------------------------

OFFSETS = st.integers(-12 * 60, 14 * 60).map(lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes)))


@given(day=st.dates(), other=st.dates(), moment=st.times(), zone=st.one_of(st.none(), OFFSETS))
def test_date_year_cannot_tell_apart_days_of_one_year(day: datetime.date, other: datetime.date,
                                                      moment: datetime.time, zone: datetime.tzinfo | None) -> None:
    same_year = other.replace(year=day.year) if not (other.month == 2 and other.day == 29) else other.replace(
        year=day.year, day=28)
    written = datetime.datetime.combine(same_year, moment, tzinfo=zone)
    expected = f"{day.year:04d}"
    for value in (day, day.isoformat(), same_year, same_year.isoformat(), written, written.isoformat()):
        assert apply_rule("date_year", value) == expected, value


# --- address_district ----------------------------------------------------------------------------------------

# Addresses up to their county-level unit: a district, a county, a banner, a new district.
DISTRICTS = st.sampled_from(["云岭省云溪市东湖区", "北京市海淀区", "云岭省安平县", "上海市浦东新区",
                             "广西壮族自治区南宁市青秀区", "内蒙古自治区锡林郭勒盟正蓝旗", "东湖区"])


@given(district=DISTRICTS, rest=ANY_TEXT)
def test_an_address_never_shows_anything_after_its_district(district: str, rest: str) -> None:
    masked = apply_rule("address_district", district + rest)
    assert masked.endswith(FULL_MASK)
    shown = masked[:-len(FULL_MASK)]
    assert district.startswith(shown)  # the district or less, never a character of what follows


@given(district=DISTRICTS, street=st.text(CJK, min_size=1, max_size=8), number=st.integers(1, 9999),
       other_street=st.text(CJK, min_size=1, max_size=30), other_number=st.integers(1, 9999))
def test_addresses_in_one_district_read_alike(district: str, street: str, number: int, other_street: str,
                                              other_number: int) -> None:
    one = apply_rule("address_district", f"{district}{number}号{street}")
    other = apply_rule("address_district", f"{district}{other_number}号{other_street}小区")
    assert one == other == district + FULL_MASK


# --- pseudonym -----------------------------------------------------------------------------------------------

JSON_VALUES = st.one_of(ANY_TEXT, st.integers(), st.booleans(),
                        st.fixed_dictionaries({"lon": st.floats(-180, 180), "lat": st.floats(-90, 90)}))


@given(value=JSON_VALUES, key=KEYS)
def test_a_pseudonym_never_contains_the_value(value: object, key: bytes) -> None:
    token = apply_rule("pseudonym", value, pseudonym_key=key)
    text = value if isinstance(value, str) else str(value)
    assume(not set(text) <= TOKEN_ALPHABET)  # only text of the token's own characters could turn up by chance
    assert text not in token


@given(value=JSON_VALUES, other_value=JSON_VALUES, key=KEYS, other_key=KEYS)
def test_pseudonyms_separate_values_and_keys(value: object, other_value: object, key: bytes, other_key: bytes
                                             ) -> None:
    token = apply_rule("pseudonym", value, pseudonym_key=key)
    assert apply_rule("pseudonym", value, pseudonym_key=key) == token
    if other_key != key:
        assert apply_rule("pseudonym", value, pseudonym_key=other_key) != token
    if type(other_value) is not type(value) or other_value != value:
        assert apply_rule("pseudonym", other_value, pseudonym_key=key) != token


# --- values a rule does not fit ------------------------------------------------------------------------------

NUMBERS = st.one_of(st.integers(), st.floats(allow_nan=False))
STRUCTURES = st.one_of(st.lists(ANY_TEXT, max_size=3), st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3))


@given(value=st.one_of(NUMBERS, st.booleans(), STRUCTURES))
def test_name_on_anything_but_text_is_fully_masked(value: object) -> None:
    assert apply_rule("name", value) == FULL_MASK


@given(value=st.one_of(st.booleans(), STRUCTURES), first=st.integers(0, 32), last=st.integers(0, 32))
def test_keep_on_flags_and_structures_is_fully_masked(value: object, first: int, last: int) -> None:
    assert apply_rule(f"keep:{first}:{last}", value) == FULL_MASK


@given(rule=st.sampled_from(["address_district", "date_year"]), value=st.one_of(NUMBERS, st.booleans()))
def test_address_and_date_on_numbers_and_flags_are_fully_masked(rule: str, value: object) -> None:
    assert apply_rule(rule, value) == FULL_MASK


@given(rule=st.sampled_from(["address_district", "date_year"]), value=STRUCTURES)
def test_address_and_date_on_points_and_geometries_are_withheld(rule: str, value: object) -> None:
    assert apply_rule(rule, value) is None
