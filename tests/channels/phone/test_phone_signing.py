"""X-Okno-Signature: what is accepted, and every way it is refused."""

from __future__ import annotations

import pytest

from channels.phone.signing import InvalidSignature, StaleSignature, sign, signature, verify
from tests.channels.phone.phone_servers import hmac_header, signature_ok

SECRET = "pbx-webhook-secret-4f1c9a7e"
BODY = b'{"call_id": "c-1", "caller": "8 912 345-67-89"}'
NOW = 1_772_435_000


def test_round_trip_and_agreement_with_an_independent_signer() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    assert header == hmac_header(SECRET, BODY, NOW)
    assert verify(SECRET, header, BODY, now=NOW + 299) == NOW
    assert signature_ok(SECRET, sign(SECRET, BODY), BODY)


def test_any_of_several_v1_values_may_match_during_rotation() -> None:
    old = signature("an-old-secret-being-retired", BODY, NOW)
    header = f"t={NOW},v1={old},v1={signature(SECRET, BODY, NOW)}"
    assert verify(SECRET, header, BODY, now=NOW) == NOW


def test_the_timestamp_is_signed_as_sent() -> None:
    header = f"t=0{NOW},v1={signature(SECRET, BODY, f'0{NOW}')}"
    assert verify(SECRET, header, BODY, now=NOW) == NOW


@pytest.mark.parametrize("now", [NOW - 301, NOW + 301])
def test_outside_the_window_is_stale(now: int) -> None:
    with pytest.raises(StaleSignature):
        verify(SECRET, sign(SECRET, BODY, timestamp=NOW), BODY, now=now)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"t={NOW}",
        "v1=" + "0" * 64,
        f"t=yesterday,v1={'0' * 64}",
        f"t={NOW},v1=é{'0' * 63}",
        f"t={NOW},v1={'0' * 64}",
        sign("some-other-secret-entirely", BODY, timestamp=NOW),
        sign(SECRET, BODY + b" ", timestamp=NOW),
    ],
    ids=["none", "empty", "no-v1", "no-t", "bad-t", "non-ascii", "zeros", "other-key", "body"],
)
def test_invalid_headers_are_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature) as caught:
        verify(SECRET, header, BODY, now=NOW)
    assert not isinstance(caught.value, StaleSignature)
