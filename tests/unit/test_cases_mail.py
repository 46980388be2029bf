"""Reading inbound mail (services/cases/mailin.py) and the mail rules: MIME shapes, RFC 2047 names,
HTML reduced to text, ref tags and our Message-IDs, RFC 3834 signals, quoted replies."""

from __future__ import annotations

from email.message import EmailMessage

from portalkit.auth import Caller
from services.cases import mailin, rules

TAG = "ref:00100042:abcdefghijklmnop"


def raw(message: EmailMessage) -> bytes:
    return bytes(message)


def message(**headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = headers.pop("From", "=?utf-8?q?Zo=C3=AB_M=C3=BCller?= <Zoe@Example.TEST>")
    m["To"] = "support@portal.test"
    m["Subject"] = headers.pop("Subject", "=?utf-8?b?w4RydGVyIG1pdCBkZXIgS2Fzc2U=?=")
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    return m


def test_names_and_subjects_are_decoded_and_the_address_lower_cased():
    m = message()
    m.set_content("Hallo")
    mail = mailin.parse(raw(m))
    assert (mail.sender, mail.sender_name, mail.subject) == ("zoe@example.test", "Zoë Müller", "Ärter mit der Kasse")
    assert mail.automatic == "" and mail.message_id.startswith("sha256:")  # no Message-ID: the content's hash


def test_quoted_printable_plain_text_wins_over_html_and_attachments_are_decoded():
    m = message(Message_ID="<a@b>")
    m.set_content("Caf\u00e9 \u2013 " + "x" * 100, cte="quoted-printable")
    m.add_alternative("<p>html</p>", subtype="html")
    m.add_attachment(b"\x89PNG\r\n\x1a\nrest", maintype="image", subtype="png", filename="Bild ä.png")
    parsed = mailin.parse(raw(m))
    assert parsed.text.startswith("Caf\u00e9 \u2013 xxx") and "html" not in parsed.text
    assert [(f.filename, f.content_type, f.content) for f in parsed.files] == [
        ("Bild ä.png", "image/png", b"\x89PNG\r\n\x1a\nrest")
    ]
    assert parsed.message_id == "<a@b>"


def test_html_only_mail_becomes_text_without_scripts_or_styles():
    text = mailin.html_to_text("<style>x{}</style><div>One&nbsp;&amp; two</div><script>bad()</script><br>three")
    assert text == "One & two\n\nthree"


def test_ref_tags_come_from_subject_body_and_our_message_ids():
    m = message(
        Subject=f"Re: [{TAG.upper()}]",
        In_Reply_To="<case.00100043.qrstuvwxyz234567.0a1b@portal>",
        References="<other@x> <case.00100044.bbbbbbbbbbbbbbbb.ff@portal>",
    )
    m.set_content(f"see {TAG} and case 00100099")
    mail = mailin.parse(raw(m))
    assert mail.ref_tags() == [
        ("00100042", "abcdefghijklmnop"),
        ("00100043", "qrstuvwxyz234567"),
        ("00100044", "bbbbbbbbbbbbbbbb"),
    ]
    assert mail.case_numbers() == ["00100099"]


def test_rfc_3834_auto_submitted_and_bounces_are_recognised():
    cases = [
        (message(Auto_Submitted="auto-replied"), "?", "Auto-Submitted"),
        (message(Precedence="bulk"), "?", "Precedence"),
        (message(X_Autoreply="yes"), "?", "X-Autoreply"),
        (message(From="MAILER-DAEMON@mx.test"), "?", "sent by mailer-daemon"),
        (message(), "", "null envelope sender"),
    ]
    for m, envelope, why in cases:
        m.set_content("x")
        assert mailin.parse(raw(m), envelope).automatic.startswith(why), why
    report = message()
    report.set_content("x")
    report.replace_header("Content-Type", "multipart/report; report-type=delivery-status; boundary=zz")
    assert mailin.parse(raw(report)).automatic == "delivery report"
    person = message(Auto_Submitted="no")
    person.set_content("x")
    assert mailin.parse(raw(person)).automatic == ""


def test_a_reply_keeps_its_own_text_not_the_quoted_mail():
    assert rules.without_quote("Thanks!\n\nOn Tue, 1 Dec, Support <s@x> wrote:\n> old text") == "Thanks!"
    assert rules.without_quote("Top\n-----Original Message-----\nFrom: x") == "Top"
    assert rules.without_quote("> only quoted") == "> only quoted"  # nothing of its own: keep it all


def test_who_may_mail_into_a_case():
    user = Caller("usr_u", "USER", "acc_1", "email")
    manager = Caller("usr_m", "MANAGER", "acc_1", "email")
    own = {"account_id": "acc_1", "requester_id": "usr_u", "requester_email": "u@x"}
    unlinked = {"account_id": "", "requester_id": "", "requester_email": "stranger@x"}
    assert rules.may_mail_into(user, "u@x", own) and rules.may_mail_into(manager, "m@x", own)
    assert not rules.may_mail_into(Caller("usr_o", "USER", "acc_1", "email"), "o@x", own)
    assert rules.may_mail_into(None, "Stranger@X", unlinked) and not rules.may_mail_into(None, "other@x", unlinked)
    assert not rules.may_mail_into(None, "u@x", own)  # a user's case: never by address alone
