"""What a page tells a person about a refusal: the error-code catalogue (issue 16, "one way to tell
people things").

A service's error carries a message for logs and API clients ("English / 中文") and a code:
:attr:`dmlib.errors.ServiceError.reason` (``details["reason"]`` when the service gave one, else the
class's code such as ``conflict``). A page never shows the message. It shows:

- at the top of the form or on the error page: the catalogue text of the code (:data:`REASONS`, else
  the class's sentence in :data:`GENERIC`), filled with the error's ``details`` (the quorum figures);
- next to a field: the catalogue text of its message (a message that is itself a catalogue message id,
  such as the gateway's "Choose a file to upload.", is translated). marshmallow's own messages ("Missing data for
  required field.", "Not a valid integer.", length and range) are matched by :data:`FIELD_PATTERNS`;
  a service's bilingual field message gives its half in the page's language; anything else, or a half
  that is not in the page's language (Latin-only on a Chinese page, Chinese on an English one), gives
  the generic field sentence :data:`FIELD_FALLBACK`;
- field names in words (:data:`FIELD_LABELS`), where a field is named outside its form (the members
  import's error table, the error page's list).

Every text is an English message id translated in ``translations/zh_CN/LC_MESSAGES/errors.po``.
``python -m services.gateway.wording`` prints docs/errors.md (code → meaning → HTTP status); a unit
test checks that every code raised under ``services/`` and ``dmlib/`` has an entry here and that the
page is current.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from dmlib.errors import EXPECTED, ServiceError


def N_(text: str) -> str:
    """Marks a message id for the catalogue without translating it here."""
    return text


#: Sentences by error class code: what a refusal without a catalogued reason says.
GENERIC: dict[str, str] = {
    "bad_input": N_("Some of what you entered is not accepted. Correct the marked fields and send again."),
    "unauthenticated": N_("Please log in again to continue."),
    "forbidden": N_("You are not allowed to do this here. If you think you should be, ask your union's administrator."),
    "not_found": N_("This page or item does not exist, or it is not visible to you. Go back and choose another."),
    "conflict": N_("This cannot be done in the item's present state. Reload the page to see its state, then try again."),
    "payload_too_large": N_("The file is too large. Choose a smaller file and send again."),
    "too_many_requests": N_("Too many attempts. Wait a few minutes, then try again."),
    "service_unavailable": N_("The system is busy. Wait a moment, then try again."),
    "internal_error": N_("Something went wrong on our side. Try again; if it happens again, tell your administrator the incident number."),
}  # fmt: skip

#: Specific refusals: ``details["reason"]`` → (HTTP status, text). ``%(name)s`` takes ``details[name]``.
REASONS: dict[str, tuple[int, str]] = {
    # one ballot per voter (dmlib.contracts.voting.ALREADY_VOTED; voting, elections, appraisals)
    "already_voted": (409, N_("You have already voted here. Each voter votes once; your ballot is counted.")),
    "already_submitted": (409, N_("You have already answered this survey. Each member answers once.")),
    "not_open": (409, N_("This is not open now. Check its opening and closing times on its page.")),
    "anonymous": (409, N_("This survey is anonymous, so nobody's name is shown with the answers.")),
    "stale": (409, N_("Someone else changed this meanwhile. Reload the page and make your change again.")),
    "confirm_required": (400, N_("Tick the confirmation box: this action cannot be undone.")),
    "csrf": (403, N_("This form has expired. Reload the page and send it again.")),
    # workers' congress
    "quorum_not_reached": (409, N_("Only %(present_count)s of %(due_count)s delegates have checked in; %(required)s (two thirds) are needed to open the session. Check in the delegates who are present, then try again.")),
    "session_closed": (409, N_("This session has closed; nothing more can be recorded in it.")),
    "session_not_convened": (409, N_("Votes are taken only after the session has been opened. Open the session first.")),
    "vote_not_open": (409, N_("This agenda item is not open for voting.")),
    "another_vote_open": (409, N_("Another agenda item is being voted on. Close that vote first.")),
    # evaluations
    "campaign_not_draft": (409, N_("This evaluation campaign has started; its settings can no longer be changed.")),
    "campaign_not_open": (409, N_("This evaluation campaign is not open for voting now.")),
    "scores_missing": (409, N_("Some unit or superior scores are still missing. Enter them before publishing the results.")),
    # proposals
    "collection_closed": (409, N_("Proposals are collected only while the collection window is open. Ask your union for the next window.")),
    "cosigners_needed": (409, N_("%(missing)s more co-signers are needed before the proposal can be submitted. Invite delegates to co-sign it.")),
    "already_cosigned": (409, N_("You have already co-signed this proposal.")),
    "own_proposal": (403, N_("You cannot co-sign your own proposal.")),
    "already_rated": (409, N_("You have already rated this reply.")),
    # voting windows (polls, elections, appraisals)
    "voting_not_started": (409, N_("Voting has not started yet. Come back when it opens.")),
    "voting_ended": (409, N_("Voting has ended; no more ballots are accepted.")),
    "nominations_closed": (409, N_("Nominations have closed.")),
    # disclosure
    "item_withdrawn": (409, N_("This disclosure item has been withdrawn, so it can no longer be changed or asked about.")),
    # members
    "login_taken": (409, N_("That login name is taken. Choose another.")),
    "department_name_taken": (409, N_("A department with that name already exists in this union. Choose another name.")),
    "file_required": (400, N_("Choose a file to upload.")),
    "import_not_staged": (409, N_("This import is not waiting for a confirmation: it has started or ended, or its rows are still being counted. Reload its page.")),
    "wrong_password": (401, N_("The login name or password is wrong. Check them and try again.")),
    "wrong_current_password": (401, N_("The current password is wrong. Enter the password you log in with now.")),
    # voting, elections, appraisals, congress, proposals, surveys, cases (second pass)
    "voting_not_open": (409, N_("Voting is not open now. Check its opening and closing times.")),
    "voting_already_open": (409, N_("Voting has already opened, so this can no longer be changed.")),
    "already_candidate": (409, N_("This person is already a candidate.")),
    "already_nominated": (409, N_("This person has already been nominated.")),
    "no_open_round": (409, N_("No round of voting is open now.")),
    "not_decided": (409, N_("The election has no result yet. Close the voting and recount first.")),
    "list_after_close": (409, N_("The list of ballots is published when voting closes.")),
    "after_close": (409, N_("This can be read once voting has closed.")),
    "close_first": (409, N_("Close the voting with a matching recount first.")),
    "already_delegates": (409, N_("Some of these members are already delegates of this term.")),
    "already_decided": (409, N_("This agenda item has already been voted on.")),
    "congress_exists": (409, N_("This union already has a workers' congress.")),
    "session_in_progress": (409, N_("A session of this term is in progress; delegates can be added after it closes.")),
    "already_replied": (409, N_("Your department has already replied in this round.")),
    "no_reply_yet": (409, N_("There is no reply to rate yet.")),
    "already_excellent": (409, N_("This proposal is already marked excellent.")),
    "not_your_department": (403, N_("This proposal is not assigned to your department.")),
    "not_a_draft": (409, N_("Only a draft can be opened; this one has already been opened.")),
    "closing_time_passed": (409, N_("The closing time has passed. Set a later closing time first.")),
    "closes_in_past": (400, N_("The closing time is in the past. Choose a later time.")),
    "empty_audience": (409, N_("The chosen audience has no members. Choose other unions, departments or a congress.")),
    "case_already_rated": (409, N_("This case has already been rated.")),
    "already_there": (409, N_("The case is already with this union.")),
    "not_published": (409, N_("Results are shown once they are published.")),
    # third pass (issue 16): refusals a delegate, a worker or their admins meet in congress, proposals,
    # cases and elections
    "session_not_planned": (409, N_("This session has already been opened or closed.")),
    "report_not_voted": (409, N_("Reports are heard, not voted on.")),
    "election_not_linked": (409, N_("Set up or link this item's election first.")),
    "not_an_election_item": (409, N_("Only an election item of the agenda runs an election.")),
    "vote_on_ballot_page": (409, N_("An election is voted on its own ballot page. Open it from the session's agenda.")),
    "proposal_moved_on": (409, N_("This proposal is not at the step this needs: it has moved on, or it is not there yet. Reload its page to see where it is.")),
    "window_not_open": (409, N_("The collection is not open, so it cannot be closed. Reload the review desk to see its state.")),
    "not_your_step": (403, N_("This step of the proposal is for someone else: the proposer, a co-signer, the union's admins or the handling department. You can follow it on its page.")),
    "case_moved_on": (409, N_("This request is not at the step this needs: it has moved on, or it is not there yet. Reload its page to see where it is.")),
    "member_rates_online": (409, N_("This worker is a member and rates the answer online themselves. Record the return visit without a rating.")),
    "progress_not_found": (404, N_("No request matches this number, mobile number and code. Check them, or ask for a new code.")),
    "session_quorum_needed": (409, N_("A session's election opens only while the session is open with two thirds of all delegates present: %(present_count)s present, %(required)s needed.")),
    "open_from_agenda": (409, N_("Open this election from its agenda item on the session's console.")),
    "slate_does_not_fit": (409, N_("The %(candidates)s candidates do not fit the %(seats)s seats under this election's rules (an uncontested election has as many candidates as seats, a contested one more). Change the candidates first.")),
    "no_electors": (409, N_("There is nobody to vote: the electorate has no electors. Check the roster, the delegates or the check-ins first.")),
    "recount_differs": (409, N_("A recount differs from the live tally, so the results cannot be published. Tell your system administrator.")),
    "vote_still_open": (409, N_("A tie is settled once the vote has closed. Close the vote first.")),
    "no_tie": (409, N_("There is no tie in this category to settle.")),
    "tie_to_settle": (409, N_("There is a tie at the last place. Settle it before publishing.")),
    "still_handling": (409, N_("Your earlier sending of this form is still being handled. Wait a moment, then reload the page.")),
    "already_answered": (409, N_("This question has already been answered.")),
    "no_union": (400, N_("You are not a member of a grassroots union, so there is nothing of a union to show here. Choose a union from the union tree.")),
    "rate_someone": (400, N_("Rate at least one person before casting the ballot.")),
    "write_in_not_elector": (400, N_("A person written in must be an elector of this election. Find them with the search by name or member number.")),
    "ballot_not_valid": (400, N_("This ballot cannot be cast as marked: mark each candidate approve, disapprove or abstain, and write in only electors who are not candidates, each once. Change the marks and cast again.")),
    "award_choices_not_valid": (400, N_("Choose at most %(k)s nominees in each category, each of them once. Change the choices and vote again.")),
    "too_many_codes": (429, N_("Too many codes asked for or entered wrongly. Wait a while, then ask for a new code.")),
}  # fmt: skip

#: Added to the error page's sentence of a 500, with its incident id (``details["incident"]``).
INCIDENT = N_("Incident number: %(incident)s")

#: The sentence next to a field whose message is not in the catalogue or not in the page's language.
FIELD_FALLBACK = N_("This value is not accepted. Check it and enter it again.")

#: marshmallow's own field messages (and the shared schema helpers'), matched whole: pattern → text.
FIELD_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Missing data for required field\.|missing|required", re.I), N_("Required: please fill this in.")),
    (re.compile(r"Field may not be null\."), N_("Required: please fill this in.")),
    (re.compile(r"Not a valid integer\."), N_("Enter a whole number.")),
    (re.compile(r"Not a valid number\.|Special numeric values .*"), N_("Enter a number.")),
    (re.compile(r"Not a valid (?:string|utf-8 string)\."), N_("Enter text.")),
    (re.compile(r"Not a valid boolean\."), N_("Choose yes or no.")),
    (re.compile(r"Not a valid date\.|.* cannot be formatted as a date\."), N_("Enter a date (YYYY-MM-DD).")),
    (re.compile(r"Not a valid (?:\w+ )?datetime\.|.* cannot be formatted as a datetime\."), N_("Enter a date and time.")),
    (re.compile(r"Not a valid email address\."), N_("Enter an e-mail address such as name@example.com.")),
    (re.compile(r"Not a valid (?:list|mapping type)\.|Invalid (?:input )?type\."), FIELD_FALLBACK),
    (re.compile(r"Unknown field\."), N_("This form sent a field it does not have. Reload the page and try again.")),
    (re.compile(r"Length must be between (?P<min>\d+) and (?P<max>\d+)\."), N_("Enter %(min)s to %(max)s characters.")),
    (re.compile(r"Length must be (?P<equal>\d+)\."), N_("Enter exactly %(equal)s characters.")),
    (re.compile(r"Longer than maximum length (?P<max>\d+)\."), N_("Enter at most %(max)s characters.")),
    (re.compile(r"Shorter than minimum length (?P<min>\d+)\."), N_("Enter at least %(min)s characters.")),
    (re.compile(r"Must be greater than or equal to (?P<min>[-\d.]+) and less than or equal to (?P<max>[-\d.]+)\."), N_("Enter a number from %(min)s to %(max)s.")),
    (re.compile(r"Must be greater than or equal to (?P<min>[-\d.]+)\."), N_("Enter a number of at least %(min)s.")),
    (re.compile(r"Must be less than or equal to (?P<max>[-\d.]+)\."), N_("Enter a number of at most %(max)s.")),
    (re.compile(r"Must be greater than (?P<min>[-\d.]+)\."), N_("Enter a number greater than %(min)s.")),
    (re.compile(r"Must be one of: .*\.|Must be one of .*"), N_("Choose one of the offered options.")),
    (re.compile(r"String does not match expected pattern\.|Invalid value\."), FIELD_FALLBACK),
    (re.compile(r"Tick the box to confirm"), N_("Tick the box to confirm.")),
]  # fmt: skip

#: Field names in words, for where a field is named outside its form (import error table, error page).
FIELD_LABELS: dict[str, str] = {
    "member_no": N_("Member number"),
    "name": N_("Name"),
    "national_id": N_("Resident ID number"),
    "union_id": N_("Union"),
    "department": N_("Department"),
    "department_id": N_("Department"),
    "gender": N_("Gender"),
    "mobile": N_("Mobile phone"),
    "phone": N_("Mobile phone"),
    "email": N_("E-mail"),
    "joined_on": N_("Date joined"),
    "login": N_("Login name"),
    "password": N_("Password"),
    "title": N_("Title"),
    "body": N_("Body"),
    "subject": N_("Subject"),
    "reason": N_("Reason"),
    "weights": N_("Weights"),
    "file": N_("File"),
    "confirmed": N_("Confirmation"),
    "_schema": N_("Form"),
    "form": N_("Form"),
}

_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_LATIN = re.compile("[A-Za-z]")


def has_chinese(text: str) -> bool:
    """True when ``text`` holds a Chinese character or full-width punctuation."""
    return bool(_CJK.search(text))


def fits_locale(text: str, locale: str | None) -> bool:
    """True when ``text`` can stand on a page in ``locale``: on a Chinese page it holds Chinese (a
    Latin-only sentence is not allowed); on an English page it holds no Chinese."""
    if locale == "en":
        return not has_chinese(text)
    return has_chinese(text) or not _LATIN.search(text)


def in_language(text: str, locale: str | None) -> str:
    """The half of a bilingual text (``"English / 中文"``) in the page's language; other text
    unchanged, and all of it when ``locale`` is None."""
    english, sep, chinese = text.partition(" / ")
    if not sep or locale is None:
        return text
    return chinese if locale == "zh-CN" else english


def _fill(template: str, values: Mapping[str, Any]) -> str | None:
    try:
        return template % dict(values)
    except (KeyError, ValueError, TypeError):
        return None


def code_of(exc: ServiceError) -> str:
    """The catalogue code of an error (:attr:`dmlib.errors.ServiceError.reason`)."""
    return getattr(exc, "reason", None) or exc.code


def refusal_text(exc: ServiceError, gettext: Callable[[str], str]) -> str:
    """The sentence a page shows for ``exc``: its reason's catalogue text filled with its details,
    else its class's generic sentence (also when a detail the text needs is missing)."""
    code = code_of(exc)
    if code in REASONS:
        text = _fill(gettext(REASONS[code][1]), exc.details)
        if text is not None:
            return text
    return gettext(GENERIC.get(exc.code, GENERIC["internal_error"]))


def field_text(message: str, gettext: Callable[[str], str], locale: str | None) -> str:
    """One field message in the page's language (see the module's docstring)."""
    message = str(message).strip()
    for pattern, template in FIELD_PATTERNS:
        m = pattern.fullmatch(message)
        if m:
            return _fill(gettext(template), m.groupdict()) or gettext(FIELD_FALLBACK)
    if locale is None:  # no page (an API client's flattening): the message as it came
        return message
    text = in_language(message, locale) if " / " in message else gettext(message)
    return text if text and fits_locale(text, locale) else gettext(FIELD_FALLBACK)


def field_label(name: str, pgettext: Callable[[str, str], str]) -> str:
    """A field's name in words: its label in the catalogue's context ``field`` (``msgctxt "field"`` in
    errors.po, so that "Subject" as a proposal's field is 案由 whatever other pages call a subject); an
    unknown name with ``_`` as spaces."""
    label = FIELD_LABELS.get(name)
    return pgettext("field", label) if label else name.replace("_", " ")


# ----- docs/errors.md ------------------------------------------------------------------------------
def markdown(translate: Callable[[str], str], label: Callable[[str], str]) -> str:
    """docs/errors.md: every code with its meaning (English and Chinese) and HTTP status;
    ``translate`` gives a text's Chinese, ``label`` a field label's (context ``field``)."""
    statuses = {k.code: k.status for k in EXPECTED}
    statuses["internal_error"] = 500

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Error codes and what people read",
        "",
        "Generated by `python -m services.gateway.wording > docs/errors.md` from",
        "`services/gateway/wording.py` (a unit test keeps it current). A page never shows a service's",
        'message: it shows the text of the error\'s code, `details["reason"]` when the service gave one',
        '(`raise Conflict(..., reason="quorum_not_reached")`), else the class\'s code. `%(name)s` is filled',
        "from the error's `details`; a text whose detail is missing falls back to the class's sentence.",
        "Field messages: marshmallow's own are matched below; a service's bilingual field message shows its",
        "half in the page's language; anything else, or a half not in the page's language, shows the generic",
        "field sentence. Chinese texts live in `services/gateway/translations/zh_CN/LC_MESSAGES/errors.po`.",
        "",
        "## Codes of the error classes (dmlib/errors.py)",
        "",
        "| code | HTTP | English | 中文 |",
        "|---|---|---|---|",
    ]
    for code, text in GENERIC.items():
        lines.append(f"| `{code}` | {statuses.get(code, '')} | {cell(text)} | {cell(translate(text))} |")
    lines += [
        "",
        '## Specific refusals (`details["reason"]`)',
        "",
        "| code | HTTP | English | 中文 |",
        "|---|---|---|---|",
    ]
    for code, (status, text) in sorted(REASONS.items()):
        lines.append(f"| `{code}` | {status} | {cell(text)} | {cell(translate(text))} |")
    lines += ["", "## Field messages", "", "| message (pattern) | English | 中文 |", "|---|---|---|"]
    for pattern, text in FIELD_PATTERNS:
        lines.append(f"| `{cell(pattern.pattern)}` | {cell(text)} | {cell(translate(text))} |")
    lines.append(f"| anything else | {cell(FIELD_FALLBACK)} | {cell(translate(FIELD_FALLBACK))} |")
    lines += ["", "## Field names in words", "", "| field | English | 中文 |", "|---|---|---|"]
    for name, text in FIELD_LABELS.items():
        lines.append(f"| `{name}` | {cell(text)} | {cell(label(text))} |")
    return "\n".join(lines) + "\n"


def po_translations(context: str | None = None) -> dict[str, str]:
    """The Chinese of errors.po (messages of ``context``) read straight from the .po (no compiled .mo
    needed)."""
    import os

    from babel.messages.pofile import read_po

    path = os.path.join(os.path.dirname(__file__), "translations", "zh_CN", "LC_MESSAGES", "errors.po")
    with open(path, "rb") as f:
        catalog = read_po(f)
    return {m.id: m.string for m in catalog if m.id and m.string and m.context == context}


def docs_page() -> str:
    """docs/errors.md as it should be: :func:`markdown` with errors.po's Chinese."""
    zh, labels = po_translations(), po_translations("field")
    return markdown(lambda s: zh.get(s, ""), lambda s: labels.get(s, ""))


if __name__ == "__main__":  # pragma: no cover
    print(docs_page(), end="")
