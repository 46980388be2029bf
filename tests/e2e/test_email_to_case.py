"""Email-to-case end to end (design.md 5.5, 5.6; issue 12): real SMTP into the cases service's
listener (aiosmtplib), real SMTP out (the mailbox), the graph through the gateway."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from tests.support.mailbox import body_of
from tests.support.people import new_person
from tests.support.settle import outbox_drained, until
from tests.support.smtp import deliver, mail

CASE = """query($n: String) { case(number: $n) { id number refTag subject description status channel requesterEmail
  account { id } requester { id email } relatedCase { number }
  attachments { filename contentType size }
  comments { totalCount edges { node { body authorEmail channel internal author { id }
    attachments { filename size } } } } } }"""
LINK = """mutation($id: ID!, $a: ID!, $r: ID) { linkCase(id: $id, accountId: $a, requesterId: $r) {
  id number account { id } requester { id email } } }"""
UNLINKED = (
    """query($s: String) { cases(filter: {unlinked: true, search: $s}) { totalCount edges { node { number } } } }"""
)
CLOSE = "mutation($id: ID!) { closeCase(id: $id) { status } }"
STATUS = "mutation($id: ID!, $s: CaseStatus!) { setCaseStatus(id: $id, status: $s) { status } }"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@pytest.fixture
def port(stack) -> int:
    return stack.services["cases"].listener("inbound").port


def tag() -> str:
    return uuid.uuid4().hex[:8]


def number_in(reply: str) -> str:
    match = re.search(r"Case (\d{8}) opened", reply)
    assert match, reply
    return match.group(1)


async def by_number(gql, token: str, number: str) -> Any:
    return (await gql.ok(CASE, {"n": number}, token=token))["case"]


async def autoreply_for(mailbox, address: str, number: str) -> EmailMessage:
    (reply,) = await mailbox.wait_for(address, f"[Case {number}] Received")
    return reply


async def test_a_mail_from_a_portal_user_opens_an_email_case_with_an_autoreply(gql, tokens, mailbox, port):
    subject = f"Settlement file missing {tag()}"
    reply = await deliver(port, mail("Uma User <user@acme.test>", subject, "Yesterday's file never arrived.\nERR-17"))
    number = number_in(reply)
    case = await by_number(gql, await tokens("user@acme.test"), number)
    assert case is not None and case["channel"] == "EMAIL" and case["status"] == "NEW"
    assert case["subject"] == subject and "ERR-17" in case["description"]
    assert case["requester"]["email"] == case["requesterEmail"] == "user@acme.test" and case["account"]
    autoreply = await autoreply_for(mailbox, "user@acme.test", number)
    assert case["refTag"] in str(autoreply["Subject"]) and number in body_of(autoreply)
    assert str(autoreply["Reply-To"]) == "support@portal.test"
    assert str(autoreply["Auto-Submitted"]) == "auto-replied"
    assert "Follow your case in the portal" in body_of(autoreply)


async def test_mime_multipart_quoted_printable_non_ascii_and_attachments(gql, tokens, port):
    subject = f"Zahlung abgelehnt: Größe {tag()}"
    message = mail(
        "Zoë Übermann <manager@acme.test>",
        subject,
        "Grüße, the payment page says “declined” for café orders.\n" + "long line " * 30,
        html="<p>ignored when there is plain text</p>",
        files=[("screen shot.png", "image/png", PNG), ("run.exe", "application/octet-stream", b"MZ\x00\x00")],
    )
    message.get_body(("plain",)).replace_header("Content-Transfer-Encoding", "quoted-printable")  # type: ignore[union-attr]
    number = number_in(await deliver(port, message))
    case = await by_number(gql, await tokens("manager@acme.test"), number)
    assert case["subject"] == subject
    assert "“declined” for café orders" in case["description"] and "ignored when" not in case["description"]
    assert [(a["filename"], a["contentType"], a["size"]) for a in case["attachments"]] == [
        ("screen shot.png", "image/png", len(PNG))
    ]
    assert "run.exe" in case["description"]  # the refused file is named, the mail still taken in


async def test_html_only_mail_is_reduced_to_text(gql, tokens, port):
    html = "<html><head><style>p{color:red}</style></head><body><h1>Outage</h1><p>Checkout &amp; refunds fail.</p>"
    html += "<script>alert(1)</script><ul><li>since 09:00</li></ul></body></html>"
    number = number_in(await deliver(port, mail("user@acme.test", f"HTML only {tag()}", "", html=html)))
    case = await by_number(gql, await tokens("user@acme.test"), number)
    assert case["description"].split("\n") == ["Outage", "", "Checkout & refunds fail.", "", "since 09:00"]


async def test_a_reply_with_the_ref_tag_becomes_a_public_comment_and_reopens_a_solved_case(gql, tokens, mailbox, port):
    number = number_in(await deliver(port, mail("user@acme.test", f"Refund stuck {tag()}", "Refund 881 is stuck.")))
    user, agent = await tokens("user@acme.test"), await tokens("agent@support.test")
    case = await by_number(gql, user, number)
    await gql.ok(STATUS, {"id": case["id"], "s": "SOLVED"}, token=agent)
    quoted = f"It happened again this morning.\n\nOn Mon, Support wrote:\n> Thank you for contacting support {number}"
    reply = await deliver(port, mail("user@acme.test", f"Re: [Case {number}] Received [{case['refTag']}]", quoted))
    assert f"Added to case {number}" in reply
    after = await by_number(gql, user, number)
    assert after["status"] == "OPEN"
    (comment,) = [e["node"] for e in after["comments"]["edges"]]
    assert comment["body"] == "It happened again this morning."
    assert (comment["channel"], comment["internal"], comment["authorEmail"]) == ("EMAIL", False, "user@acme.test")
    assert comment["author"]["id"] == after["requester"]["id"]


async def test_a_reply_threads_by_in_reply_to_of_our_autoreply_and_brings_attachments(gql, tokens, mailbox, port):
    number = number_in(await deliver(port, mail("manager@acme.test", f"Batch late {tag()}", "Batch 12 is late.")))
    autoreply = await autoreply_for(mailbox, "manager@acme.test", number)
    answer = mail(
        "manager@acme.test",
        "Re: the batch",  # the subject lost its tag; the headers still name our mail
        "Here is the log.",
        headers={"In-Reply-To": str(autoreply["Message-ID"]), "References": str(autoreply["Message-ID"])},
        files=[("batch.log", "text/plain", b"12:00 batch 12 queued\n")],
    )
    assert f"Added to case {number}" in await deliver(port, answer)
    case = await by_number(gql, await tokens("manager@acme.test"), number)
    (comment,) = [e["node"] for e in case["comments"]["edges"]]
    assert comment["attachments"] == [{"filename": "batch.log", "size": 22}]


async def test_forged_stale_and_mismatched_ref_tags_never_thread(gql, tokens, mailbox, port):
    user, admin_globex = await tokens("user@acme.test"), await tokens("admin@globex.test")
    number = number_in(await deliver(port, mail("user@acme.test", f"Target {tag()}", "Mine.")))
    other = number_in(await deliver(port, mail("user@acme.test", f"Other {tag()}", "Also mine.")))
    target = await by_number(gql, user, number)
    other_tag = (await by_number(gql, user, other))["refTag"]
    mac = target["refTag"].rsplit(":", 1)[1]
    forged = f"ref:{number}:{'a' * 16}"
    moved = f"ref:{number}:{other_tag.rsplit(':', 1)[1]}"  # another case's mac on this number
    attempts = [
        ("user@acme.test", f"Re: [{forged}]"),
        ("user@acme.test", f"Re: [{moved}]"),
        ("admin@globex.test", f"Re: [{target['refTag']}]"),  # a valid tag, from someone who may not see the case
        ("stranger@else.test", f"Re: [ref:{number}:{mac}]"),
    ]
    for sender, subject in attempts:
        reply = await deliver(port, mail(sender, subject, "Let me in"))
        assert "opened" in reply, (sender, subject, reply)  # a new case of its own, never this one
    assert (await by_number(gql, user, number))["comments"]["totalCount"] == 0
    assert await by_number(gql, admin_globex, number) is None


async def test_a_reply_to_a_closed_case_opens_a_new_related_case(gql, tokens, mailbox, port):
    user = await tokens("user@acme.test")
    number = number_in(await deliver(port, mail("user@acme.test", f"Old issue {tag()}", "First time.")))
    case = await by_number(gql, user, number)
    await gql.ok(CLOSE, {"id": case["id"]}, token=user)
    reply = await deliver(port, mail("user@acme.test", f"Re: [Case {number}] [{case['refTag']}]", "It is back."))
    new_number = number_in(reply)
    assert new_number != number
    new = await by_number(gql, user, new_number)
    assert new["relatedCase"] == {"number": number} and new["channel"] == "EMAIL"
    assert (await by_number(gql, user, number))["status"] == "CLOSED"
    autoreply = await autoreply_for(mailbox, "user@acme.test", new_number)
    assert f"Case {number} is closed" in body_of(autoreply)


async def test_a_new_mail_naming_an_earlier_case_gets_it_as_related_only_when_the_sender_may_see_it(gql, tokens, port):
    user = await tokens("user@acme.test")
    earlier = number_in(await deliver(port, mail("user@acme.test", f"Earlier {tag()}", "First.")))
    body = f"Same as case {earlier} last week."
    mine = number_in(await deliver(port, mail("user@acme.test", f"Again {tag()}", body)))
    assert (await by_number(gql, user, mine))["relatedCase"] == {"number": earlier}
    theirs = number_in(await deliver(port, mail("admin@globex.test", f"Guessing {tag()}", body)))
    assert (await by_number(gql, await tokens("admin@globex.test"), theirs))["relatedCase"] is None


async def test_an_unknown_sender_opens_an_unlinked_case_staff_link_it_and_the_account_sees_it(
    gql, tokens, mailbox, port, demo
):
    admin, agent = await tokens("admin@acme.test"), await tokens("agent@support.test")
    person_mail = f"new.{tag()}@acme.test"
    subject = f"Who can give me access {tag()}"
    number = number_in(await deliver(port, mail(f"Nia New <{person_mail}>", subject, "I have no login.")))
    autoreply = await autoreply_for(mailbox, person_mail, number)
    assert "no login to our Service Portal" in body_of(autoreply) and number in body_of(autoreply)
    staff_view = await by_number(gql, agent, number)
    assert staff_view["account"] is None and staff_view["requester"] is None
    assert staff_view["requesterEmail"] == person_mail
    assert await by_number(gql, admin, number) is None  # nobody of an account sees it yet
    unlinked = (await gql.ok(UNLINKED, {"s": subject}, token=agent))["cases"]
    assert [e["node"]["number"] for e in unlinked["edges"]] == [number]
    # replies from that address thread into it by ref tag
    await deliver(port, mail(person_mail, f"Re: [{staff_view['refTag']}]", "Any news?"))
    assert (await by_number(gql, agent, number))["comments"]["totalCount"] == 1
    # a customer may not link, nor see unlinked cases
    denied = await gql(LINK, {"id": staff_view["id"], "a": demo["admin@acme.test"].account_id}, token=admin)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    linked = (await gql.ok(LINK, {"id": staff_view["id"], "a": demo["admin@acme.test"].account_id}, token=agent))[
        "linkCase"
    ]
    assert linked["account"]["id"] == demo["admin@acme.test"].account_id and linked["requester"] is None
    assert (await by_number(gql, admin, number))["number"] == number  # the account's ADMIN sees it now
    assert (await gql.ok(UNLINKED, {"s": subject}, token=agent))["cases"]["totalCount"] == 0
    again = await gql(LINK, {"id": staff_view["id"], "a": demo["admin@acme.test"].account_id}, token=agent)
    assert again["errors"][0]["extensions"]["reason"] == "CASE_ALREADY_LINKED"


async def test_linking_makes_the_accounts_user_with_that_address_the_requester(gql, tokens, mailbox, port, stack, demo):
    admin, agent = await tokens("admin@acme.test"), await tokens("agent@support.test")
    person = await new_person(gql, mailbox, admin)
    store = stack.services["cases"].store

    async def known() -> bool:
        return await store.active_user_by_email(person.email) is not None

    await until(known, "the cases service heard user.activated")
    # a case mailed before linking: from an address the service did not know as a user's then
    stranger = f"later.{tag()}@acme.test"
    number = number_in(await deliver(port, mail(person.email, f"Mine by mail {tag()}", "From a user.")))
    assert (await by_number(gql, person.access_token, number))["requester"]["id"] == person.id
    unknown_number = number_in(await deliver(port, mail(stranger, f"Unknown {tag()}", "From nobody.")))
    case = await by_number(gql, agent, unknown_number)
    linked = await gql.ok(
        LINK, {"id": case["id"], "a": demo["admin@acme.test"].account_id, "r": person.id}, token=agent
    )
    assert linked["linkCase"]["requester"]["id"] == person.id
    assert (await by_number(gql, person.access_token, unknown_number))["number"] == unknown_number


async def test_auto_submitted_mail_and_bounces_open_nothing_and_get_no_reply(gql, tokens, mailbox, port, stack):
    address = f"robot.{tag()}@acme.test"
    out_of_office = mail(address, f"Out of office {tag()}", "Back Monday.", headers={"Auto-Submitted": "auto-replied"})
    assert "ignored" in await deliver(port, out_of_office)
    bounce = mail(f"MAILER-DAEMON@mx.{tag()}.test", "Undelivered Mail Returned to Sender", "550 no such user")
    assert "ignored" in await deliver(port, bounce, envelope_sender="")
    report = mail(address, "Delivery Status Notification", "failed")
    report.replace_header("Content-Type", "multipart/report; report-type=delivery-status; boundary=x")
    assert "ignored" in await deliver(port, report)
    await outbox_drained(stack.services["cases"].store)
    assert mailbox.to(address) == []
    found = await gql.ok(
        UNLINKED.replace("unlinked: true, ", ""), {"s": address}, token=await tokens("agent@support.test")
    )
    assert found["cases"]["totalCount"] == 0


async def test_the_same_message_id_twice_creates_nothing_twice(gql, tokens, mailbox, port, stack):
    message = mail("user@acme.test", f"Sent twice {tag()}", "My client retried.")
    number = number_in(await deliver(port, message))
    assert "duplicate" in await deliver(port, message)
    await outbox_drained(stack.services["cases"].store)
    assert len([m for m in mailbox.to("user@acme.test") if f"[Case {number}]" in str(m["Subject"])]) == 1
    search = "query($s: String) { cases(filter: {search: $s}) { totalCount } }"
    assert (await gql.ok(search, {"s": str(message["Subject"])}, token=await tokens("user@acme.test")))["cases"][
        "totalCount"
    ] == 1


async def test_a_mail_over_the_size_limit_is_refused_with_a_clear_smtp_reply(port):
    message = mail("user@acme.test", "Huge", "x", files=[("big.txt", "text/plain", b"a" * (11 * 1024 * 1024))])
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await deliver(port, message)
    assert refused.value.code == 552
