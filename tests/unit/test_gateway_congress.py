"""The congress pages' pure helpers (issue 16): the minutes' title names the term and the congress once,
书名号 nest as 〈〉, the desk's and co-signers' name picker, the date-time field in China time."""

import pytest

from services.gateway.congress import book_title, china_input, china_time, find_delegates, session_heading


@pytest.mark.parametrize(
    ("title", "heading"),
    [
        ("第三届职工代表大会第一次会议", "亦庄精密第三届职工代表大会第一次会议纪要"),
        ("第一次会议", "亦庄精密职工代表大会第3届第一次会议纪要"),
        ("第三届第二次会议（临时会议）", "亦庄精密职工代表大会第三届第二次会议（临时会议）会议纪要"),
    ],
)
def test_the_minutes_title_names_the_term_once(title, heading):
    assert session_heading("亦庄精密职工代表大会", 3, title) == heading


def test_a_title_with_its_own_book_marks_nests_them_as_angle_brackets():
    assert book_title("关于《集体合同》的决议") == "《关于〈集体合同〉的决议》"
    assert book_title("关于食堂改造方案的决议") == "《关于食堂改造方案的决议》"
    assert book_title("《集体合同》") == "《集体合同》"


class FakeCongress:
    def __init__(self, delegates):
        self.delegates = delegates
        self.asked = []

    def list_delegates(self, term_id):
        self.asked.append(term_id)
        return self.delegates


def test_the_name_picker_finds_by_name_or_number_at_most_the_limit():
    rpc = FakeCongress(
        [
            {"member_id": f"M{i:04d}", "name": name, "delegation_name": "一团"}
            for i, name in enumerate(["张伟", "张敏", "李娜"])
        ]
    )
    assert [d["member_id"] for d in find_delegates(rpc, "t1", "张")] == ["M0000", "M0001"]
    assert [d["name"] for d in find_delegates(rpc, "t1", " m0002 ")] == ["李娜"]
    assert len(find_delegates(rpc, "t1", "m", limit=2)) == 2
    assert find_delegates(rpc, "t1", "  ") == [] and rpc.asked == ["t1"] * 3  # an empty search asks nothing


def test_date_time_fields_are_china_time():
    assert china_input("2026-12-18T09:00") == "2026-12-18T09:00:00+08:00"
    assert china_input("") is None and china_input("soon") == "soon"  # the contract refuses it
    assert china_time("2026-12-18T01:00:00Z") == "2026-12-18 09:00" and china_time(None) == ""
