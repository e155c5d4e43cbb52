"""A registry's schema as plain values: checking a definition, and turning input into stored values.

`FieldSpec` mirrors `RegistryField` so that definitions can be checked, compared and applied to values
without the database. `Schema.clean(values)` is the one place record values are validated: the record
actions, the importer and schema changes all call it, so a value is accepted by one rule everywhere.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.core import masking
from zhengtong.core.errors import FieldProblem
from zhengtong.identity import validation
from zhengtong.registries.models import FieldType, Grade, Level, Sensitivity, Validator

NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
KEY_TYPES = {FieldType.TEXT, FieldType.INTEGER, FieldType.DECIMAL, FieldType.DATE, FieldType.ENUMERATION}
KEY_SEPARATOR = "\x1f"  # joins the values of a composite key; cannot occur in a cleaned value
KEY_MAX_LENGTH = 200
MOBILE = re.compile(r"1[3-9]\d{9}")
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection")
TRUE_WORDS = {"true", "1", "yes", "y", "是", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "否", "f"}
INTEGER_LIMIT = 2**63


@dataclass
class FieldSpec:
    name: str
    type: str
    label: str
    label_en: str = ""
    description: str = ""
    required: bool = False
    is_key: bool = False
    unique: bool = False
    indexed: bool = False
    validator: str = ""
    pattern: str = ""
    max_length: int | None = None
    choices: list[dict[str, str]] = field(default_factory=list)
    sensitivity: str = Sensitivity.INTERNAL
    grade: int = Grade.GENERAL
    level: int = Level.L2
    masking: str = ""
    encrypted: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FieldSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def searchable(self) -> bool:
        """Whether the field gets a lookup term (records are found by it) besides the key."""
        return (self.indexed or self.unique) and not self.is_key


class BadValue(Exception):
    """A value that does not fit its field; the message is the reason people read."""


class Context:
    """What value checks look up outside the value itself: known division codes, stored files. Loaded once
    per import or action, not once per value."""

    def __init__(self, division_codes: Callable[[], set[str]], file_exists: Callable[[str], bool]):
        self._load_divisions = division_codes
        self._divisions: set[str] | None = None
        self.file_exists = file_exists

    @property
    def division_codes(self) -> set[str]:
        if self._divisions is None:
            self._divisions = self._load_divisions()
        return self._divisions


# --- checking a definition --------------------------------------------------------------------------------------


def check_definition(specs: list[FieldSpec]) -> list[FieldProblem]:
    """Every problem with a list of field definitions, each naming `fields[i].attribute`."""
    problems: list[FieldProblem] = []
    if not specs:
        return [FieldProblem("fields", _("A registry needs at least one field."))]
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        def problem(attribute: str, reason: str, index: int = index) -> None:
            problems.append(FieldProblem(f"fields[{index}].{attribute}", reason))

        if not NAME.fullmatch(spec.name or ""):
            problem("name", _("Use lower-case letters, digits and _, starting with a letter (at most 64)."))
        elif spec.name in seen:
            problem("name", _("Two fields are named %(name)s.") % {"name": spec.name})
        seen.add(spec.name)
        if spec.type not in FieldType.values:
            problem("type", _("Unknown type %(type)s.") % {"type": spec.type})
        if not (spec.label or "").strip():
            problem("label", _("Every field needs a label."))
        if spec.validator not in Validator.values:
            problem("validator", _("Unknown validator %(name)s.") % {"name": spec.validator})
        elif spec.validator and spec.type != FieldType.TEXT:
            problem("validator", _("Validators apply to text fields only."))
        if spec.validator == Validator.PATTERN:
            if not spec.pattern:
                problem("pattern", _("A pattern validator needs a pattern."))
            else:
                try:
                    re.compile(spec.pattern)
                except re.error as error:
                    problem("pattern", _("The pattern is not a valid regular expression: %(error)s")
                            % {"error": error})
        elif spec.pattern:
            problem("pattern", _("A pattern is only used with the pattern validator."))
        if spec.max_length is not None and (spec.type != FieldType.TEXT or spec.max_length < 1):
            problem("max_length", _("A maximum length applies to text fields and is at least 1."))
        if spec.type == FieldType.ENUMERATION:
            values = [str(choice.get("value", "")).strip() for choice in spec.choices or []]
            if not values or not all(values):
                problem("choices", _("An enumeration needs choices, each with a value."))
            elif len(set(values)) != len(values):
                problem("choices", _("Two choices have the same value."))
        elif spec.choices:
            problem("choices", _("Only enumerations have choices."))
        if spec.is_key:
            if spec.type not in KEY_TYPES:
                problem("is_key", _("A key must be text, a number, a date or an enumeration."))
            if not spec.required:
                problem("required", _("A key field must be required."))
        if spec.sensitivity not in Sensitivity.values:
            problem("sensitivity", _("Unknown sensitivity %(value)s.") % {"value": spec.sensitivity})
        if spec.grade not in Grade.values:
            problem("grade", _("The grade is 1 (general), 2 (important) or 3 (core)."))
        if spec.level not in Level.values:
            problem("level", _("The level is 1 to 4 (L1 to L4)."))
        elif spec.sensitivity == Sensitivity.SENSITIVE_PERSONAL and spec.level < Level.L3:
            problem("level", _("Sensitive personal information is at least level L3."))
        if spec.masking:
            reason = masking.check_rule(spec.masking)
            if reason:
                problem("masking", reason)
    if specs and not any(spec.is_key for spec in specs):
        problems.append(FieldProblem("fields", _("Mark at least one field as the key that identifies a record.")))
    return problems


# --- cleaning values ----------------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(spec: FieldSpec, value: Any, context: Context) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise BadValue(_("Expected text."))
    text = str(value).strip()
    if spec.max_length and len(text) > spec.max_length:
        raise BadValue(_("At most %(count)d characters.") % {"count": spec.max_length})
    if KEY_SEPARATOR in text or "\x00" in text:
        raise BadValue(_("Contains a control character."))
    if spec.validator in (Validator.RESIDENT_ID, Validator.CREDIT_CODE):
        check = (validation.check_resident_id if spec.validator == Validator.RESIDENT_ID
                 else validation.check_credit_code)
        normalised, problem = check(text.upper(), spec.name)
        if problem is not None:
            raise BadValue(problem.reason)
        return normalised
    if spec.validator == Validator.PHONE:
        compact = text.replace(" ", "").replace("-", "")
        if not MOBILE.fullmatch(compact):
            raise BadValue(_("A mobile number has 11 digits and starts with 13 to 19."))
        return compact
    if spec.validator == Validator.DIVISION_CODE and text not in context.division_codes:
        raise BadValue(_("Not a known administrative division code."))  # not echoed: see _enumeration
    if spec.validator == Validator.PATTERN and not re.fullmatch(spec.pattern, text):
        raise BadValue(_("Does not match the pattern %(pattern)s.") % {"pattern": spec.pattern})
    return text


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise BadValue(_("Expected a whole number."))
    if isinstance(value, float):
        if not value.is_integer():
            raise BadValue(_("Expected a whole number."))
        value = int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadValue(_("Expected a whole number.")) from None
    if not -INTEGER_LIMIT <= number < INTEGER_LIMIT:
        raise BadValue(_("The number is too large."))
    return number


def _decimal(value: Any) -> str:
    if isinstance(value, bool):
        raise BadValue(_("Expected a number."))
    try:
        number = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise BadValue(_("Expected a number.")) from None
    if not number.is_finite():
        raise BadValue(_("Expected a finite number."))
    # Stored as text so that no digit is lost to binary floating point.
    return format(number, "f")


def _date(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        raise BadValue(_("Expected a date, not a date and time."))
    if isinstance(value, datetime.date):
        return value.isoformat()
    try:
        return datetime.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise BadValue(_("Expected a date as YYYY-MM-DD.")) from None


def _datetime(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise BadValue(_("Expected a date and time in ISO 8601, like 2026-03-01T09:30:00+08:00.")) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # a time without offset is local (Beijing) time
    return moment.isoformat()


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BadValue(_("Expected yes or no (true/false, 1/0, 是/否)."))


def _enumeration(spec: FieldSpec, value: Any) -> str:
    text = str(value).strip()
    for choice in spec.choices:
        if text in (str(choice.get("value")), choice.get("label"), choice.get("label_en")):
            return str(choice["value"])
    allowed = ", ".join(str(choice.get("value")) for choice in spec.choices)
    # The reason names the allowed values only: the value given may be anything (a column out of place can put a
    # resident ID here), and reasons are shown and stored as they are.
    raise BadValue(_("Expected one of: %(allowed)s.") % {"allowed": allowed})


def _coordinate(value: Any) -> float:
    if isinstance(value, bool):
        raise BadValue(_("A coordinate is a number."))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadValue(_("A coordinate is a number.")) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise BadValue(_("A coordinate is a finite number."))
    return number


def _position(value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) not in (2, 3):
        raise BadValue(_("A position is [longitude, latitude]."))
    lon, lat = _coordinate(value[0]), _coordinate(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadValue(_("Longitude is -180 to 180 and latitude -90 to 90."))
    return [lon, lat, *(_coordinate(v) for v in value[2:])]


def _point(value: Any) -> dict[str, float]:
    if isinstance(value, str):
        parts = value.replace("，", ",").split(",")
        if len(parts) != 2:
            raise BadValue(_("A point is written longitude,latitude, like 118.10,24.48."))
        value = parts
    if isinstance(value, Mapping):
        if value.get("type") == "Point":
            value = value.get("coordinates")
        elif "lon" in value and "lat" in value:
            value = [value["lon"], value["lat"]]
    lon, lat = _position(value)[:2]
    return {"lon": lon, "lat": lat}


def _positions(value: Any, depth: int) -> Any:
    if depth == 0:
        return _position(value)
    if not isinstance(value, list) or not value:
        raise BadValue(_("The coordinates are not nested as the geometry type requires."))
    return [_positions(item, depth - 1) for item in value]


def _ring(ring: list[list[float]]) -> None:
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise BadValue(_("A polygon ring has at least four positions and ends where it starts."))


def _geometry(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BadValue(_("Expected a GeoJSON geometry object.")) from None
    if not isinstance(value, Mapping) or value.get("type") not in GEOMETRY_TYPES:
        raise BadValue(_("Expected a GeoJSON geometry with type one of %(types)s.")
                          % {"types": ", ".join(GEOMETRY_TYPES)})
    kind = value["type"]
    if kind == "GeometryCollection":
        members = value.get("geometries")
        if not isinstance(members, list):
            raise BadValue(_("A GeometryCollection lists its geometries."))
        return {"type": kind, "geometries": [_geometry(member) for member in members]}
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
             "MultiPolygon": 3}[kind]
    coordinates = _positions(value.get("coordinates"), depth)
    if kind == "LineString" and len(coordinates) < 2:
        raise BadValue(_("A line has at least two positions."))
    if kind == "Polygon":
        for ring in coordinates:
            _ring(ring)
    if kind == "MultiPolygon":
        for polygon in coordinates:
            for ring in polygon:
                _ring(ring)
    return {"type": kind, "coordinates": coordinates}


def _file(value: Any, context: Context) -> str:
    digest = str(value.get("digest", "") if isinstance(value, Mapping) else value).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest) or not context.file_exists(digest):
        raise BadValue(_("Not a file uploaded to the platform (give the digest the upload returned)."))
    return digest


def clean_value(spec: FieldSpec, value: Any, context: Context) -> Any:
    """The stored (JSON) form of `value` for `spec`; raises BadValue with the reason."""
    kind = spec.type
    if kind == FieldType.TEXT:
        return _text(spec, value, context)
    if kind == FieldType.INTEGER:
        return _integer(value)
    if kind == FieldType.DECIMAL:
        return _decimal(value)
    if kind == FieldType.DATE:
        return _date(value)
    if kind == FieldType.DATETIME:
        return _datetime(value)
    if kind == FieldType.BOOLEAN:
        return _boolean(value)
    if kind == FieldType.ENUMERATION:
        return _enumeration(spec, value)
    if kind == FieldType.POINT:
        return _point(value)
    if kind == FieldType.GEOMETRY:
        return _geometry(value)
    if kind == FieldType.FILE:
        return _file(value, context)
    raise BadValue(_("Unknown type %(type)s.") % {"type": kind})


class Schema:
    """A registry's fields in order, with the rules that use them together."""

    def __init__(self, specs: Iterable[FieldSpec]):
        self.fields = list(specs)
        self.by_name = {spec.name: spec for spec in self.fields}
        self.key_fields = [spec for spec in self.fields if spec.is_key]
        # A schema's fields do not change once built, and writers ask these for every record.
        self.key_encrypted = any(spec.encrypted for spec in self.key_fields)
        self._key_names = [spec.name for spec in self.key_fields]

    def clean(self, values: Mapping[str, Any], context: Context, *, partial: bool = False
              ) -> tuple[dict[str, Any], list[FieldProblem]]:
        """Cleaned values and every problem. Unknown names are problems; with `partial`, missing fields are
        left out instead of being checked for `required` (an update names only what changes)."""
        cleaned: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        for name in values:
            if name not in self.by_name:
                problems.append(FieldProblem(str(name), _("This registry has no field %(name)s.") % {"name": name}))
        for spec in self.fields:
            if spec.name not in values:
                if spec.required and not partial:
                    problems.append(FieldProblem(spec.name, _("This field is required.")))
                continue
            raw = values[spec.name]
            if _empty(raw):
                if spec.required:
                    problems.append(FieldProblem(spec.name, _("This field is required.")))
                else:
                    cleaned[spec.name] = None
                continue
            try:
                cleaned[spec.name] = clean_value(spec, raw, context)
            except BadValue as error:
                problems.append(FieldProblem(spec.name, str(error)))
        return cleaned, problems

    def key_text(self, values: Mapping[str, Any]) -> str:
        """The record's key as one string (composite keys joined by a control character)."""
        if len(self._key_names) == 1:  # the join of one value is that value
            return str(values[self._key_names[0]])
        return KEY_SEPARATOR.join(str(values[name]) for name in self._key_names)

    @property
    def grade(self) -> int:
        return max((spec.grade for spec in self.fields), default=Grade.GENERAL)

    @property
    def level(self) -> int:
        return max((spec.level for spec in self.fields), default=Level.L1)


# --- GovStack Digital Registries database schema --------------------------------------------------------------


def specs_from_json_schema(document: Mapping[str, Any]) -> tuple[list[FieldSpec], list[FieldProblem]]:
    """Field definitions from a JSON schema as the GovStack Digital Registries database API accepts it
    (`{"type": "object", "properties": {...}, "required": [...]}`, `primaryKey` marking the key).

    A property's `title` (else its description) is the field's label. Our own attributes can ride along on each
    property with the `x-zhengtong-` prefix (sensitivity, grade, level, masking, encrypted, validator, label_en).
    Nested objects other than a point or a GeoJSON geometry are refused: a registry's records are flat.
    """
    problems: list[FieldProblem] = []
    properties = document.get("properties") if isinstance(document, Mapping) else None
    if not isinstance(properties, Mapping) or not properties:
        return [], [FieldProblem("schema.properties", _("The schema lists its fields under properties."))]
    required = set(document.get("required") or [])
    specs = []
    for name, prop in properties.items():
        path = f"schema.properties.{name}"
        if not isinstance(prop, Mapping):
            problems.append(FieldProblem(path, _("Each property is an object.")))
            continue
        json_type, fmt = prop.get("type"), prop.get("format", "")
        extra = {key[len("x-zhengtong-"):].replace("-", "_"): value for key, value in prop.items()
                 if key.startswith("x-zhengtong-")}
        spec_type = FieldType.TEXT
        if "enum" in prop:
            spec_type = FieldType.ENUMERATION
        elif json_type == "string":
            spec_type = {"date": FieldType.DATE, "date-time": FieldType.DATETIME,
                         "binary": FieldType.FILE}.get(fmt, FieldType.TEXT)
        elif json_type == "integer":
            spec_type = FieldType.INTEGER
        elif json_type == "number":
            spec_type = FieldType.DECIMAL
        elif json_type == "boolean":
            spec_type = FieldType.BOOLEAN
        elif json_type == "object" and fmt in ("point", "geojson"):
            spec_type = FieldType.POINT if fmt == "point" else FieldType.GEOMETRY
        else:
            problems.append(FieldProblem(path, _("Type %(type)s is not supported here; records are flat "
                                                 "(nested objects only as format point or geojson).")
                                         % {"type": json_type}))
            continue
        is_key = bool(prop.get("primaryKey"))
        validator = extra.pop("validator", "")
        pattern = prop.get("pattern", "")
        if pattern and not validator:
            validator = Validator.PATTERN
        specs.append(FieldSpec.from_mapping({
            "name": name, "type": spec_type,
            "label": extra.pop("label", "") or prop.get("title") or prop.get("description") or name,
            "description": prop.get("description", ""), "required": name in required or is_key, "is_key": is_key,
            "unique": is_key, "validator": validator, "pattern": pattern, "max_length": prop.get("maxLength"),
            "choices": [{"value": str(v), "label": str(v)} for v in prop.get("enum", [])],
            **extra,
        }))
    return specs, problems


def json_schema_of(specs: Iterable[FieldSpec]) -> dict[str, Any]:
    """The registry's schema in the same JSON schema shape, so a definition round-trips."""
    types = {FieldType.TEXT: ("string", ""), FieldType.INTEGER: ("integer", ""), FieldType.DECIMAL: ("number", ""),
             FieldType.DATE: ("string", "date"), FieldType.DATETIME: ("string", "date-time"),
             FieldType.BOOLEAN: ("boolean", ""), FieldType.ENUMERATION: ("string", ""),
             FieldType.POINT: ("object", "point"), FieldType.GEOMETRY: ("object", "geojson"),
             FieldType.FILE: ("string", "binary")}
    properties: dict[str, Any] = {}
    required = []
    for spec in specs:
        json_type, fmt = types[FieldType(spec.type)]
        prop: dict[str, Any] = {"type": json_type, "title": spec.label}
        if spec.description:
            prop["description"] = spec.description
        if fmt:
            prop["format"] = fmt
        if spec.is_key:
            prop["primaryKey"] = True
        if spec.pattern:
            prop["pattern"] = spec.pattern
        if spec.max_length:
            prop["maxLength"] = spec.max_length
        if spec.choices:
            prop["enum"] = [choice["value"] for choice in spec.choices]
        for attribute in ("sensitivity", "grade", "level", "masking", "encrypted", "validator", "label_en"):
            value = getattr(spec, attribute)
            if value not in ("", None, False) and not (attribute == "validator" and value == Validator.PATTERN):
                prop["x-zhengtong-" + attribute.replace("_", "-")] = value
        properties[spec.name] = prop
        if spec.required:
            required.append(spec.name)
    return {"type": "object", "properties": properties, "required": required}
