"""Which texts are e-mail addresses isap will put on a message: one plain address each, nothing more.

An address reaches isap from a workbook (the Cover's contact_email), from an
administrator (an account's address) or from a reviewer (a condition's owner),
and it ends up in an SMTP envelope and a To header.  Text that is more than one
plain address there can do more than name a mailbox: group syntax
(`group:victim@evil.example`), a display name, a list, a line break or a
control character.  So every address is accepted only through email-validator
(syntax only: `check_deliverability=False`, never a DNS look-up), which refuses
all of those and says why; what isap keeps and sends to is its normal form
(the domain in lower case).  A local part holding `%` or `!` is refused too: it is legal, but
some mail servers still read it as a route to another mailbox (`x%evil.example@nhs.net`, the "percent
hack"; `evil.example!x@nhs.net`, a UUCP bang path), which would carry mail past the domains isap
sends to.  Addresses beyond ASCII are accepted: a mail server
that offers SMTPUTF8 takes them, and delivery fails them at once where it does
not (`isap.orchestration.notifications`).

The template's own format for an address (SCH005, docs/workbook.md §4) is looser by
the contract; an address that meets it but not this is GOV004 on the version.
"""

from __future__ import annotations

from typing import NamedTuple


class AddressRefused(ValueError):
    """Text that is not one plain e-mail address; the message says why, in email-validator's words."""


class PlainAddress(NamedTuple):
    address: str  # the normal form isap keeps and sends to
    domain: str  # its domain in ASCII (an internationalised domain as IDNA) and lower case, as mail compares it


def plain_address(text: str | None) -> PlainAddress:
    """`text` (surrounding spaces dropped) as one plain e-mail address; AddressRefused, saying why, otherwise.

    An internationalised domain is kept in its ASCII form, so that a server without
    SMTPUTF8 can take the address wherever its local part is ASCII.
    """
    if not isinstance(text, str) or not text.strip():
        raise AddressRefused("there is no address")
    # imported here: it loads idna and dnspython, which only the callers that check an address need
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressRefused(str(exc).rstrip(".")) from None
    for route in ("%", "!"):
        if route in checked.local_part:
            raise AddressRefused(f"{route!r} before the @-sign, which some mail servers read as a route to another "
                                 "address")
    return PlainAddress(checked.ascii_email or checked.normalized, checked.ascii_domain.lower())


def mail_address(text: str | None) -> str:
    """The normal form of `text` if it is one plain e-mail address; AddressRefused, saying why, otherwise."""
    return plain_address(text).address


def address_problem(text: str | None) -> str | None:
    """Why `text` is not one plain e-mail address, or None when it is one."""
    try:
        plain_address(text)
    except AddressRefused as exc:
        return str(exc)
    return None
