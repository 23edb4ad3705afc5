"""Tallies as pure functions: what one ballot adds, what a recount of all ballots gives, and the
normalised form both are compared in. Sums are done in Python while streaming the ballots (FerretDB's
``$group`` computes only its first ``$sum``, docs/storage.md), which is also correct on MongoDB."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import compress

from dmlib.ballots import ballot_id, receipt_code  # noqa: F401 (moved to dmlib, used as t.ballot_id)


# ----- choice polls -------------------------------------------------------------------------------
def choice_inc(option_index: int) -> dict[str, int]:
    return {"n": 1, f"o{option_index}": 1}


def choice_zero(options: Sequence[str]) -> dict:
    return {"open": True, "n": 0, **{f"o{i}": 0 for i in range(len(options))}}


def choice_counts(tally: dict, options: Sequence[str]) -> dict[str, int]:
    """``{option: count}`` from a tally document."""
    return {opt: int(tally.get(f"o{i}", 0)) for i, opt in enumerate(options)}


def recount_choices(ballots: Iterable[dict], options: Sequence[str]) -> dict[str, int]:
    counts = Counter(b["choice"] for b in ballots)
    unknown = set(counts) - set(options)
    if unknown:
        raise ValueError(f"ballots with unknown options: {sorted(unknown)}")
    return {opt: counts.get(opt, 0) for opt in options}


# ----- rating polls -------------------------------------------------------------------------------
def subject_zero(criteria: int) -> dict[str, int]:
    return {"n": 0, "op": 0, **{f"c{i}": 0 for i in range(criteria)}, **{f"h{v}": 0 for v in range(1, 6)}}


def rating_zero(subjects: Sequence[str], criteria: int) -> tuple[dict, dict[str, dict]]:
    """The poll's tally document and one zeroed part per subject (``{subject: counts}``): each subject's
    counts live in a document of their own, so a ballot's ``$inc`` rewrites a 13-field document whatever
    the number of subjects (one document for 1,000 Worker Homes cost 95 ms per update on FerretDB)."""
    return {"open": True, "parts": True}, {s: subject_zero(criteria) for s in subjects}


def rating_inc(stars: Sequence[int], has_opinion: bool) -> dict[str, int]:
    """The ``$inc`` one rating ballot applies to its subject's part: ``n``, ``c<i>`` star sums per
    criterion, ``h<v>`` marks of each value, ``op`` opinions."""
    inc = {"n": 1}
    for i, v in enumerate(stars):
        inc[f"c{i}"] = v
    for v, k in Counter(stars).items():
        inc[f"h{v}"] = k
    if has_opinion:
        inc["op"] = 1
    return inc


def merge_inc(incs: Iterable[dict[str, int]]) -> dict[str, int]:
    """Many ``$inc`` documents added up into one (bulk loading)."""
    total: Counter = Counter()
    for inc in incs:
        total.update(inc)
    return dict(total)


def add_deltas(parts: dict[str, dict[str, int]], batches: Iterable[dict]) -> dict[str, dict[str, int]]:
    """``parts`` (``{subject: counts}``, e.g. a folded tally) plus the sums ``d`` (``{subject: $inc}``)
    of each settled batch in ``batches``; a new dict, ``parts`` is left as it is. A subject that is not
    in ``parts`` is added."""
    out = {part: dict(counts) for part, counts in parts.items()}
    for batch in batches:
        for part, inc in batch.get("d", {}).items():
            row = out.setdefault(part, {})
            for key, value in inc.items():
                row[key] = row.get(key, 0) + value
    return out


def rating_counts(tally: dict, subjects: Sequence[str], criteria: int) -> dict:
    """The normalised rating tally: ``{"n": int, "s": {subject: {n, op, c0…, h1…h5}}}`` (``tally`` as
    :meth:`VotingStore.get_tally` assembles it from the parts)."""
    stored = tally.get("s", {})
    keys = list(subject_zero(criteria))
    out = {}
    for s in subjects:
        src = stored.get(s, {})
        out[s] = {k: int(src.get(k, 0)) for k in keys}
    return {"n": int(tally.get("n", 0)), "s": out}


def recount_ratings(ballots: Iterable[dict], subjects: Sequence[str], criteria: int) -> dict:
    """The same shape as :func:`rating_counts`, from the ballots themselves."""
    per = {s: subject_zero(criteria) for s in subjects}
    n = 0
    for b in ballots:
        row = per.get(b["subject"])
        if row is None:
            raise ValueError(f"ballot for an unknown subject {b['subject']!r}")
        n += 1
        row["n"] += 1
        for i, v in enumerate(b["stars"]):
            row[f"c{i}"] += v
            row[f"h{v}"] += 1
        if isinstance(b.get("opinion"), str):
            row["op"] += 1
    return {"n": n, "s": per}


# ----- recount packs ------------------------------------------------------------------------------
# A recount pack holds what a recount reads of many ballots as columns, so that summing a pack is a few
# C-level ``Counter`` passes instead of a Python loop per ballot (1M ballots: ~1 s of CPU instead of ~4):
# choice ``{"v": [choice, …]}``; rating ``{"s": [subject, …], "c": [stars of criterion i, one digit per
# ballot, …], "o": "0110…"}`` (1: the ballot carries an opinion). Stars are 1–5 (contracts), one digit.
def pack_of(ballots: Sequence[dict]) -> dict:
    """The pack of ``ballots`` (stored ballot documents of one poll, or their recount fields)."""
    if not ballots:
        return {"v": []}
    if "choice" in ballots[0]:
        return {"v": [b["choice"] for b in ballots]}
    criteria = len(ballots[0]["stars"])
    return {
        "s": [b["subject"] for b in ballots],
        "c": ["".join(str(b["stars"][i]) for b in ballots) for i in range(criteria)],
        "o": "".join("1" if isinstance(b.get("opinion"), str) else "0" for b in ballots),
    }


def pack_size(pack: dict) -> int:
    """How many ballots a pack holds."""
    return len(pack["v"] if "v" in pack else pack["s"])


def recount_choice_packs(packs: Iterable[dict], options: Sequence[str]) -> dict[str, int]:
    """:func:`recount_choices` from packs (the same result for the same ballots)."""
    counts: Counter = Counter()
    for pack in packs:
        counts.update(pack.get("v", []))
    unknown = set(counts) - set(options)
    if unknown:
        raise ValueError(f"ballots with unknown options: {sorted(unknown)}")
    return {opt: counts.get(opt, 0) for opt in options}


def recount_rating_packs(packs: Iterable[dict], subjects: Sequence[str], criteria: int) -> dict:
    """:func:`recount_ratings` from packs (the same shape and result for the same ballots)."""
    n: Counter = Counter()
    op: Counter = Counter()
    marks: list[Counter] = [Counter() for _ in range(criteria)]  # criterion -> (subject, digit) -> count
    for pack in packs:
        if "v" in pack:  # an empty pack
            continue
        n.update(pack["s"])
        op.update(compress(pack["s"], map("1".__eq__, pack["o"])))
        for i, column in enumerate(pack["c"]):
            marks[i].update(zip(pack["s"], column, strict=True))
    unknown = set(n) - set(subjects)
    if unknown:
        raise ValueError(f"ballots for unknown subjects {sorted(unknown)!r}")
    per = {s: subject_zero(criteria) for s in subjects}
    for s, k in n.items():
        per[s]["n"] = k
    for s, k in op.items():
        per[s]["op"] = k
    for i, counter in enumerate(marks):
        for (s, digit), k in counter.items():
            per[s][f"c{i}"] += int(digit) * k
            per[s][f"h{digit}"] += k
    return {"n": sum(n.values()), "s": per}


def only_ahead(recounted: dict, live: dict) -> bool:
    """Is every count of ``recounted`` at least the same count of ``live`` (choice ``{option: n}`` or
    rating ``{"n", "s": {subject: counts}}``)? What casts landing during a recount of an open poll can
    cause when the live tally is read first: a ballot is stored before it is counted, and ballots
    are only taken back once the tally is closed."""
    if "s" in recounted:
        if recounted.get("n", 0) < live.get("n", 0):
            return False
        live_s = live.get("s", {})
        return all(
            v >= live_s.get(s, {}).get(k, 0) for s, row in recounted["s"].items() for k, v in row.items()
        )
    return all(v >= live.get(k, 0) for k, v in recounted.items())


# ----- interrupted casts --------------------------------------------------------------------------
def subtract(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """``a - b`` key by key (missing keys count 0); zero entries dropped."""
    out = {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b)}
    return {k: v for k, v in out.items() if v}


def explaining_subset(diff: dict[str, int], contributions: list[dict[str, int]], limit: int = 12):
    """Indexes of a subset of ``contributions`` (each the ``$inc`` of one ballot) that adds up to
    ``diff`` exactly, or None. Exhaustive, so only for up to ``limit`` contributions (a crash leaves at
    most the casts that were in flight); more is treated as unexplained."""
    diff = {k: v for k, v in diff.items() if v}
    if not diff:
        return []
    if len(contributions) > limit:
        return None
    for mask in range(1, 1 << len(contributions)):
        chosen = [i for i in range(len(contributions)) if mask >> i & 1]
        if not subtract(diff, merge_inc(contributions[i] for i in chosen)):
            return chosen
    return None


def counts_text(counts: dict) -> str:
    """Counts as a poll document stores them (``store.COUNT_TEXTS``: the recount's, the close's count):
    one JSON text, so that a read of the poll decodes one value instead of every count."""
    return json.dumps(counts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stored_counts(value: dict | str | None) -> dict | None:
    """Counts as read from a poll document: its JSON text (:func:`counts_text`) decoded; a dict as it is
    (a poll recorded before the texts, or a test fake's)."""
    return json.loads(value) if isinstance(value, str) else value
