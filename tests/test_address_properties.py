"""Property tests for the one address check (address.plain_address): whatever it accepts is one plain address."""

from __future__ import annotations

import string
from email.utils import getaddresses

from hypothesis import example, given
from hypothesis import strategies as st

from mailbot.address import MAX_ADDRESS_LENGTH, plain_address

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
atoms = st.text(alphabet=ATEXT, min_size=1, max_size=12)
labels = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
tlds = st.from_regex(r"[a-z][a-z0-9-]{0,5}[a-z0-9]", fullmatch=True)
plain = st.builds(
    lambda local, domain, tld: f"{'.'.join(local)}@{'.'.join(domain)}.{tld}",
    st.lists(atoms, min_size=1, max_size=3),
    st.lists(labels, min_size=1, max_size=3),
    tlds,
)
SEPARATORS = ' ;,"<>()[]\\:\t\r\n\x00\x7f\u2028'


@given(st.text(max_size=80))
@example('"x;v1@evil.example;v2@other.example;"@cms.example')
@example("a@b.example\r\nBcc: v@evil.example")
@example("=?utf-8?q?a=0D=0A?=@cms.example")
def test_whatever_is_accepted_is_one_plain_address_that_reads_back_the_same(text: str) -> None:
    address = plain_address(text)
    if address is None:
        return
    assert address.isascii() and address.count("@") == 1 and len(address) <= MAX_ADDRESS_LENGTH
    assert not any(c in SEPARATORS or not c.isprintable() for c in address)
    assert plain_address(address) == address  # a stored address passes the check again
    assert getaddresses([address]) == [("", address)]  # a mail parser sees one address, the same one
    assert address.split(";") == [address] and address.split(",") == [address]


@given(plain)
def test_every_plain_address_is_accepted_case_folded(address: str) -> None:
    assert plain_address(address) == address.casefold()
    assert plain_address(f"  {address.upper()} ") == address.casefold()


@given(plain, st.sampled_from(SEPARATORS), st.integers(min_value=0))
def test_a_separator_quote_or_control_anywhere_is_refused(address: str, bad: str, at: int) -> None:
    at %= len(address) + 1
    changed = address[:at] + bad + address[at:]
    if changed.strip() != changed and bad.isspace() and at in (0, len(address)):
        return  # white space at either end is trimmed, which is not a second address
    assert plain_address(changed) is None


@given(st.lists(plain, min_size=1, max_size=5))
def test_plain_addresses_survive_the_legacy_join_and_split(addresses: list[str]) -> None:
    folded = [plain_address(a) for a in addresses]
    assert all(folded)
    assert ";".join(a for a in folded if a).split(";") == folded
