"""The official results report of an election (选举结果报告) as DOCX (python-docx) and the results as XLSX
(openpyxl through :mod:`dmlib.exports`, the one way to write a spreadsheet). Pure: an election as
:func:`services.elections.app.election_out` shapes it → bytes."""

from __future__ import annotations

import io

from openpyxl import Workbook

from dmlib.exports import xlsx_append

KIND_ZH = {"committee": "工会委员会委员", "chair": "工会主席", "delegates": "职工代表"}
ROUND_ZH = {
    "first": "第一轮选举",
    "runoff": "重新投票（票数相等）",
    "further": "另行选举",
    "repeat": "重新选举",
}
NEXT_ZH = {
    "done": "名额已满",
    "runoff": "票数相等，重新投票",
    "further_round": "名额不足，另行选举",
    "vacant": "名额不足，空缺",
    "repeat": "参加人数不足，选举无效",
}
RULE_TEXT = (
    "计票规则（《工会基层组织选举工作条例》，2016年；条款序号未经核对）：参加选举的人数超过应到会有选举权人数的"
    "三分之二，选举有效；被选举人获得赞成票超过应到会有选举权人数的半数始得当选；每张选票赞成（含另选他人）的人数"
    "多于应选名额的为无效票；得赞成票超过半数的人数多于应选名额时以得票多少为序，最后名额票数相等的重新投票。"
)


def _rows(election: dict, rnd: dict) -> list[list]:
    counts = rnd.get("counts") or {}
    names = {c["member_id"]: c["name"] for c in rnd["candidates"]}
    names.update({c["member_id"]: c["name"] for c in election["candidates"]})
    elected = set((rnd.get("decision") or {}).get("elected", []))
    approve = counts.get("approve", {})
    rows = []
    for person in sorted(approve, key=lambda m: (-approve[m], m)):
        written = person not in names or person not in {c["member_id"] for c in rnd["candidates"]}
        rows.append(
            [
                names.get(person, person) + ("（另选他人）" if written else ""),
                approve[person],
                counts.get("disapprove", {}).get(person, ""),
                counts.get("abstain", {}).get(person, ""),
                "当选" if person in elected else "",
            ]
        )
    return rows


def report_docx(election: dict) -> bytes:
    """选举结果报告: electors due, took part, valid and invalid ballots, approvals per candidate, elected."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "SimSun"
    normal.font.size = Pt(11)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    doc.add_heading(f"{election['union_name']}{election['title']}选举结果报告", level=1)
    for label, value in (
        ("选举类别", KIND_ZH.get(election["kind"], election["kind"])),
        ("应选名额", f"{election['seats']}名"),
        (
            "候选人",
            f"{len(election['candidates'])}名（{'差额' if election['rules']['contested'] else '等额'}选举）",
        ),
        ("应到会有选举权人数", f"{election['due']}人"),
        ("选举有效所需人数", f"{election['turnout_required']}人（超过三分之二）"),
        ("当选所需赞成票", f"{election['majority_required']}票（超过应到人数半数）"),
    ):
        p = doc.add_paragraph()
        p.add_run(f"{label}：").bold = True
        p.add_run(str(value))
    doc.add_paragraph(RULE_TEXT)
    for rnd in election["rounds"]:
        counts, d = rnd.get("counts") or {}, rnd.get("decision") or {}
        doc.add_heading(
            f"第{rnd['n']}轮：{ROUND_ZH.get(rnd['kind'], rnd['kind'])}（应选{rnd['seats']}名）", level=2
        )
        doc.add_paragraph(
            f"应到{election['due']}人，实际参加{counts.get('ballots', 0)}人，收回选票{counts.get('ballots', 0)}张，"
            f"其中有效票{counts.get('valid', 0)}张、无效票{counts.get('invalid', 0)}张；"
            f"选举{'有效' if d.get('valid') else '无效'}。结果：{NEXT_ZH.get(d.get('next', ''), '')}。"
            f"复核计票{'与实时计票一致' if rnd.get('recount_matches') else '不一致'}。"
        )
        table = doc.add_table(rows=1, cols=5)
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, ("姓名", "赞成", "不赞成", "弃权", "结果"), strict=True):
            cell.text = text
        for values in _rows(election, rnd):
            for cell, v in zip(table.add_row().cells, values, strict=True):
                cell.text = str(v)
    doc.add_heading("当选名单", level=2)
    doc.add_paragraph("、".join(f"{e['name']}（{e['approvals']}票）" for e in election["elected"]) or "无")
    if election.get("vacant"):
        doc.add_paragraph(f"空缺名额：{election['vacant']}名。")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def results_xlsx(election: dict) -> bytes:
    """The same figures as one sheet per round, every cell through :func:`dmlib.exports.xlsx_append`."""
    wb = Workbook()
    wb.remove(wb.active)
    for rnd in election["rounds"]:
        ws = wb.create_sheet(f"第{rnd['n']}轮")
        counts = rnd.get("counts") or {}
        xlsx_append(
            ws, [f"{election['union_name']}{election['title']}", ROUND_ZH.get(rnd["kind"], rnd["kind"])]
        )
        xlsx_append(ws, ["应到", election["due"], "参加", counts.get("ballots", 0)])
        xlsx_append(ws, ["有效票", counts.get("valid", 0), "无效票", counts.get("invalid", 0)])
        xlsx_append(ws, ["姓名", "赞成", "不赞成", "弃权", "结果"])
        for values in _rows(election, rnd):
            xlsx_append(ws, values)
    ws = wb.create_sheet("当选名单")
    xlsx_append(ws, ["姓名", "赞成票", "轮次"])
    for e in election["elected"]:
        xlsx_append(ws, [e["name"], e["approvals"], e["round"]])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
