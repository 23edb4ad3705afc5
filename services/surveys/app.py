"""Use cases of worker surveys (职工问卷调查): functions of (store, actor, now, input[, directory,
settings]) that ask the policy first, apply the rules and commit one guarded write with its outbox events
(docs/architecture.md, "Changing state").

- ``store``: :class:`services.surveys.store.SurveysStore` (or the in-memory fake of the unit tests);
- ``actor``: :class:`dmlib.auth.Actor` from the verified token;
- ``now``: the aware UTC ``datetime`` of the call;
- ``directory``: membership from its owners (:class:`Directory`), asked after the policy said yes;
- ``settings``: ``respondent(survey_id, member_id)``, the keyed hash that is a response's id.

Responses: one insert under the respondent hash (a second → Conflict, ``details.reason`` =
``already_submitted``), then the counters (``$inc`` on the survey's tally, guarded by its ``closed``
flag, and on its union's and department's). Answers are never audited, never in an event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from dmlib.audit import Audit, by_person
from dmlib.auth import Actor
from dmlib.contracts import surveys as c
from dmlib.errors import BadInput, Conflict, NotFound
from dmlib.schemas import iso, page_out
from dmlib.state import event

from . import policy, rules, templates
from .store import department_tally, union_tally

CHINA = timezone(timedelta(hours=8))
ALREADY_SUBMITTED = "you have already answered this survey / 您已提交过本问卷"
NOT_OPEN = "this survey is not open for answers / 本问卷当前不在答题时间内"
SURVEY_FIELDS = (
    "title",
    "status",
    "anonymous",
    "min_group",
    "opens_at",
    "closes_at",
    "audience",
    "question_count",
)


class Directory(Protocol):
    def get_union(self, union_id: str) -> dict: ...
    def unions_under(self, union_id: str) -> list[dict]: ...
    def roster(self, union_id: str) -> list[dict]: ...
    def departments(self, union_id: str) -> list[dict]: ...
    def delegates(self, term_id: str) -> list[dict]: ...
    def term_union(self, term_id: str) -> str: ...


class Keys(Protocol):
    def respondent(self, survey_id: str, member_id: str) -> str: ...


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _audit(actor: Actor, action: str, survey: dict, **kw) -> Audit | None:
    """:func:`dmlib.audit.by_person` for ``surveys.<action>`` in the chain of the survey's union."""
    return by_person(
        actor,
        f"surveys.{action}",
        "survey",
        survey["_id"],
        survey["union_id"],
        survey["union_path"],
        fields=kw.pop("fields", SURVEY_FIELDS),
        **kw,
    )


def _survey(store, survey_id: Any) -> dict:
    survey = store.survey(survey_id) if isinstance(survey_id, str) else None
    if survey is None:
        raise NotFound("no such survey / 问卷不存在", details={"id": survey_id})
    return survey


def _question(survey: dict, question_id: str) -> dict:
    for q in rules.questions_of(survey):
        if q["id"] == question_id:
            return q
    raise NotFound("no such question / 题目不存在", details={"id": question_id})


def _view(survey: dict, actor: Actor, store=None) -> dict:
    """The survey as :class:`SurveyOut` expects it."""
    sections = [
        {**s, "questions": [{**q, "kind_label": c.KINDS[q["kind"]]} for q in s["questions"]]}
        for s in survey["sections"]
    ]
    responses = (
        int(store.tally(survey["_id"]).get("n", 0))
        if store is not None and survey["status"] != "draft"
        else 0
    )
    return {
        **survey,
        "id": survey["_id"],
        "sections": sections,
        "opens_at": iso(survey.get("opens_at")),
        "closes_at": iso(survey.get("closes_at")),
        "created_at": iso(survey.get("created_at")),
        "opened_at": iso(survey.get("opened_at")),
        "closed_at": iso(survey.get("closed_at")),
        "version": survey.get("_v", 0),
        "responses": responses,
        "can_manage": policy.may_manage(actor, survey["union_path"]),
    }


# ===== templates ==================================================================================
def _language(language: str) -> str:
    if language not in c.LANGUAGES:
        raise BadInput("language: zh or en / 语言须为 zh 或 en", fields={"language": ["zh or en"]})
    return language


def list_templates(actor: Actor, language: str) -> list[dict]:
    language = _language(language)
    out = []
    for key in c.TEMPLATES:
        t = templates.template(key, language)
        out.append(
            {
                "key": key,
                "language": language,
                "title": t["title"],
                "description": t["description"],
                "question_count": sum(len(s["questions"]) for s in t["sections"]),
            }
        )
    return out


def get_template(actor: Actor, key: str, language: str) -> dict:
    language = _language(language)
    if key not in c.TEMPLATES:
        raise NotFound("no such template / 模板不存在", details={"key": key})
    return templates.template(key, language)


# ===== building ===================================================================================
def _check_audience(actor: Actor, directory: Directory, union: dict, audience: dict) -> None:
    """Every union, department or term of the audience exists and is in the actor's care, at or below
    the survey's union. BadInput/NotFound/Forbidden."""
    kind = audience["kind"]
    if kind == "unions":
        for uid in audience["union_ids"]:
            u = directory.get_union(uid)
            policy.require_in_care(actor, u["path"])
            if union["id"] not in u["path"]:
                raise BadInput(
                    "a union outside the survey's union / 调查对象不在本单位范围内",
                    fields={"audience.union_ids": [uid]},
                )
    elif kind == "departments":
        known = {d["id"] for d in directory.departments(union["id"])}
        unknown = [d for d in audience["department_ids"] if d not in known]
        if unknown:
            raise BadInput(
                "not departments of the survey's union / 不是本单位的部门",
                fields={"audience.department_ids": unknown},
            )
    else:
        congress_union = directory.term_union(audience["term_id"])  # NotFound from congress
        if congress_union != union["id"]:
            u = directory.get_union(congress_union)
            if union["id"] not in u["path"]:
                raise BadInput(
                    "a congress outside the survey's union / 职代会不在本单位范围内",
                    fields={"audience.term_id": [audience["term_id"]]},
                )


def _check_window(data: dict, now: datetime) -> None:
    closes = data.get("closes_at")
    if closes is not None and closes <= now:
        raise BadInput(
            "the closing time has passed / 截止时间已过",
            fields={"closes_at": ["in the past / 已过"]},
            reason="closes_in_past",
        )


def _content(data: dict) -> dict:
    sections = rules.check_questionnaire(data["sections"])
    return {
        "title": data["title"].strip(),
        "description": data.get("description") or "",
        "language": data.get("language") or "zh",
        "sections": sections,
        "audience": data["audience"],
        "opens_at": data.get("opens_at"),
        "closes_at": data.get("closes_at"),
        "anonymous": data["anonymous"],
        "min_group": data["min_group"] if data["anonymous"] else 1,
        "question_count": sum(len(s["questions"]) for s in sections),
    }


def create_survey(store, actor: Actor, now: datetime, directory: Directory, data: dict) -> dict:
    """A new draft (:class:`SurveyIn`, loaded). Admins of its union; the audience within their care."""
    union = directory.get_union(data["union_id"])
    policy.require_manager(actor, union["path"])
    content = _content(data)
    _check_window(content, now)
    _check_audience(actor, directory, union, content["audience"])
    doc = {
        "_id": f"sv-{uuid.uuid4().hex[:12]}",
        "union_id": union["id"],
        "union_path": list(union["path"]),
        "union_name": union["name"],
        **content,
        "status": "draft",
        "created_at": now,
        "created_by": actor.member_id,
        "created_by_name": actor.name,
        "opened_at": None,
        "closed_at": None,
        "eligible": 0,
        "groups": {"unions": [], "departments": []},
        "reminders": 0,
    }
    doc = store.create("surveys", doc, audit=_audit(actor, "survey_created", doc))
    return _view(doc, actor)


def update_survey(
    store, actor: Actor, now: datetime, directory: Directory, survey_id: str, data: dict
) -> dict:
    """Replace a draft (:class:`SurveyUpdateIn`). Conflict when not a draft or changed since ``version``."""
    survey = _survey(store, survey_id)
    policy.require_manager(actor, survey["union_path"])
    if data["union_id"] != survey["union_id"]:
        raise BadInput("a survey stays with its union / 不能更改发起单位", fields={"union_id": ["fixed"]})
    content = _content(data)
    _check_window(content, now)
    union = {"id": survey["union_id"], "path": survey["union_path"]}
    _check_audience(actor, directory, union, content["audience"])
    doc = store.change(
        "surveys",
        survey_id,
        expect={"_v": data["version"], "status": "draft"},
        set=content,
        audit=_audit(actor, "survey_updated", survey),
    )
    return _view(doc, actor)


def get_survey(store, actor: Actor, survey_id: str) -> dict:
    survey = _survey(store, survey_id)
    in_audience = (
        survey["status"] != "draft" and store.audience_member(survey_id, actor.member_id) is not None
    )
    policy.require_reader(actor, survey["union_path"], in_audience)
    return _view(survey, actor, store)


def list_surveys(store, actor: Actor, directory: Directory, union_id: str, query: dict) -> dict:
    union = directory.get_union(union_id)
    policy.require_manager(actor, union["path"])
    surveys = sorted(store.surveys_of(union_id), key=lambda s: s["created_at"], reverse=True)
    if query.get("status"):
        surveys = [s for s in surveys if s["status"] == query["status"]]
    page, per = query["page"], query["per_page"]
    items = [_summary(store, s, None) for s in surveys[(page - 1) * per : page * per]]
    return page_out(items, len(surveys), page, per)


def _summary(store, survey: dict, mine: str | None) -> dict:
    return {
        **survey,
        "id": survey["_id"],
        "opens_at": iso(survey.get("opens_at")),
        "closes_at": iso(survey.get("closes_at")),
        "responses": int(store.tally(survey["_id"]).get("n", 0)) if survey["status"] != "draft" else 0,
        "mine": mine,
    }


def my_surveys(store, actor: Actor, keys: Keys) -> list[dict]:
    """Open and closed surveys whose audience holds the actor (a scan of ``surveys`` with one audience
    lookup per survey)."""
    out = []
    for survey in sorted(store.surveys_in(("open", "closed")), key=lambda s: s["opened_at"], reverse=True):
        if store.audience_member(survey["_id"], actor.member_id) is None:
            continue
        out.append(_summary(store, survey, _state(store, keys, survey["_id"], actor.member_id)))
    return out


#: A running survey closing within this many days shows as "closing" on its admins' home.
CLOSING_DAYS = 3


def needs_of(store, actor: Actor, now: datetime, keys: Keys) -> dict:
    """What needs the caller among surveys (issue 16, :mod:`dmlib.contracts.needs`):

    - items ``survey_open``: open surveys whose audience holds them and that they have not submitted
      (``due_at`` the closing time, ``at`` the opening; :func:`my_surveys`);
    - queues, per union at or below one they administer (:func:`policy.needs_scopes`, each survey by
      :func:`policy.may_manage`): ``surveys_running`` (open surveys; ``count``; ``due_at`` the nearest
      closing; ``overdue`` those closing within :data:`CLOSING_DAYS` days).
    Cost: a scan of the open surveys and one audience and one response lookup per survey."""
    items = [
        {
            "kind": "survey_open",
            "id": s["id"],
            "title": s["title"],
            "union_id": s.get("union_id"),
            "due_at": s.get("closes_at"),
            "at": s.get("opened_at"),
        }
        for s in my_surveys(store, actor, keys)
        if s["status"] == "open" and s["mine"] != "submitted"
    ]
    scopes = policy.needs_scopes(actor)
    running: dict[str, list[dict]] = {}
    names: dict[str, str] = {}
    if scopes:
        for s in store.surveys_in(("open",)):
            if scopes & set(s["union_path"]) and policy.may_manage(actor, s["union_path"]):
                running.setdefault(s["union_id"], []).append(s)
                names[s["union_id"]] = s.get("union_name", "")
    soon = now + timedelta(days=CLOSING_DAYS)
    queues = [
        {
            "kind": "surveys_running",
            "scope": uid,
            "scope_name": names[uid],
            "union_id": uid,
            "count": len(running[uid]),
            "due_at": min((_aware(s["closes_at"]) for s in running[uid] if s.get("closes_at")), default=None),
            "overdue": sum(1 for s in running[uid] if s.get("closes_at") and _aware(s["closes_at"]) <= soon),
        }
        for uid in sorted(running)
    ]
    return {"items": items, "queues": queues}


def _state(store, keys: Keys, survey_id: str, member_id: str) -> str:
    rid = keys.respondent(survey_id, member_id)
    if store.has_response(survey_id, rid):
        return "submitted"
    return "draft" if store.draft(rid) is not None else "not_started"


# ===== window =====================================================================================
def gather_audience(directory: Directory, survey: dict) -> list[dict]:
    """The audience's members from their owners: ``[{_id: member id, union_id, department_id, locale}]``
    (each member once)."""
    spec = survey["audience"]
    members: dict[str, dict] = {}

    def take(union_id: str, roster: list[dict], departments: set[str] | None = None) -> None:
        for m in roster:
            if departments is not None and m.get("department_id") not in departments:
                continue
            members.setdefault(
                m["member_id"],
                {
                    "_id": m["member_id"],
                    "union_id": union_id,
                    "department_id": m.get("department_id"),
                    "locale": m.get("locale") or "zh_CN",
                },
            )

    if spec["kind"] == "unions":
        for uid in spec["union_ids"]:
            for u in directory.unions_under(uid):
                take(u["id"], directory.roster(u["id"]))
    elif spec["kind"] == "departments":
        take(survey["union_id"], directory.roster(survey["union_id"]), set(spec["department_ids"]))
    else:
        delegates = {d["member_id"] for d in directory.delegates(spec["term_id"])}
        union_id = directory.term_union(spec["term_id"])
        for u in directory.unions_under(union_id):
            take(u["id"], [m for m in directory.roster(u["id"]) if m["member_id"] in delegates])
    return list(members.values())


def _groups(directory: Directory, survey: dict, audience: list[dict]) -> dict:
    """The union and department groups of the audience with their names and sizes."""
    unions: dict[str, dict] = {}
    departments: dict[str, dict] = {}
    for m in audience:
        unions.setdefault(m["union_id"], {"key": m["union_id"], "name": "", "eligible": 0})["eligible"] += 1
        if m.get("department_id"):
            departments.setdefault(
                m["department_id"],
                {"key": m["department_id"], "name": "", "union_id": m["union_id"], "eligible": 0},
            )["eligible"] += 1
    for uid, g in unions.items():
        g["name"] = directory.get_union(uid)["name"]
        if any(d["union_id"] == uid for d in departments.values()):
            names = {d["id"]: d["name"] for d in directory.departments(uid)}
            for d in departments.values():
                if d["union_id"] == uid:
                    d["name"] = f"{g['name']} / {names.get(d['key'], d['key'])}"
    return {"unions": list(unions.values()), "departments": list(departments.values())}


def _open(store, actor: Actor | None, now: datetime, directory: Directory, survey: dict) -> dict:
    audience = gather_audience(directory, survey)
    if not audience:
        raise Conflict(
            "the audience has no members / 调查对象中没有会员",
            details={"id": survey["_id"]},
            reason="empty_audience",
        )
    groups = _groups(directory, survey, audience)
    store.add_audience(survey["_id"], audience)
    store.bump(survey["_id"], {"n": 0})  # the tally exists before the first answer (its guard needs it)
    changes = {"status": "open", "opened_at": now, "eligible": len(audience), "groups": groups}
    opened = event(
        "survey_opened",
        survey_id=survey["_id"],
        union_id=survey["union_id"],
        title=survey["title"],
        anonymous=survey["anonymous"],
        closes_at=iso(survey.get("closes_at")),
        eligible=len(audience),
    )
    return store.change(
        "surveys",
        survey["_id"],
        expect={"status": "draft"},
        set=changes,
        events=[opened],
        audit=_audit(actor, "survey_opened", survey, fields=("status", "eligible")) if actor else None,
    )


def open_survey(store, actor: Actor, now: datetime, directory: Directory, survey_id: str) -> dict:
    survey = _survey(store, survey_id)
    policy.require_manager(actor, survey["union_path"])
    if survey["status"] != "draft":
        raise Conflict(
            "only a draft can be opened / 只能开启草稿问卷",
            details={"status": survey["status"]},
            reason="not_a_draft",
        )
    if survey.get("closes_at") and _aware(survey["closes_at"]) <= now:
        raise Conflict(
            "the closing time has passed / 截止时间已过",
            details={"closes_at": iso(survey["closes_at"])},
            reason="closing_time_passed",
        )
    return _view(_open(store, actor, now, directory, survey), actor, store)


def _close(store, actor: Actor | None, now: datetime, survey: dict, by: str) -> dict:
    store.close_tally(survey["_id"])  # first: from now on no answer is counted (or kept)
    closed = event(
        "survey_closed",
        survey_id=survey["_id"],
        union_id=survey["union_id"],
        title=survey["title"],
        responses=int(store.tally(survey["_id"]).get("n", 0)),
        eligible=survey["eligible"],
        by=by,
    )
    return store.change(
        "surveys",
        survey["_id"],
        expect={"status": "open"},
        set={"status": "closed", "closed_at": now},
        events=[closed],
        audit=_audit(actor, "survey_closed", survey, fields=("status",)) if actor else None,
    )


def close_survey(store, actor: Actor, now: datetime, survey_id: str) -> dict:
    survey = _survey(store, survey_id)
    policy.require_manager(actor, survey["union_path"])
    if survey["status"] != "open":
        raise Conflict(
            "only an open survey can be closed / 只能结束进行中的问卷",
            details={"status": survey["status"]},
            reason="not_open",
        )
    return _view(_close(store, actor, now, survey, "hand"), actor, store)


def remind(store, actor: Actor, now: datetime, keys: Keys, survey_id: str) -> dict:
    survey = _survey(store, survey_id)
    policy.require_manager(actor, survey["union_path"])
    if survey["status"] != "open":
        raise Conflict(
            "only an open survey can be reminded / 只能催答进行中的问卷",
            details={"status": survey["status"]},
            reason="not_open",
        )
    pending = survey["eligible"] - int(store.tally(survey_id).get("n", 0))
    number = survey.get("reminders", 0) + 1
    reminded = event(
        "survey_reminded",
        survey_id=survey_id,
        union_id=survey["union_id"],
        title=survey["title"],
        closes_at=iso(survey.get("closes_at")),
        reminder=number,
        pending=pending,
    )
    store.change(
        "surveys",
        survey_id,
        expect={"_v": survey["_v"], "status": "open"},
        inc={"reminders": 1},
        events=[reminded],
        audit=_audit(actor, "reminder_sent", survey, fields=("reminders",), note={"reminder": number}),
    )
    return {"survey_id": survey_id, "reminder": number, "pending": pending}


def follow_window(store, now: datetime, directory: Directory) -> dict:
    """Open due drafts and close due open surveys (the system, from the timer). Returns the counts.
    A move someone else made first (Conflict) is skipped."""
    opened = closed = 0
    for survey in store.surveys_in(("draft", "open")):
        try:
            opens, closes = _aware(survey.get("opens_at")), _aware(survey.get("closes_at"))
            if (
                survey["status"] == "draft"
                and opens is not None
                and opens <= now
                and (closes is None or closes > now)
            ):
                _open(store, None, now, directory, store.survey(survey["_id"]))
                opened += 1
            elif survey["status"] == "open" and closes is not None and closes <= now:
                _close(store, None, now, store.survey(survey["_id"]), "window")
                closed += 1
        except (Conflict, NotFound):
            continue
    return {"opened": opened, "closed": closed}


# ===== answering ==================================================================================
def _respondent(
    store, actor: Actor, keys: Keys, survey_id: str, cached: bool = False
) -> tuple[dict, dict, str]:
    if cached and isinstance(survey_id, str):
        survey = store.answering_survey(survey_id)
        if survey is None:
            raise NotFound("no such survey / 问卷不存在", details={"id": survey_id})
    else:
        survey = _survey(store, survey_id)
    member = store.audience_member(survey_id, actor.member_id) if survey["status"] != "draft" else None
    policy.require_respondent(actor, member is not None)
    return survey, member, keys.respondent(survey_id, actor.member_id)


def _require_open(survey: dict, now: datetime) -> None:
    closes = _aware(survey.get("closes_at"))
    if survey["status"] != "open" or (closes is not None and closes <= now):
        raise Conflict(NOT_OPEN, details={"status": survey["status"], "reason": "not_open"})


def _receipt(rid: str) -> str:
    return rid[:12].upper()


def my_response(store, actor: Actor, keys: Keys, survey_id: str) -> dict:
    survey, _, rid = _respondent(store, actor, keys, survey_id)
    questions = rules.questions_of(survey)
    response = store.response(survey_id, rid)
    if response is not None:
        answers = response["a"]
        return {
            "survey_id": survey_id,
            "status": "submitted",
            "answers": answers,
            "saved_at": None,
            "submitted_at": iso(response.get("at")) or response.get("day"),
            "receipt": _receipt(rid),
            "visible": rules.visible(questions, answers),
            "missing": [],
        }
    draft = store.draft(rid)
    answers = draft["a"] if draft else {}
    return {
        "survey_id": survey_id,
        "status": "draft" if draft else "not_started",
        "answers": answers,
        "saved_at": iso(draft["saved_at"]) if draft else None,
        "submitted_at": None,
        "receipt": None,
        "visible": rules.visible(questions, answers),
        "missing": rules.missing(survey, answers),
    }


def save_draft(store, actor: Actor, now: datetime, keys: Keys, survey_id: str, data: dict) -> dict:
    survey, _, rid = _respondent(store, actor, keys, survey_id)
    _require_open(survey, now)
    answers = rules.check_answers(survey, data["answers"], complete=False)
    if store.has_response(survey_id, rid):
        raise Conflict(ALREADY_SUBMITTED, details={"reason": "already_submitted"})
    if store.save_draft(rid, survey_id, answers, now):
        store.bump(survey_id, {"drafts": 1})
    questions = rules.questions_of(survey)
    return {
        "survey_id": survey_id,
        "status": "draft",
        "answers": answers,
        "saved_at": iso(now),
        "submitted_at": None,
        "receipt": None,
        "visible": rules.visible(questions, answers),
        "missing": rules.missing(survey, answers),
    }


def _extremes(survey: dict, answers: dict) -> dict:
    return {
        f"{q['id']}|": answers[q["id"]]
        for q in rules.questions_of(survey)
        if q["kind"] == "number" and q["id"] in answers
    }


def _texts(survey: dict, answers: dict) -> dict[str, str]:
    """The free-text answers of a response: ``{question id: text}``."""
    kinds = {q["id"]: q["kind"] for q in rules.questions_of(survey)}
    return {q: v for q, v in answers.items() if kinds.get(q) in c.TEXT_KINDS}


def count(store, survey: dict, response: dict) -> bool:
    """Add one stored response to the counters: the survey's (every question, with the numbers'
    extremes; guarded: refused once the survey's tally is closed) and its union's and department's
    (cross-tab kinds). False when the survey was closed meanwhile (nothing counted)."""
    sid, answers = survey["_id"], response["a"]
    ext = _extremes(survey, answers)
    counted = store.bump(
        sid,
        rules.increments(survey, answers),
        low={f"{k}min": v for k, v in ext.items()},
        high={f"{k}max": v for k, v in ext.items()},
        unless_closed=True,
    )
    if not counted:
        return False
    group_inc = rules.increments(survey, answers, rules.CROSSTAB_KINDS)
    store.bump(union_tally(sid, response["union_id"]), group_inc)
    if response.get("department_id"):
        store.bump(department_tally(sid, response["department_id"]), group_inc)
    return True


def submit_response(store, actor: Actor, now: datetime, keys: Keys, survey_id: str, data: dict) -> dict:
    """The hot path: the questionnaire of an open survey may come from the process's cache
    (``store.answering_survey``: it cannot change once open); whether the survey is still open is
    decided by the guarded ``$inc`` of its tally, which a close shuts first (a response that loses that
    race is removed again: Conflict, nothing stored)."""
    survey, member, rid = _respondent(store, actor, keys, survey_id, cached=True)
    _require_open(survey, now)
    answers = rules.check_answers(survey, data["answers"], complete=True)
    doc: dict[str, Any] = {
        "_id": rid,
        "a": answers,
        "union_id": member["union_id"],
        "department_id": member.get("department_id"),
        "day": now.astimezone(CHINA).date().isoformat(),
    }
    if not survey["anonymous"]:
        doc.update(member_id=actor.member_id, name=actor.name, at=now)
    try:
        store.insert_response(survey_id, doc)
    except DuplicateKeyError:
        raise Conflict(ALREADY_SUBMITTED, details={"reason": "already_submitted"}) from None
    texts = _texts(survey, answers)
    store.add_texts(survey_id, rid, texts, doc.get("name"))
    if not count(store, survey, doc):
        store.drop_texts(survey_id, rid, list(texts))
        store.delete_response(survey_id, rid)
        raise Conflict(NOT_OPEN, details={"status": "closed", "reason": "not_open"})
    if store.drop_draft(rid):
        store.bump(survey_id, {"drafts": -1})
    questions = rules.questions_of(survey)
    return {
        "survey_id": survey_id,
        "status": "submitted",
        "answers": answers,
        "saved_at": None,
        "submitted_at": iso(now),
        "receipt": _receipt(rid),
        "visible": rules.visible(questions, answers),
        "missing": [],
    }


# ===== results ====================================================================================
def _managed(store, actor: Actor, survey_id: str) -> dict:
    survey = _survey(store, survey_id)
    policy.require_manager(actor, survey["union_path"])
    return survey


def _withheld(survey: dict, responses: int) -> bool:
    return survey["anonymous"] and responses < survey["min_group"]


def results(store, actor: Actor, survey_id: str) -> dict:
    survey = _managed(store, actor, survey_id)
    tally = store.tally(survey_id)
    responses = int(tally.get("n", 0))
    withheld = _withheld(survey, responses)
    return {
        "survey_id": survey_id,
        "title": survey["title"],
        "status": survey["status"],
        "anonymous": survey["anonymous"],
        "min_group": survey["min_group"],
        "eligible": survey["eligible"],
        "responses": responses,
        "rate": round(responses / survey["eligible"], 4) if survey["eligible"] else 0.0,
        "withheld": withheld,
        "questions": []
        if withheld
        else [rules.question_result(q, tally) for q in rules.questions_of(survey)],
    }


def _group_tallies(store, survey: dict, by: str) -> list[dict]:
    sid = survey["_id"]
    if by == "union":
        groups, tally_id = survey["groups"]["unions"], union_tally
    else:
        groups, tally_id = survey["groups"]["departments"], department_tally
    tallies = store.tallies([tally_id(sid, g["key"]) for g in groups])
    out = []
    for g in groups:
        t = tallies[tally_id(sid, g["key"])]
        out.append(
            {
                "key": g["key"],
                "name": g["name"],
                "eligible": g["eligible"],
                "responses": int(t.get("n", 0)),
                "tally": {k: v for k, v in t.items() if k != "_id"},
            }
        )
    return out


def _fold(into: dict, group: dict) -> None:
    into["eligible"] = into.get("eligible", 0) + group.get("eligible", 0)
    rules.add(into.setdefault("tally", {}), group.get("tally", {}))


def crosstab(store, actor: Actor, survey_id: str, question_id: str, query: dict) -> dict:
    survey = _managed(store, actor, survey_id)
    q = _question(survey, question_id)
    if q["kind"] not in rules.CROSSTAB_KINDS:
        raise BadInput(
            "cross-tabs are for single, multiple and rating questions / 仅单选、多选、量表题可交叉分析",
            fields={"question_id": [q["kind"]]},
        )
    min_group = survey["min_group"]
    total = int(store.tally(survey_id).get("n", 0))
    groups = (
        []
        if _withheld(survey, total)
        else rules.merge_small(_group_tallies(store, survey, query["by"]), min_group, _fold)
    )
    shown = []
    for g in groups:
        if _withheld(survey, g["responses"]):
            continue  # only when every response together is below the minimum
        r = rules.question_result(q, g["tally"])
        shown.append(
            {
                "key": g["key"],
                "name": g["name"],
                "merged": g["merged"],
                "responses": g["responses"],
                "eligible": None,
                "rate": None,
                "counts": r["counts"],
                "mean": r["mean"],
            }
        )
    return {
        "survey_id": survey_id,
        "question_id": question_id,
        "by": query["by"],
        "min_group": min_group,
        "groups": shown,
    }


def participation(store, actor: Actor, survey_id: str) -> dict:
    survey = _managed(store, actor, survey_id)
    tally = store.tally(survey_id)
    responses = int(tally.get("n", 0))

    def rows(by: str) -> list[dict]:
        groups = _group_tallies(store, survey, by)
        if survey["anonymous"]:
            groups = rules.merge_small(groups, survey["min_group"], _fold)
            if _withheld(survey, responses):
                groups = []
        else:
            groups = [{**g, "merged": 1} for g in groups]
        return [
            {
                "key": g["key"],
                "name": g["name"],
                "merged": g["merged"],
                "responses": g["responses"],
                "eligible": g.get("eligible"),
                "counts": [],
                "mean": None,
                "rate": round(g["responses"] / g["eligible"], 4) if g.get("eligible") else None,
            }
            for g in groups
        ]

    return {
        "survey_id": survey_id,
        "status": survey["status"],
        "eligible": survey["eligible"],
        "responses": responses,
        "drafts": max(0, int(tally.get("drafts", 0))),
        "rate": round(responses / survey["eligible"], 4) if survey["eligible"] else 0.0,
        "by_union": rows("union"),
        "by_department": rows("department"),
    }


def texts(store, actor: Actor, survey_id: str, question_id: str, query: dict) -> dict:
    survey = _managed(store, actor, survey_id)
    q = _question(survey, question_id)
    if q["kind"] not in c.TEXT_KINDS:
        raise BadInput("not a text question / 不是文字题", fields={"question_id": [q["kind"]]})
    page, per = query["page"], query["per_page"]
    if _withheld(survey, int(store.tally(survey_id).get("n", 0))):
        items, total = [], 0
    else:
        items, total = store.texts(survey_id, question_id, query.get("q"), (page - 1) * per, per)
    if survey["anonymous"]:
        items = [{"text": i["text"], "name": None} for i in items]
    out = page_out(items, total, page, per)
    out.update(survey_id=survey_id, question_id=question_id)
    return out


def raw_answers(store, actor: Actor, survey_id: str, query: dict) -> dict:
    survey = _managed(store, actor, survey_id)
    offset = int(query["after"]) if query.get("after") and query["after"].isdigit() else 0
    names = {}
    for by in ("union", "department"):
        groups = _group_tallies(store, survey, by)
        merged = (
            rules.merge_small(groups, survey["min_group"])
            if survey["anonymous"]
            else [{**g, "merged": 1} for g in groups]
        )
        shown = {g["key"]: g["name"] for g in merged if g["key"] != rules.OTHER}
        names[by] = shown
    total = int(store.tally(survey_id).get("n", 0))
    if _withheld(survey, total):
        return {"survey_id": survey_id, "rows": [], "next": None}
    docs = store.response_page(survey_id, offset, query["limit"])
    rows = []
    for i, d in enumerate(docs, start=offset + 1):
        dept = d.get("department_id")
        rows.append(
            {
                "no": i,
                "submitted_on": d.get("day"),
                "group_union": names["union"].get(d["union_id"], rules.OTHER_NAME),
                "group_department": names["department"].get(dept, rules.OTHER_NAME) if dept else "",
                "member_id": None if survey["anonymous"] else d.get("member_id"),
                "name": None if survey["anonymous"] else d.get("name"),
                "answers": d["a"],
            }
        )
    nxt = str(offset + len(docs)) if len(docs) == query["limit"] else None
    return {"survey_id": survey_id, "rows": rows, "next": nxt}


def respondents(store, actor: Actor, survey_id: str, query: dict) -> dict:
    survey = _managed(store, actor, survey_id)
    if survey["anonymous"]:
        raise Conflict(
            "an anonymous survey shows nobody's name / 匿名问卷不显示答题人", details={"reason": "anonymous"}
        )
    page, per = query["page"], query["per_page"]
    unions = {g["key"]: g["name"] for g in survey["groups"]["unions"]}
    departments = {g["key"]: g["name"] for g in survey["groups"]["departments"]}
    docs = store.response_page(survey_id, (page - 1) * per, per)
    items = [
        {
            "member_id": d["member_id"],
            "name": d.get("name", ""),
            "union_name": unions.get(d["union_id"], ""),
            "department": departments.get(d.get("department_id"), ""),
            "submitted_at": iso(d.get("at")),
        }
        for d in docs
    ]
    total = int(store.tally(survey_id).get("n", 0))
    return page_out(items, total, page, per)


def recount(store, actor: Actor, survey_id: str) -> dict:
    """Rebuild every counter of the survey from its responses; ``drifted`` when they differed."""
    survey = _survey(store, survey_id)
    if not actor.is_system:
        policy.require_manager(actor, survey["union_path"])
    sid = survey["_id"]
    totals: dict[str, dict] = {sid: {}}
    for g in survey["groups"]["unions"]:
        totals[union_tally(sid, g["key"])] = {}
    for g in survey["groups"]["departments"]:
        totals[department_tally(sid, g["key"])] = {}
    for r in store.iter_responses(sid):
        answers = r["a"]
        store.add_texts(sid, r["_id"], _texts(survey, answers), r.get("name"))  # repairs missing ones
        rules.add(totals[sid], rules.increments(survey, answers))
        for k, v in _extremes(survey, answers).items():
            totals[sid][f"{k}min"] = min(totals[sid].get(f"{k}min", v), v)
            totals[sid][f"{k}max"] = max(totals[sid].get(f"{k}max", v), v)
        group_inc = rules.increments(survey, answers, rules.CROSSTAB_KINDS)
        rules.add(totals.setdefault(union_tally(sid, r["union_id"]), {}), group_inc)
        if r.get("department_id"):
            rules.add(totals.setdefault(department_tally(sid, r["department_id"]), {}), group_inc)
    old = store.tallies(list(totals))
    drafts = old[sid].get("drafts", 0)
    if drafts:
        totals[sid]["drafts"] = drafts

    def clean(t: dict) -> dict:
        return {k: v for k, v in t.items() if k != "_id" and v != 0}

    if old[sid].get("closed"):
        totals[sid]["closed"] = True
    drifted = any(clean(old[t]) != clean(totals[t]) for t in totals)
    store.replace_tallies(sid, totals)
    return {"survey_id": sid, "responses": int(totals[sid].get("n", 0)), "drifted": drifted}


def audience_members(
    store, actor: Actor, keys: Keys, survey_id: str, offset: int, limit: int, pending: bool
) -> dict:
    policy.require_system(actor)
    survey = _survey(store, survey_id)
    limit = max(1, min(int(limit), 5000))
    page = store.audience_page(survey_id, int(offset), limit)
    members = [
        {"member_id": m["_id"], "locale": m.get("locale") or "zh_CN"}
        for m in page
        if not pending or not store.has_response(survey_id, keys.respondent(survey_id, m["_id"]))
    ]
    return {"survey_id": survey_id, "total": survey["eligible"], "offset": int(offset), "members": members}
