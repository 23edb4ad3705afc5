"""Who may do what with worker surveys: the one place the surveys service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of the object (the ``union_path`` of
the union that runs a survey; whether the actor is in the survey's audience, read from the survey's own
audience by ``_id``). No nameko, no pymongo. ``require_*`` raise :class:`dmlib.errors.Forbidden` with a
plain bilingual message naming nothing of the object.

Rules (DESIGN.md §1, §4 "Surveys"; issue 15):

- admins of the union that runs the survey, or of a union above it, build, open, close and remind, and
  read results, cross-tabs, participation, free texts, raw answers and (named surveys) respondents;
  every union, department and congress term of the audience must be in their care too;
- the members of the audience (fixed when the survey opens) read the questionnaire, save drafts, resume
  and submit, once; nobody reads another member's answers, and for an anonymous survey nobody (admins
  included) can see who answered what;
- notify's fan-out (the audience, those who have not answered) and counter rebuilds are the system's;
- anyone else: refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmlib.auth import Actor

NOT_AN_ADMIN = "only admins of the union running this survey may do this / 仅发起调查的工会管理员可操作"
NOT_IN_CARE = "the audience must be within your unions / 调查对象须在本单位范围内"
NOT_IN_AUDIENCE = "this survey is not for you / 您不在本次调查范围内"
NOT_SYSTEM = "system only / 仅限系统"


def may_manage(actor: Actor, union_path: Sequence[str]) -> bool:
    """Admins of the union (path root … union) or above; the system."""
    return actor.administers(union_path)


def require_manager(actor: Actor, union_path: Sequence[str]) -> None:
    """Build, open, close, remind, results of every kind."""
    actor.require(may_manage(actor, union_path), NOT_AN_ADMIN)


def require_in_care(actor: Actor, union_path: Sequence[str]) -> None:
    """A union of the audience (or a department's or congress's union) must be one the actor administers."""
    actor.require(may_manage(actor, union_path), NOT_IN_CARE)


def may_answer(actor: Actor, in_audience: bool) -> bool:
    """The members of the audience (never the system: answers are people's)."""
    return in_audience and not actor.is_system


def require_respondent(actor: Actor, in_audience: bool) -> None:
    """Read the questionnaire as a respondent, save drafts, resume, submit."""
    actor.require(may_answer(actor, in_audience), NOT_IN_AUDIENCE)


def require_reader(actor: Actor, union_path: Sequence[str], in_audience: bool) -> None:
    """The questionnaire itself: its admins, or its audience."""
    actor.require(may_manage(actor, union_path) or may_answer(actor, in_audience), NOT_IN_AUDIENCE)


def needs_scopes(actor: Actor) -> set[str]:
    """The unions whose running surveys "what needs me" (``needs_of``) shows the actor, with the unions
    below (:func:`may_manage` decides each survey); what they are to answer comes from the audience."""
    return set(actor.admin_unions)


def require_system(actor: Actor) -> None:
    """Notify's fan-out, migrations."""
    actor.require(actor.is_system, NOT_SYSTEM)
