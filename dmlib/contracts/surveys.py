"""Contract of the ``surveys`` service (职工问卷调查): questionnaires with sections and question kinds,
audience, window, anonymity, responses (drafts and submissions) and results.

A questionnaire is validated twice: field by field here (:class:`SurveyIn`), and as a whole by
``services.surveys.rules.check_questionnaire`` (unique ids, skip logic pointing backwards at a choice or
rating question, options that exist). Answers are a map ``{question_id: value}`` whose value's shape
depends on the question's kind (:data:`ANSWER_SHAPES`); they are checked against the survey by
``services.surveys.rules.check_answers``, each bad answer a field message under ``answers.<question id>``.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from dmlib.schemas import BaseSchema, Id, PageIn, PageOut

#: Question kinds (code → Chinese label).
KINDS = {
    "single": "单选题",
    "multiple": "多选题",
    "rating": "量表题",
    "ranking": "排序题",
    "matrix": "矩阵量表题",
    "short_text": "填空题",
    "long_text": "简答题",
    "number": "数字题",
}
#: Rating scales (rating and matrix questions): code → (lowest, highest).
SCALES = {"1-5": (1, 5), "0-10": (0, 10)}
#: What an answer to each kind looks like (``answers`` of :class:`ResponseIn`).
ANSWER_SHAPES = {
    "single": "an option id (string)",
    "multiple": "a list of distinct option ids, min_choices…max_choices of them",
    "rating": "an integer on the question's scale",
    "ranking": "a list of option ids in order of preference (every option once, or the first max_choices)",
    "matrix": "{row id: integer on the scale}, every row when required",
    "short_text": "a string of 1…max_length characters, one line",
    "long_text": "a string of 1…max_length characters",
    "number": "a number within min…max (an integer when integer is true)",
}
CHOICE_KINDS = ("single", "multiple", "ranking")
TEXT_KINDS = ("short_text", "long_text")
#: Longest text answer allowed per kind (the question's ``max_length`` may be lower).
TEXT_LIMITS = {"short_text": 200, "long_text": 2000}
AUDIENCE_KINDS = ("unions", "departments", "delegates")
STATUSES = ("draft", "open", "closed")
TEMPLATES = ("needs", "satisfaction", "canteen")
LANGUAGES = ("zh", "en")
MAX_QUESTIONS = 100
MIN_GROUP_DEFAULT = 5


class OptionIn(BaseSchema):
    """An option of a choice or ranking question, or a row of a matrix."""

    id = Id(required=True, metadata={"description": "unique within the question, e.g. o1"})
    label = fields.String(
        required=True, validate=validate.Length(min=1, max=200, error="1-200 characters / 选项须为1-200字")
    )


class ShowIfIn(BaseSchema):
    """Skip logic: show this question only if an earlier single, multiple or rating question was
    answered with one of ``any_of`` (option ids; for a rating, the values as strings, e.g. ``"1"``)."""

    question = Id(required=True)
    any_of = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=50),
    )


class QuestionIn(BaseSchema):
    """One question. Which fields apply depends on ``kind``:

    - ``single``/``multiple``/``ranking``: ``options`` (2-50); ``multiple``: ``min_choices`` (default 0, or
      1 when required) and ``max_choices`` (default: all); ``ranking``: ``max_choices`` = how many to rank
      (default: all);
    - ``rating``: ``scale`` (``1-5`` or ``0-10``), ``low_label``/``high_label``;
    - ``matrix``: ``rows`` (1-30) rated on ``scale``;
    - ``short_text``/``long_text``: ``max_length`` (≤ 200 / ≤ 2,000; default the limit);
    - ``number``: ``min``, ``max`` (both required: they also bound the histogram), ``integer``, ``unit``.
    """

    id = Id(required=True, metadata={"description": "unique within the survey, e.g. q1"})
    kind = fields.String(
        required=True, validate=validate.OneOf(list(KINDS), error="unknown question kind / 未知的题型")
    )
    title = fields.String(
        required=True, validate=validate.Length(min=1, max=300, error="1-300 characters / 题目须为1-300字")
    )
    help = fields.String(load_default=None, validate=validate.Length(max=300))
    required = fields.Boolean(load_default=False)
    options = fields.List(fields.Nested(OptionIn), load_default=list)
    min_choices = fields.Integer(load_default=None, validate=validate.Range(min=0, max=50))
    max_choices = fields.Integer(load_default=None, validate=validate.Range(min=1, max=50))
    scale = fields.String(load_default=None, validate=validate.OneOf(list(SCALES)))
    low_label = fields.String(load_default=None, validate=validate.Length(max=40))
    high_label = fields.String(load_default=None, validate=validate.Length(max=40))
    rows = fields.List(fields.Nested(OptionIn), load_default=list)
    max_length = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2000))
    min = fields.Float(load_default=None)
    max = fields.Float(load_default=None)
    integer = fields.Boolean(load_default=False)
    unit = fields.String(load_default=None, validate=validate.Length(max=20))
    show_if = fields.Nested(ShowIfIn, load_default=None, allow_none=True)


class SectionIn(BaseSchema):
    id = Id(required=True)
    title = fields.String(load_default="", validate=validate.Length(max=200))
    description = fields.String(load_default="", validate=validate.Length(max=1000))
    questions = fields.List(
        fields.Nested(QuestionIn), required=True, validate=validate.Length(min=1, max=100)
    )


class AudienceIn(BaseSchema):
    """Who may answer: ``unions`` (the members of these unions and of every union below them),
    ``departments`` (the members of these departments of ``union_id``), or ``delegates`` (the delegates
    of congress term ``term_id``). Membership is read from its owner (members, congress) when the survey
    opens and kept as the survey's audience."""

    kind = fields.String(required=True, validate=validate.OneOf(AUDIENCE_KINDS))
    union_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=200))
    department_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=200))
    term_id = Id(load_default=None, allow_none=True)

    @validates_schema
    def _complete(self, data, **kwargs):
        kind = data["kind"]
        if kind == "unions" and not data["union_ids"]:
            raise ValidationError("choose at least one union / 请选择调查单位", "union_ids")
        if kind == "departments" and not data["department_ids"]:
            raise ValidationError("choose at least one department / 请选择部门", "department_ids")
        if kind == "delegates" and not data.get("term_id"):
            raise ValidationError("choose the congress term / 请选择职代会届次", "term_id")


class SurveyIn(BaseSchema):
    """A questionnaire (a draft until opened). ``union_id``: the union that runs it (its admins manage it;
    for ``departments`` the departments' union). Window: ``opens_at``/``closes_at`` (UTC, optional: the
    survey opens and closes by itself at those times; without them the admin opens and closes it by
    hand). ``anonymous`` (default true): answers are stored with no member id and reports never show a
    group of fewer than ``min_group`` responses (default 5, 1-100)."""

    union_id = Id(required=True)
    title = fields.String(
        required=True, validate=validate.Length(min=2, max=120, error="2-120 characters / 标题须为2-120字")
    )
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    language = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))
    sections = fields.List(fields.Nested(SectionIn), required=True, validate=validate.Length(min=1, max=20))
    audience = fields.Nested(AudienceIn, required=True)
    opens_at = fields.AwareDateTime(load_default=None, allow_none=True)
    closes_at = fields.AwareDateTime(load_default=None, allow_none=True)
    anonymous = fields.Boolean(load_default=True)
    min_group = fields.Integer(load_default=MIN_GROUP_DEFAULT, validate=validate.Range(min=1, max=100))

    @validates_schema
    def _window(self, data, **kwargs):
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and closes <= opens:
            raise ValidationError("must be after opens_at / 截止时间须晚于开始时间", "closes_at")


class SurveyUpdateIn(SurveyIn):
    """The whole questionnaire again (drafts only), guarded by the ``version`` read."""

    version = fields.Integer(required=True)


class ResponseIn(BaseSchema):
    """Answers (``{question id: value}``, shapes in :data:`ANSWER_SHAPES`). A draft may be partial and is
    checked answer by answer; a submission must answer every required question that its skip logic
    shows, and answers to hidden questions are refused."""

    answers = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Raw(allow_none=True),
        required=True,
    )


class SurveyListIn(PageIn):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class TextsIn(PageIn):
    """Free texts of one question: ``q`` searches (substring, case-insensitive)."""

    q = fields.String(load_default=None, validate=validate.Length(max=100))


class CrosstabIn(BaseSchema):
    by = fields.String(required=True, validate=validate.OneOf(("union", "department")))


class RawIn(BaseSchema):
    """A page of the raw-answers iterator: ``after`` (the ``next`` cursor of the previous page, absent
    for the first) and ``limit`` (1-2,000)."""

    after = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=2000))


# ----- out ---------------------------------------------------------------------------------------
class OptionOut(BaseSchema):
    id = fields.String()
    label = fields.String()


class ShowIfOut(BaseSchema):
    question = fields.String()
    any_of = fields.List(fields.String())


class QuestionOut(BaseSchema):
    id = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    title = fields.String()
    help = fields.String(allow_none=True)
    required = fields.Boolean()
    options = fields.List(fields.Nested(OptionOut))
    min_choices = fields.Integer(allow_none=True)
    max_choices = fields.Integer(allow_none=True)
    scale = fields.String(allow_none=True)
    low_label = fields.String(allow_none=True)
    high_label = fields.String(allow_none=True)
    rows = fields.List(fields.Nested(OptionOut))
    max_length = fields.Integer(allow_none=True)
    min = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)
    integer = fields.Boolean()
    unit = fields.String(allow_none=True)
    show_if = fields.Nested(ShowIfOut, allow_none=True)


class SectionOut(BaseSchema):
    id = fields.String()
    title = fields.String()
    description = fields.String()
    questions = fields.List(fields.Nested(QuestionOut))


class AudienceOut(BaseSchema):
    kind = fields.String()
    union_ids = fields.List(fields.String())
    department_ids = fields.List(fields.String())
    term_id = fields.String(allow_none=True)


class SurveyOut(BaseSchema):
    id = fields.String()
    union_id = fields.String()
    union_name = fields.String()
    title = fields.String()
    description = fields.String()
    language = fields.String()
    sections = fields.List(fields.Nested(SectionOut))
    audience = fields.Nested(AudienceOut)
    opens_at = fields.String(allow_none=True)
    closes_at = fields.String(allow_none=True)
    anonymous = fields.Boolean()
    min_group = fields.Integer()
    status = fields.String(metadata={"description": "draft | open | closed"})
    version = fields.Integer(metadata={"description": "send back with update_survey"})
    created_at = fields.String()
    created_by_name = fields.String()
    opened_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    question_count = fields.Integer()
    eligible = fields.Integer(metadata={"description": "audience size, fixed when opened (0 before)"})
    responses = fields.Integer()
    reminders = fields.Integer(metadata={"description": "reminders sent so far"})
    can_manage = fields.Boolean()


class SurveySummaryOut(BaseSchema):
    id = fields.String()
    union_id = fields.String()
    union_name = fields.String()
    title = fields.String()
    status = fields.String()
    anonymous = fields.Boolean()
    opens_at = fields.String(allow_none=True)
    closes_at = fields.String(allow_none=True)
    eligible = fields.Integer()
    responses = fields.Integer()
    mine = fields.String(
        allow_none=True,
        metadata={"description": "the caller's state in my_surveys: not_started | draft | submitted"},
    )


class SurveyPageOut(PageOut):
    items = fields.List(fields.Nested(SurveySummaryOut))


class TemplateOut(BaseSchema):
    key = fields.String(metadata={"description": "needs | satisfaction | canteen"})
    language = fields.String()
    title = fields.String()
    description = fields.String()
    question_count = fields.Integer()


class MyResponseOut(BaseSchema):
    """The caller's answers so far: a draft (resume) or the submitted response (read only)."""

    survey_id = fields.String()
    status = fields.String(metadata={"description": "not_started | draft | submitted"})
    answers = fields.Dict(keys=fields.String(), values=fields.Raw())
    saved_at = fields.String(allow_none=True)
    submitted_at = fields.String(allow_none=True)
    visible = fields.List(
        fields.String(), metadata={"description": "ids of the questions shown now (skip logic)"}
    )
    missing = fields.List(
        fields.String(), metadata={"description": "required questions shown but unanswered"}
    )
    receipt = fields.String(allow_none=True, metadata={"description": "a code the member can keep"})


class CountOut(BaseSchema):
    id = fields.String(metadata={"description": "option id, or a scale value as a string"})
    label = fields.String()
    count = fields.Integer()
    percent = fields.Float(metadata={"description": "of those who answered the question, 0-100, 1 decimal"})


class BinOut(BaseSchema):
    low = fields.Float(metadata={"description": "inclusive"})
    high = fields.Float(metadata={"description": "exclusive, except the last bin"})
    count = fields.Integer()


class MatrixRowOut(BaseSchema):
    id = fields.String()
    label = fields.String()
    answered = fields.Integer()
    counts = fields.List(fields.Nested(CountOut), metadata={"description": "one per scale value"})
    mean = fields.Float(allow_none=True)


class RankOut(BaseSchema):
    id = fields.String()
    label = fields.String()
    ranked = fields.Integer(metadata={"description": "responses that ranked it"})
    mean_rank = fields.Float(allow_none=True, metadata={"description": "1 = first"})
    first = fields.Integer(metadata={"description": "responses that ranked it first"})
    points = fields.Integer(metadata={"description": "Borda points: n-1 for first … 0 for last of n"})


class QuestionResultOut(BaseSchema):
    """Results of one question. ``counts`` for single/multiple/rating, ``rows`` for matrix, ``ranks`` for
    ranking, ``bins``/``mean``/``min_seen``/``max_seen`` for number, ``text_count`` for texts (read them
    with ``texts``)."""

    id = fields.String()
    kind = fields.String()
    title = fields.String()
    answered = fields.Integer()
    skipped = fields.Integer(metadata={"description": "responses that left it blank or did not see it"})
    counts = fields.List(fields.Nested(CountOut))
    mean = fields.Float(allow_none=True)
    rows = fields.List(fields.Nested(MatrixRowOut))
    ranks = fields.List(fields.Nested(RankOut))
    bins = fields.List(fields.Nested(BinOut))
    min_seen = fields.Float(allow_none=True)
    max_seen = fields.Float(allow_none=True)
    text_count = fields.Integer()


class ResultsOut(BaseSchema):
    """Results of a survey from its counters (kept as responses arrive; ``recount`` rebuilds them).
    ``withheld`` is true when an anonymous survey has fewer responses than ``min_group``: then
    ``questions`` is empty."""

    survey_id = fields.String()
    title = fields.String()
    status = fields.String()
    anonymous = fields.Boolean()
    min_group = fields.Integer()
    eligible = fields.Integer()
    responses = fields.Integer()
    rate = fields.Float(metadata={"description": "responses ÷ eligible, 0-1"})
    withheld = fields.Boolean()
    questions = fields.List(fields.Nested(QuestionResultOut))


class GroupOut(BaseSchema):
    """One group of a cross-tab or of participation. ``key`` is a union or department id, or ``other``
    for the groups merged because they were below the minimum (``merged``: how many)."""

    key = fields.String()
    name = fields.String()
    merged = fields.Integer()
    responses = fields.Integer()
    eligible = fields.Integer(allow_none=True)
    rate = fields.Float(allow_none=True)
    counts = fields.List(fields.Nested(CountOut))
    mean = fields.Float(allow_none=True)


class CrosstabOut(BaseSchema):
    survey_id = fields.String()
    question_id = fields.String()
    by = fields.String()
    min_group = fields.Integer()
    groups = fields.List(fields.Nested(GroupOut))


class ParticipationOut(BaseSchema):
    survey_id = fields.String()
    status = fields.String()
    eligible = fields.Integer()
    responses = fields.Integer()
    drafts = fields.Integer(metadata={"description": "members who saved answers but have not submitted"})
    rate = fields.Float()
    by_union = fields.List(fields.Nested(GroupOut))
    by_department = fields.List(fields.Nested(GroupOut))


class TextOut(BaseSchema):
    text = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "named surveys only"})


class TextPageOut(PageOut):
    survey_id = fields.String()
    question_id = fields.String()
    items = fields.List(fields.Nested(TextOut))


class RawRowOut(BaseSchema):
    """One response as exported: ``no`` (1…), ``group_union``/``group_department`` (names, ``其他/other``
    when the group is below the minimum), ``member_id``/``name`` (named surveys only), ``answers``."""

    no = fields.Integer()
    submitted_on = fields.String(metadata={"description": "the China calendar day, YYYY-MM-DD"})
    group_union = fields.String()
    group_department = fields.String()
    member_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    answers = fields.Dict(keys=fields.String(), values=fields.Raw())


class RawPageOut(BaseSchema):
    survey_id = fields.String()
    rows = fields.List(fields.Nested(RawRowOut))
    next = fields.String(
        allow_none=True, metadata={"description": "cursor of the next page; null at the end"}
    )


class RespondentOut(BaseSchema):
    member_id = fields.String()
    name = fields.String()
    union_name = fields.String()
    department = fields.String()
    submitted_at = fields.String()


class RespondentPageOut(PageOut):
    items = fields.List(fields.Nested(RespondentOut))


class AudiencePageOut(BaseSchema):
    """A page of the audience for a notifier (system only): ``members`` [{member_id, locale}]."""

    survey_id = fields.String()
    total = fields.Integer()
    offset = fields.Integer()
    members = fields.List(fields.Dict())
