"""Trusting a From address only when CEG's own mail server vouches for it (Authentication-Results, RFC 8601)."""

from __future__ import annotations

import pytest

from mailbot.sender_auth import check_sender

OURS = "mx.ceg.example"


@pytest.mark.parametrize(
    "results",
    [
        "mx.ceg.example; dmarc=pass (p=none) header.from=cms.example",
        "mx.ceg.example; dkim=pass header.d=cms.example; spf=fail smtp.mailfrom=bounce.example",
        "mx.ceg.example; dkim=pass header.i=@mail.cms.example",  # a subdomain of the From domain aligns
        "mx.ceg.example; spf=pass smtp.mailfrom=bounces.cms.example",
        "MX.CEG.EXAMPLE (our edge) ; dkim=fail header.d=cms.example; dkim=pass header.d=cms.example",
    ],
)
def test_a_verdict_from_our_server_that_passes_for_the_from_domain_passes(results: str) -> None:
    check = check_sender([results], OURS, "reports@cms.example")
    assert check.passed, check.detail


@pytest.mark.parametrize(
    ("results", "said"),
    [
        ("mx.ceg.example; dmarc=fail header.from=cms.example", "dmarc=fail"),
        ("mx.ceg.example; dkim=pass header.d=evil.example", "dkim=pass (nothing passed for cms.example)"),
        ("mx.ceg.example; spf=pass smtp.mailfrom=evil.example", "spf=pass (nothing passed for cms.example)"),
        ("mx.ceg.example; dkim=pass header.d=example", "nothing passed"),  # a parent suffix is not the domain
        ("mx.ceg.example; none", "checked nothing"),
    ],
)
def test_a_verdict_that_does_not_vouch_for_the_from_domain_fails(results: str, said: str) -> None:
    check = check_sender([results], OURS, "reports@cms.example")
    assert not check.passed
    assert said in check.detail


def test_only_the_topmost_header_in_our_servers_name_counts() -> None:
    # Our server prepends its verdict; a forger can only add headers below it, even in our server's name.
    headers = [
        "mx.ceg.example; spf=fail smtp.mailfrom=evil.example; dmarc=fail header.from=cms.example",
        "mx.ceg.example; dkim=pass header.d=cms.example; dmarc=pass",
    ]
    assert not check_sender(headers, OURS, "reports@cms.example").passed
    assert check_sender(headers[::-1], OURS, "reports@cms.example").passed


def test_verdicts_from_other_servers_and_unreadable_headers_are_ignored() -> None:
    headers = ["relay.evil.example; dmarc=pass", "this is ;;; not a header", "mx.ceg.example; dmarc=pass"]
    assert check_sender(headers, OURS, "reports@cms.example").passed
    check = check_sender(headers[:2], OURS, "reports@cms.example")
    assert not check.passed
    assert check.detail == "no Authentication-Results header from mx.ceg.example"


def test_an_unreadable_header_in_our_name_is_final_never_the_one_below_it() -> None:
    # Our server's (topmost) header uses syntax authres cannot read; the forger's copy below says pass.
    ours = "mx.ceg.example; spf=fail smtp.mailfrom=x@evil.example; dmarc=fail header.from=cms.example; ==="
    forged = "mx.ceg.example; dmarc=pass header.from=cms.example"
    check = check_sender([ours, forged], OURS, "reports@cms.example")
    assert not check.passed
    assert check.detail == "the Authentication-Results header from mx.ceg.example could not be read"


def test_a_nested_comment_before_our_id_does_not_hide_our_header() -> None:
    ours = "(edge (2)) mx.ceg.example; dmarc=fail header.from=cms.example"
    forged = "mx.ceg.example; dmarc=pass header.from=cms.example"
    check = check_sender([ours, forged], OURS, "reports@cms.example")
    assert not check.passed and "dmarc=fail" in check.detail


def test_angle_brackets_and_comments_around_the_id_are_read() -> None:
    zoho = (
        "MX.CEG.EXAMPLE (edge 2);\tdkim=pass header.d=cms.example;\tdmarc=pass(p=none dis=none)  "
        "header.from=<reports@cms.example>"
    )
    assert check_sender([zoho], OURS, "reports@cms.example").passed


def test_dmarc_pass_counts_only_for_the_from_domain_it_names() -> None:
    check = check_sender(["mx.ceg.example; dmarc=pass header.from=evil.example"], OURS, "reports@cms.example")
    assert not check.passed and "dmarc=pass (nothing passed for cms.example)" in check.detail
