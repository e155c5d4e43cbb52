"""Schemas the registry tests share: a small person registry with an encrypted key and a composite-key one."""

from __future__ import annotations

from zhengtong.registries.models import FieldType, Grade, Level, Sensitivity, Validator
from zhengtong.registries.schema import FieldSpec


def person_fields(*, encrypted_key: bool = True) -> list[FieldSpec]:
    return [
        FieldSpec("resident_id", FieldType.TEXT, "公民身份号码", "resident ID", required=True, is_key=True,
                  unique=True, validator=Validator.RESIDENT_ID, sensitivity=Sensitivity.SENSITIVE_PERSONAL,
                  grade=Grade.IMPORTANT, level=Level.L4, masking="keep:6:4", encrypted=encrypted_key),
        FieldSpec("name", FieldType.TEXT, "姓名", "name", required=True, sensitivity=Sensitivity.PERSONAL,
                  level=Level.L3, masking="name", encrypted=True),
        FieldSpec("phone", FieldType.TEXT, "手机号码", "phone", validator=Validator.PHONE, unique=True,
                  sensitivity=Sensitivity.PERSONAL, level=Level.L3, masking="keep:3:4", encrypted=True),
        FieldSpec("division_code", FieldType.TEXT, "户籍地区划", "division", validator=Validator.DIVISION_CODE,
                  indexed=True),
        FieldSpec("birth_date", FieldType.DATE, "出生日期", "date of birth", sensitivity=Sensitivity.PERSONAL,
                  level=Level.L3, masking="date_year"),
    ]


def indicator_fields() -> list[FieldSpec]:
    return [
        FieldSpec("indicator", FieldType.ENUMERATION, "指标", "indicator", required=True, is_key=True,
                  choices=[{"value": "gdp", "label": "地区生产总值", "label_en": "GDP"},
                           {"value": "population", "label": "常住人口", "label_en": "resident population"}]),
        FieldSpec("division_code", FieldType.TEXT, "行政区划", "division", required=True, is_key=True,
                  validator=Validator.DIVISION_CODE),
        FieldSpec("period", FieldType.TEXT, "统计期", "period", required=True, is_key=True, validator=Validator.PATTERN,
                  pattern=r"\d{4}(-Q[1-4]|-\d{2})?"),
        FieldSpec("value", FieldType.DECIMAL, "数值", "value", required=True, sensitivity=Sensitivity.PUBLIC,
                  level=Level.L1),
    ]
