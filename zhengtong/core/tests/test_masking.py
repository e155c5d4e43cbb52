"""Masking rules applied to cleaned registry values (invariant 4): every strategy with typical Chinese values, odd
input types masked rather than shown, the keyed pseudonym's stability and separation, and properties that a
masked value never shows the characters it hides.

Expected values are written out by hand from the rules in issue 5 (resident ID 6+4, phone 3+4, bank card 4+4,
张*, address to the county, date to the year), not computed with the code under test.
"""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhengtong.core.masking import FULL_MASK, apply_rule

RESIDENT_ID = "110101199003071234"
POINT = {"lon": 118.1, "lat": 24.48}
GEOMETRY = {"type": "Polygon", "coordinates": [[[118.0, 24.0], [118.1, 24.0], [118.1, 24.1], [118.0, 24.0]]]}
KEY_A = b"consumer-a-pseudonym-key-32bytes"
KEY_B = b"consumer-b-pseudonym-key-32bytes"
TOKEN = re.compile(r"pn_[a-z2-7]{16}")
RULES = ["none", "null", "name", "address_district", "date_year", "pseudonym", "keep:6:4"]

# Characters that may appear in Chinese personal values, plus spaces, digits and the mask character itself.
CHINESE = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
TEXT = st.text(st.one_of(CHINESE, st.characters(codec="utf-8")), max_size=40)


# none and null -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["张三", RESIDENT_ID, 42, True, "12.50", POINT, GEOMETRY, None])
def test_none_returns_the_value_unchanged(value):
    assert apply_rule("none", value) is value


@pytest.mark.parametrize("value", ["张三", 42, False, POINT, GEOMETRY, None])
def test_null_returns_none(value):
    assert apply_rule("null", value) is None


@pytest.mark.parametrize("rule", RULES)
def test_none_stays_none_under_every_rule(rule):
    assert apply_rule(rule, None, pseudonym_key=KEY_A) is None


# name --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "masked"), [
    ("张三", "张*"),
    ("王小明", "王**"),
    ("欧阳娜娜", "欧阳**"),
    ("诸葛孔明", "诸葛**"),
    ("欧阳", "欧*"),  # the compound surname alone is a surname and a given name
    ("李", "*"),
    ("  王小明 ", "王**"),
    ("", ""),
])
def test_name_keeps_the_surname(name, masked):
    assert apply_rule("name", name) == masked


@pytest.mark.parametrize("value", [12345, True, 3.5, POINT, GEOMETRY, ["张三"]])
def test_name_on_a_value_that_is_not_text_is_fully_masked(value):
    assert apply_rule("name", value) == FULL_MASK


# keep:F:L ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "value", "masked"), [
    ("keep:6:4", RESIDENT_ID, "110101********1234"),
    ("keep:6:4", "11010119900307123X", "110101********123X"),
    ("keep:3:4", "13812345678", "138****5678"),
    ("keep:4:4", "6222021234567890123", "6222***********0123"),
    ("keep:2:4", "云民婚字2026第0001号", "云民********001号"),
    ("keep:0:0", "机密", "**"),
    ("keep:6:4", "123456789", "*********"),  # too short to keep both ends: nothing shows
    ("keep:6:4", "1234567890", "**********"),
    ("keep:6:4", "", ""),
    ("keep:3:4", 13812345678, "138****5678"),  # a number is kept like its text
])
def test_keep_shows_only_the_ends(rule, value, masked):
    assert apply_rule(rule, value) == masked


@pytest.mark.parametrize("value", [True, False, POINT, GEOMETRY, ["13812345678"]])
def test_keep_on_a_flag_a_point_or_a_geometry_is_fully_masked(value):
    assert apply_rule("keep:1:1", value) == FULL_MASK


@given(value=TEXT, first=st.integers(0, 32), last=st.integers(0, 32))
def test_keep_never_shows_more_than_first_plus_last_characters(value, first, last):
    masked = apply_rule(f"keep:{first}:{last}", value)
    assert len(masked) == len(value)
    if first + last >= len(value):
        assert masked == "*" * len(value)
        return
    hidden = len(value) - first - last
    assert masked == value[:first] + "*" * hidden + value[len(value) - last:]


@given(number=st.integers(), first=st.integers(0, 32), last=st.integers(0, 32))
def test_keep_on_a_number_never_shows_more_than_first_plus_last_characters(number, first, last):
    masked = apply_rule(f"keep:{first}:{last}", number)
    assert sum(character != "*" for character in masked) <= first + last


# address_district --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "masked"), [
    ("云岭省云溪市东湖区解放路12号3单元", "云岭省云溪市东湖区******"),
    ("云岭省云溪市东湖区", "云岭省云溪市东湖区******"),  # nothing after the county: the same fixed mask
    ("云岭省安平县城关镇市场路8号", "云岭省安平县******"),
    ("云岭省云溪市安平市城关镇", "云岭省云溪市安平市******"),  # county-level city
    ("北京市海淀区中关村大街1号", "北京市海淀区******"),  # municipality, no province
    ("上海市浦东新区世纪大道100号", "上海市浦东新区******"),
    ("浙江省杭州市西湖区文三路", "浙江省杭州市西湖区******"),  # 州 inside a city name is not a unit
    ("广西壮族自治区南宁市青秀区民族大道", "广西壮族自治区南宁市青秀区******"),
    ("内蒙古自治区呼伦贝尔市鄂温克族自治旗巴彦托海镇", "内蒙古自治区呼伦贝尔市鄂温克族自治旗******"),
    ("内蒙古自治区锡林郭勒盟正蓝旗上都镇", "内蒙古自治区锡林郭勒盟正蓝旗******"),
    ("吉林省延边朝鲜族自治州延吉市人民路", "吉林省延边朝鲜族自治州延吉市******"),
    ("新疆维吾尔自治区阿克苏地区库车市", "新疆维吾尔自治区阿克苏地区库车市******"),
    ("云岭省 云溪市 东湖区 解放路12号", "云岭省 云溪市 东湖区******"),
    ("  东湖区解放路12号  ", "东湖区******"),
])
def test_address_keeps_up_to_the_county(address, masked):
    assert apply_rule("address_district", address) == masked


@pytest.mark.parametrize(("address", "masked"), [
    ("云溪市阳光小区3栋2单元", "云溪市******"),  # a housing estate is not a district
    ("云溪市东山社区", "云溪市******"),
    ("云溪市红旗路5号", "云溪市******"),  # 旗 of a street name is not a banner
    ("云溪市中山公园北区5栋", "云溪市******"),  # too long a name for a district
])
def test_places_that_only_look_like_districts_are_masked(address, masked):
    assert apply_rule("address_district", address) == masked


@pytest.mark.parametrize("address", ["解放路12号3单元", "阳光小区5栋", "Room 5, 12 Jiefang Road", "12345"])
def test_address_without_a_county_is_masked_entirely(address):
    assert apply_rule("address_district", address) == FULL_MASK


def test_address_mask_does_not_tell_the_length():
    short = apply_rule("address_district", "云岭省云溪市东湖区解放路1号")
    long = apply_rule("address_district", "云岭省云溪市东湖区解放路南段128号阳光小区3栋2单元1201室")
    assert short == long == "云岭省云溪市东湖区******"


@pytest.mark.parametrize(("value", "masked"), [
    ("", ""), (12, FULL_MASK), (True, FULL_MASK), (POINT, None), (GEOMETRY, None),
])
def test_address_on_empty_and_non_text_values(value, masked):
    assert apply_rule("address_district", value) == masked


@given(TEXT)
def test_address_shows_at_most_a_prefix_without_digits(address):
    masked = apply_rule("address_district", address)
    if masked == "":
        assert address.strip() == ""
        return
    assert masked.endswith(FULL_MASK)
    shown = masked[:-len(FULL_MASK)]
    assert address.strip().startswith(shown)
    assert not any(character.isdigit() for character in shown)


# date_year ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "masked"), [
    ("1985-06-01", "1985"),
    ("2026-03-01T09:30:00+08:00", "2026"),
    ("2025-12-31T23:30:00-05:00", "2025"),  # the year as written, not moved to another zone
    ("0987-01-02", "0987"),
    (datetime.date(1990, 3, 7), "1990"),
    (datetime.datetime(2001, 9, 1, 8, 0), "2001"),
    ("", ""),
    ("1985", FULL_MASK),
    ("1985-13-01", FULL_MASK),
    ("一九八五年六月一日", FULL_MASK),
    (19850601, FULL_MASK),
    (True, FULL_MASK),
    (POINT, None),
    (GEOMETRY, None),
])
def test_date_keeps_the_year(value, masked):
    assert apply_rule("date_year", value) == masked


@given(st.dates())
def test_date_year_shows_only_the_year(day):
    assert apply_rule("date_year", day.isoformat()) == f"{day.year:04d}"


# pseudonym ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", ["intl", "gm"])
def test_pseudonym_is_stable_per_key_and_different_across_keys(settings, suite):
    settings.CRYPTO_SUITE = suite
    first = apply_rule("pseudonym", RESIDENT_ID, pseudonym_key=KEY_A)
    assert apply_rule("pseudonym", RESIDENT_ID, pseudonym_key=KEY_A) == first
    assert apply_rule("pseudonym", RESIDENT_ID, pseudonym_key=KEY_B) != first
    assert apply_rule("pseudonym", "110101199003071242", pseudonym_key=KEY_A) != first
    assert TOKEN.fullmatch(first)
    assert RESIDENT_ID not in first and "1234" not in first


def test_pseudonym_depends_on_the_suite(settings):
    settings.CRYPTO_SUITE = "intl"
    intl = apply_rule("pseudonym", "张三", pseudonym_key=KEY_A)
    settings.CRYPTO_SUITE = "gm"
    assert apply_rule("pseudonym", "张三", pseudonym_key=KEY_A) != intl


def test_pseudonym_of_other_types():
    assert apply_rule("pseudonym", 1, pseudonym_key=KEY_A) != apply_rule("pseudonym", "1", pseudonym_key=KEY_A)
    assert apply_rule("pseudonym", True, pseudonym_key=KEY_A) != apply_rule("pseudonym", 1, pseudonym_key=KEY_A)
    reordered = {"lat": POINT["lat"], "lon": POINT["lon"]}
    assert apply_rule("pseudonym", POINT, pseudonym_key=KEY_A) == apply_rule("pseudonym", reordered,
                                                                             pseudonym_key=KEY_A)
    for value in (1, True, POINT, GEOMETRY, ""):
        assert TOKEN.fullmatch(apply_rule("pseudonym", value, pseudonym_key=KEY_A))


@given(value=TEXT)
def test_pseudonym_has_a_fixed_shape_and_does_not_contain_the_value(value):
    token = apply_rule("pseudonym", value, pseudonym_key=KEY_A)
    assert TOKEN.fullmatch(token)
    # Only a value made of the token's own few ASCII characters could turn up inside it by chance.
    assert value not in token or set(value) <= set("pn_abcdefghijklmnopqrstuvwxyz234567")


@pytest.mark.parametrize("key", [None, b""])
@pytest.mark.parametrize("value", ["张三", None])
def test_pseudonym_without_a_key_is_refused(key, value):
    with pytest.raises(ValueError, match="pseudonym key"):
        apply_rule("pseudonym", value, pseudonym_key=key)


# unknown rules -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["", "mask", "NONE", "keep", "keep:6", "keep:a:4", "keep:6:4:2", "keep:-1:4",
                                  "keep:33:0", "date_month", None, 3])
@pytest.mark.parametrize("value", ["张三", None])
def test_an_unknown_rule_is_refused(rule, value):
    with pytest.raises(ValueError):
        apply_rule(rule, value, pseudonym_key=KEY_A)
