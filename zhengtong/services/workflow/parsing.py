"""Reading uploaded BPMN and DMN files: a file saved by Camunda Modeler or bpmn.io loads unchanged (its
namespaces kept), and a file the platform cannot run safely is refused naming the element and the problem.

Conventions a process follows (checked here):
- userTask `camunda:candidateGroups` is one group: "<role>" (the item's responsible department),
  "<role>@<DEPARTMENT CODE>", "<role>@cooperating" (one task for each co-operating department of the item),
  or "applicant" (the correction step, answered by the applicant);
- serviceTask is Camunda's external task (`camunda:type="external" camunda:topic="<topic>"`) with a topic of
  workflow.service_tasks;
- businessRuleTask `camunda:decisionRef` names an uploaded decision table;
- conditions and DMN entries are in the safe expression subset (workflow.expressions); no scriptTask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.camunda.parser.CamundaParser import NSMAP, CamundaParser
from SpiffWorkflow.dmn.parser.DMNParser import DMNParser

from zhengtong.core.errors import InvalidInput
from zhengtong.identity import roles
from zhengtong.identity.models import Department
from zhengtong.services.models import DecisionDefinition
from zhengtong.services.workflow import expressions, service_tasks

BPMN_NS = NSMAP["bpmn"]
CAMUNDA_NS = NSMAP["camunda"]
APPLICANT = "applicant"
COOPERATING = "cooperating"
_LIMIT = 2_000_000  # characters: a process is a drawing, not a data dump


@dataclass(frozen=True)
class UserStep:
    element_id: str
    name: str
    role: str  # an identity role code, or "applicant"
    department: str = ""  # a department code, "cooperating", or "" for the item's responsible department


@dataclass(frozen=True)
class ParsedProcess:
    key: str
    name: str
    bpmn_xml: str
    user_steps: dict[str, UserStep] = field(default_factory=dict)
    service_topics: dict[str, str] = field(default_factory=dict)  # element id -> topic
    rule_tasks: dict[str, str] = field(default_factory=dict)  # businessRuleTask id -> decision key

    @property
    def decision_refs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.rule_tasks.values()))


@dataclass(frozen=True)
class ParsedDecision:
    key: str
    name: str
    dmn_xml: str
    hit_policy: str
    inputs: tuple[str, ...]  # the input expressions
    outputs: tuple[str, ...]  # the output names
    rules: int


def _refuse(field_name: str, where: str, problem: str) -> InvalidInput:
    return InvalidInput.for_field(field_name, f"{where}: {problem}" if where else problem)


def _xml(text: str, field_name: str) -> Any:
    if not text or not text.strip():
        raise _refuse(field_name, "", _("The file is empty."))
    if len(text) > _LIMIT:
        raise _refuse(field_name, "", _("The file is larger than %(n)d characters.") % {"n": _LIMIT})
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False)
    try:
        return etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as error:
        raise _refuse(field_name, _("line %(line)s") % {"line": error.lineno},
                      _("XML syntax error: %(message)s") % {"message": error.msg}) from error


def _where(node: Any) -> str:
    return node.get("id") or _("line %(line)s") % {"line": node.sourceline}


def _known_roles() -> set[str]:
    return set(roles.ROLE_LABELS) | {APPLICANT}


def _user_step(node: Any, stored: bool) -> tuple[UserStep | None, str]:
    groups = (node.get(f"{{{CAMUNDA_NS}}}candidateGroups") or "").strip()
    if not groups:
        return None, _("a user task needs camunda:candidateGroups (a role, or role@DEPARTMENT).")
    if "," in groups:
        return None, _("give one candidate group per user task, not a list.")
    role, _at, department = groups.partition("@")
    role, department = role.strip(), department.strip()
    if not stored and role not in _known_roles():
        return None, _("unknown role “%(role)s”.") % {"role": role}
    if role == APPLICANT and department:
        return None, _("the applicant step takes no department.")
    if (not stored and department and department != COOPERATING
            and not Department.objects.filter(code=department).exists()):
        return None, _("unknown department code “%(code)s”.") % {"code": department}
    return UserStep(node.get("id"), node.get("name") or node.get("id"), role, department), ""


def _check_elements(process: Any, stored: bool) -> tuple[dict[str, UserStep], dict[str, str], dict[str, str]]:
    """The platform's own checks of the executable process, before SpiffWorkflow reads it; of a `stored` version
    only those that do not depend on the database (roles and departments were checked at upload)."""
    ns = {"bpmn": BPMN_NS}
    for node in process.iter(f"{{{BPMN_NS}}}scriptTask"):
        raise _refuse("bpmn_file", _where(node), _("script tasks are not allowed: scripts would run code on the "
                                                   "server. Use a service task with a topic instead."))
    for node in process.iter(f"{{{BPMN_NS}}}manualTask", f"{{{BPMN_NS}}}receiveTask"):
        raise _refuse("bpmn_file", _where(node), _("use a user task with camunda:candidateGroups for a step "
                                                   "people do."))
    steps: dict[str, UserStep] = {}
    for node in process.iter(f"{{{BPMN_NS}}}userTask"):
        step, problem = _user_step(node, stored)
        if step is None:
            raise _refuse("bpmn_file", _where(node), problem)
        steps[step.element_id] = step
    topics: dict[str, str] = {}
    for node in process.iter(f"{{{BPMN_NS}}}serviceTask", f"{{{BPMN_NS}}}sendTask"):
        topic = (node.get(f"{{{CAMUNDA_NS}}}topic") or "").strip()
        if node.get(f"{{{CAMUNDA_NS}}}type") != "external" or not topic:
            raise _refuse("bpmn_file", _where(node), _("a service task must be an external task with a topic "
                                                       "(camunda:type=\"external\" camunda:topic=\"…\")."))
        if topic not in service_tasks.TOPICS:
            raise _refuse("bpmn_file", _where(node), _("unknown topic “%(topic)s”; known topics: %(known)s.")
                          % {"topic": topic, "known": ", ".join(sorted(service_tasks.TOPICS))})
        topics[node.get("id")] = topic
    decisions: dict[str, str] = {}
    for node in process.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        ref = (node.get(f"{{{CAMUNDA_NS}}}decisionRef") or "").strip()
        if not ref:
            raise _refuse("bpmn_file", _where(node), _("a business rule task needs camunda:decisionRef."))
        decisions[node.get("id")] = ref
    for node in process.xpath(".//bpmn:conditionExpression", namespaces=ns):
        if node.get("language") not in (None, "", "python"):
            raise _refuse("bpmn_file", _where(node.getparent()),
                          _("condition language “%(language)s” is not supported; write the condition as a plain "
                            "expression.") % {"language": node.get("language")})
        problem = expressions.problem(node.text or "")
        if problem:
            raise _refuse("bpmn_file", _where(node.getparent()),
                          _("the condition “%(text)s” is not in the safe expression subset (%(problem)s).")
                          % {"text": (node.text or "").strip(), "problem": problem})
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for node in process.iter(f"{{{BPMN_NS}}}{tag}"):
            if not expressions.ISO_8601.fullmatch((node.text or "").strip()):
                raise _refuse("bpmn_file", _where(node.getparent().getparent()),
                              _("the timer “%(text)s” is not an ISO 8601 date or duration (e.g. P2D).")
                              % {"text": (node.text or "").strip()})
    return steps, topics, decisions


def new_parser() -> CamundaParser:
    return CamundaParser(validator=BpmnValidator())


def _spiff_problem(error: ValidationException) -> str:
    where = error.id or (_("line %(line)s") % {"line": error.line_number} if error.line_number else "")
    return f"{where}: {error}" if where else str(error)


def parse_process(bpmn_xml: str, decisions: dict[str, str] | None = None) -> ParsedProcess:
    """Validate a BPMN file. `decisions` (key -> DMN file) are the decision tables its business rule tasks may
    name; by default the latest uploaded version of each."""
    process, (steps, topics, rule_tasks) = _read(bpmn_xml, stored=False)
    refs = tuple(dict.fromkeys(rule_tasks.values()))
    if decisions is None:
        decisions = latest_decisions(refs)
    missing = [ref for ref in refs if ref not in decisions]
    if missing:
        node = process.xpath(f".//bpmn:businessRuleTask[@camunda:decisionRef='{missing[0]}']",
                             namespaces={"bpmn": BPMN_NS, "camunda": CAMUNDA_NS})[0]
        raise _refuse("bpmn_file", _where(node), _("no decision table “%(key)s” has been uploaded.")
                      % {"key": missing[0]})
    try:
        build_spec(bpmn_xml, {ref: decisions[ref] for ref in refs}, process.get("id"))
    except ValidationException as error:
        raise _refuse("bpmn_file", "", _spiff_problem(error)) from error
    return ParsedProcess(key=process.get("id"), name=process.get("name") or process.get("id"), bpmn_xml=bpmn_xml,
                         user_steps=steps, service_topics=topics, rule_tasks=rule_tasks)


def read_stored_process(bpmn_xml: str) -> ParsedProcess:
    """A stored version, as its applications run it: it was validated at upload, so what the database holds now
    (a department's code, a decision table's versions) does not make it unreadable."""
    process, (steps, topics, rule_tasks) = _read(bpmn_xml, stored=True)
    return ParsedProcess(key=process.get("id"), name=process.get("name") or process.get("id"), bpmn_xml=bpmn_xml,
                         user_steps=steps, service_topics=topics, rule_tasks=rule_tasks)


def _read(bpmn_xml: str, *, stored: bool) -> tuple[Any, tuple[dict[str, UserStep], dict[str, str], dict[str, str]]]:
    """The file's executable process and what _check_elements found in it."""
    root = _xml(bpmn_xml, "bpmn_file")
    try:
        BpmnValidator().validate(root)
    except ValidationException as error:
        raise _refuse("bpmn_file", _("line %(line)s") % {"line": error.line_number},
                      _("not valid BPMN 2.0: %(message)s") % {"message": str(error)}) from error
    executable = root.xpath("bpmn:process[@isExecutable='true']", namespaces={"bpmn": BPMN_NS})
    if not executable:
        raise _refuse("bpmn_file", "", _("no executable process: mark the process as executable "
                                         "(isExecutable=\"true\", the modeler's “Executable” box)."))
    if len(executable) > 1:
        raise _refuse("bpmn_file", executable[1].get("id"), _("only one executable process per file."))
    process = executable[0]
    return process, _check_elements(process, stored)


def latest_decisions(keys: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for definition in DecisionDefinition.objects.filter(key__in=keys).order_by("key", "-version"):
        found.setdefault(definition.key, definition.dmn_xml)
    return found


def build_spec(bpmn_xml: str, decisions: dict[str, str], key: str) -> tuple[BpmnProcessSpec, dict[str, Any]]:
    """SpiffWorkflow's spec of the process, with the decision tables it names."""
    parser = new_parser()
    parser.add_bpmn_str(bpmn_xml.encode("utf-8"))
    for dmn_xml in decisions.values():
        parser.add_dmn_str(dmn_xml.encode("utf-8"))
    spec = parser.get_spec(key)
    return spec, parser.get_subprocess_specs(key)


def parse_decision(dmn_xml: str) -> ParsedDecision:
    """Validate a DMN file: one decision with one decision table, every expression in the safe subset."""
    root = _xml(dmn_xml, "dmn_file")
    parser = new_parser()
    try:
        parser.add_dmn_xml(root)
    except ValidationException as error:
        raise _refuse("dmn_file", _("line %(line)s") % {"line": error.line_number},
                      _("not valid DMN: %(message)s") % {"message": str(error)}) from error
    if len(parser.dmn_parsers) != 1:
        raise _refuse("dmn_file", "", _("the file must hold exactly one decision."))
    dmn: DMNParser = next(iter(parser.dmn_parsers.values()))
    try:
        dmn.parse()
    except ValidationException as error:
        raise _refuse("dmn_file", "", _spiff_problem(error)) from error
    except KeyError as error:  # SpiffWorkflow reads required attributes without checking for them
        raise _refuse("dmn_file", "", _("an element lacks its %(attribute)s attribute.")
                      % {"attribute": error.args[0]}) from error
    decision = dmn.decision
    if len(decision.decisionTables) != 1:
        raise _refuse("dmn_file", decision.id, _("the decision must hold exactly one decision table."))
    table = decision.decisionTables[0]
    if table.hit_policy not in ("UNIQUE", "COLLECT"):
        raise _refuse("dmn_file", table.id, _("hit policy %(policy)s is not supported (use UNIQUE or COLLECT).")
                      % {"policy": table.hit_policy})
    for column in table.inputs:
        problem = expressions.problem(column.expression or "")
        if problem:
            raise _refuse("dmn_file", column.id, _("the input expression “%(text)s” is not in the safe expression "
                                                   "subset (%(problem)s).")
                          % {"text": column.expression or "", "problem": problem})
    for rule in table.rules:
        for entry in rule.inputEntries:
            for text in entry.lhs:
                problem = expressions.dmn_entry_problem(text) if text else ""
                if problem:
                    raise _refuse("dmn_file", entry.id, _("row %(row)d: the entry “%(text)s” is not in the safe "
                                                          "expression subset (%(problem)s).")
                                  % {"row": rule.row_number, "text": text, "problem": problem})
        for entry in rule.outputEntries:
            problem = expressions.problem(entry.text) if entry.text else ""
            if problem:
                raise _refuse("dmn_file", entry.id, _("row %(row)d: the output “%(text)s” is not in the safe "
                                                      "expression subset (%(problem)s).")
                              % {"row": rule.row_number, "text": entry.text, "problem": problem})
    return ParsedDecision(key=decision.id, name=decision.name or decision.id, dmn_xml=dmn_xml,
                          hit_policy=table.hit_policy, inputs=tuple(c.expression or "" for c in table.inputs),
                          outputs=tuple(o.name or o.label for o in table.outputs), rules=len(table.rules))
