"""The admins' union filter (services/gateway/federation.py, issue 16) with a hand-written members
service: the unions an admin administers and those below, of one kind, each once, by id."""

from dmlib.errors import Forbidden
from services.gateway.federation import unions_to_pick
from tests.helpers import member, union_admin

TREE = {
    "ftu": ["ftu", "area", "u01", "u02"],
    "area": ["area", "u01", "u02"],
    "u01": ["u01"],
    "u02": ["u02"],
}
KINDS = {"ftu": "federation", "area": "street", "u01": "grassroots", "u02": "grassroots"}


class Members:
    def __init__(self):
        self.asked = []

    def list_unions(self, under, kind=None):
        self.asked.append(under)
        if under == "gone":
            raise Forbidden("no")
        return [
            {"id": u, "name": f"{u}工会", "kind": KINDS[u]} for u in TREE[under] if kind in (None, KINDS[u])
        ]


class Web:
    """The page toolkit's ``visible``: a refused read shows nothing."""

    @staticmethod
    def visible(call, *args, default=None):
        try:
            return call(*args)
        except Forbidden:
            return default


def test_an_admin_picks_among_the_unions_below_each_once():
    members = Members()
    both = member("A1", "u01", ("union_admin", "area"), ("superior_admin", "ftu"), ("union_admin", "gone"))
    assert unions_to_pick(members, Web(), both) == [
        {"id": "u01", "name": "u01工会"},
        {"id": "u02", "name": "u02工会"},
    ]
    assert sorted(members.asked) == ["area", "ftu", "gone"]
    assert [u["id"] for u in unions_to_pick(Members(), Web(), union_admin("ftu"), kind=None)] == [
        "area",
        "ftu",
        "u01",
        "u02",
    ]
    assert unions_to_pick(Members(), Web(), union_admin("u02")) == [{"id": "u02", "name": "u02工会"}]
    assert unions_to_pick(Members(), Web(), member("M1", "u01")) == []
