"""Who may do what with polls and evaluation campaigns: the one place the voting service decides it.

Pure functions over :class:`dmlib.auth.Actor` and the scope facts of a poll (its owner, union, union
path, congress) or a campaign (its union path, its Worker Homes); no nameko, no pymongo. ``require_*``
raise :class:`dmlib.errors.Forbidden` with a plain message naming nothing of the object.

Rules (DESIGN.md §1, §4):

- choice polls are opened and closed by a service (congress), never by a person;
- a congress vote poll belongs to the union of its congress (``union_id``/``union_path``, given by
  congress when it opens the poll): it is seen by that union's admins and the admins above it, its
  members, its congress's delegates and the poll's voters; a poll stored before polls knew their union
  is seen only by the system, superior admins and its voters;
- a campaign is run by the superior admins of its union; it is seen by them, by the admins and members
  of its Worker Homes; a union admin scores and reads the opinions of their own Worker Home only; a
  member rates their own union's Worker Home only; live results are for the campaign's admins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from dmlib.auth import Actor

NOT_A_READER = "not a voter of this poll / 您不是本投票的投票人"
NOT_YOUR_CAMPAIGN = "not a campaign of your union / 非本单位参与的评选"


def require_system(actor: Actor, message: str = "system only / 仅限系统") -> None:
    actor.require(actor.is_system, message)


# ----- polls --------------------------------------------------------------------------------------
def sees_choice_poll(actor: Actor, poll: dict, is_voter: Callable[[], bool]) -> bool:
    """May ``actor`` read this choice poll (its header, counts, receipts, published ballot list)?

    ``poll`` carries ``union_id``, ``union_path`` and ``congress_id`` when its owner gave them;
    ``is_voter`` is asked only when the other facts do not decide (it costs a read)."""
    if actor.is_system:
        return True
    union_id, path = poll.get("union_id"), poll.get("union_path") or []
    if not union_id:  # a poll from before polls knew their union: no admin but superior ones
        return bool(actor.scopes("superior_admin")) or is_voter()
    return (
        actor.administers(path)
        or actor.union_id == union_id
        or bool(poll.get("congress_id") and actor.has("delegate", poll["congress_id"]))
        or is_voter()
    )


def sees_rating_poll(actor: Actor, poll: dict) -> bool:
    """A rating poll without its campaign: the system, admins, members of its subjects' unions."""
    return (
        actor.is_system or bool(actor.admin_unions) or actor.union_id in {s["id"] for s in poll["subjects"]}
    )


def require_read_poll(actor: Actor, allowed: bool) -> None:
    actor.require(allowed, NOT_A_READER)


def require_cast_choice(actor: Actor, is_voter: bool) -> None:
    """Only the poll's voters (the delegates present when the vote opened, DESIGN.md §4) cast."""
    actor.require(is_voter, "you are not entitled to vote in this poll / 您不在本次表决的投票人名单中")


# ----- campaigns ----------------------------------------------------------------------------------
def is_campaign_admin(actor: Actor, campaign: dict) -> bool:
    """The system or a superior admin of the campaign's union (or above)."""
    return actor.is_system or bool(actor.scopes("superior_admin") & set(campaign["union_path"]))


def require_campaign_admin(actor: Actor, campaign: dict) -> None:
    actor.require(
        is_campaign_admin(actor, campaign),
        "only the superior union running the campaign may do this / 仅组织评选的上级工会可操作",
    )


def require_create_campaign(actor: Actor, union_path: Sequence[str]) -> None:
    actor.require(
        actor.is_system or bool(actor.scopes("superior_admin") & set(union_path)),
        "only a superior union's admin runs evaluations / 仅上级工会管理员可组织评选",
    )


def sees_campaign(actor: Actor, campaign: dict) -> bool:
    """The campaign's admins, the admins and members of its Worker Homes, the system."""
    homes = {h["union_id"] for h in campaign["homes"]}
    return (
        actor.is_system
        or bool(actor.admin_unions & (set(campaign["union_path"]) | homes))
        or actor.union_id in homes
    )


def needs_vote(actor: Actor, is_voter: bool) -> bool:
    """ "What needs me" lists an open choice poll (a congress vote) for its voters only, never for the
    system: the rule of :func:`require_cast_choice`, asked as a question."""
    return is_voter and not actor.is_system


def needs_parts(actor: Actor, campaign: dict) -> tuple[bool, bool]:
    """What "what needs me" (``needs_of``) shows the actor of an open campaign: (a ballot to cast: they
    are a member of one of its Worker Homes; its participation per home: they are its admin)."""
    homes = {h["union_id"] for h in campaign["homes"]}
    return (not actor.is_system and actor.union_id in homes, is_campaign_admin(actor, campaign))


def require_sees_campaign(actor: Actor, campaign: dict) -> None:
    actor.require(sees_campaign(actor, campaign), NOT_YOUR_CAMPAIGN)


def require_unit_score(actor: Actor, union_id: str) -> None:
    """The unit score of a Worker Home: that union's own admin (or the system)."""
    actor.require(
        actor.is_system or actor.has("union_admin", union_id),
        "each union scores its own Worker Home only / 单位评分仅限本单位工会",
    )


def require_rate_home(actor: Actor, homes: Iterable[str], asked_home: str | None) -> None:
    """A member rates their own union's Worker Home, when it takes part, and no other."""
    home = actor.union_id
    actor.require(
        home is not None and home in set(homes) and asked_home in (None, home),
        "members rate their own union's Worker Home only / 会员只能评价本单位职工之家",
    )


def require_live_results(actor: Actor, campaign: dict) -> None:
    """Results before publication: the campaign's admins only."""
    actor.require(
        is_campaign_admin(actor, campaign),
        "results are published after the campaign closes / 评选结果将在结束后公布",
    )


def require_opinions(actor: Actor, campaign: dict, home: str | None) -> None:
    """Opinions: the campaign's admins (all homes), or a union admin for their own home."""
    if not is_campaign_admin(actor, campaign):
        actor.require(
            home is not None and actor.has("union_admin", home),
            "opinions are for the admins of the home / 仅本单位工会可查看意见",
        )
