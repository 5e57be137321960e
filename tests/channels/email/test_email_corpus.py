"""The public mail corpus (tests/fixtures/email/corpus): every file, and never a crash."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email import parse_email
from models.types import ParseError
from scripts.bench_email import CORPUS, agrees, load_manifest, okno_reading, run

MANIFEST: dict[str, dict[str, Any]] = load_manifest()["messages"]
SAMPLES = [(CORPUS / name).read_bytes() for name in sorted(MANIFEST)[::7]]


def test_every_corpus_file_is_in_the_manifest_with_a_known_source() -> None:
    files = {
        str(p.relative_to(CORPUS))
        for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix not in (".json", ".md")
    }
    assert files == set(MANIFEST)
    sources = load_manifest()["sources"]
    assert {name.split("/", 1)[0] for name in MANIFEST} <= set(sources)
    assert all({"repository", "path", "licence"} <= set(s) for s in sources.values())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_corpus_mail_is_read_as_expected(name: str) -> None:
    reading = okno_reading((CORPUS / name).read_bytes())
    assert reading.crashed is None
    failed = [k for k, ok in agrees(reading, MANIFEST[name]).items() if ok is False]
    assert not failed, (failed, reading, MANIFEST[name])


def test_okno_is_at_least_as_good_as_the_bare_email_package_on_every_measure() -> None:
    okno, bare = (score.row() for score in run())
    assert okno["crashes"] == 0
    for measure in ("sender_subject", "body_start", "automatic_flagged"):
        assert okno[measure] >= bare[measure], measure
    assert okno["false_flags"] <= bare["false_flags"]


def _parses_or_rejects(raw: bytes) -> None:
    # Rejected with its reason is an answer (the worker keeps the raw bytes); anything else
    # escaping parse_email is a crash.
    with contextlib.suppress(ParseError):
        parse_email(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash_the_parser(raw: bytes) -> None:
    _parses_or_rejects(raw)


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    """A real corpus mail with bytes flipped, cut, duplicated or spliced in."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "cut", "dup", "insert"]))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif kind == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 400))]
        else:
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b"\r\n\r\n",
                        b"--",
                        b"=?utf-8?B?",
                        b"?=",
                        b"\x1b$B",
                        b"boundary=",
                        b":",
                        b"\x00",
                    ]
                )
            )
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_mail())
def test_mutated_real_mail_never_crashes_the_parser(raw: bytes) -> None:
    _parses_or_rejects(raw)


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if n.startswith("mailgun-talon/")))
def test_talon_replies_are_only_the_new_text(name: str) -> None:
    # talon's own test_standard_replies expects exactly "Hello" once the quote is gone (for
    # sparrow.eml "Hello" plus its "-- " signature, which Okno cuts as well).
    assert parse_email((CORPUS / name).read_bytes()).text == "Hello"
