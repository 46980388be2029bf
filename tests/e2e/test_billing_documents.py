"""Invoice PDFs and usage exports end to end (design.md 5.10, issue 13): short-lived signed gateway
URLs streamed from billing, for the user they were made for only, until they expire; exports built
in the background with at most the 1,000 newest matching rows, as valid CSV and XLSX, mailed."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from openpyxl import load_workbook
from pypdf import PdfReader

from tests.e2e.test_billing import INVOICE, acme_id, all_invoices, eastern_today
from tests.support.events import tap
from tests.support.graphql import code_of
from tests.support.mailbox import body_of

RECORD = "mutation($rows: [UsageRecordInput!]!) { recordUsages(input: $rows) }"
EXPORT = """mutation($f: UsageFilter, $c: [UsageColumn!], $fmt: ExportFormat!) {
  exportUsages(filter: $f, columns: $c, format: $fmt) { id status format rowCount downloadUrl expiresAt createdAt } }"""
EXPORT_STATE = "query($id: ID!) { usageExport(id: $id) { id status format rowCount downloadUrl expiresAt } }"


def local(url: str) -> str:
    """A link made for the public URL, as a path the test's gateway serves."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def download(http, url: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.get(local(url), headers=headers)


async def test_an_invoice_pdf_parses_and_is_served_only_to_whom_the_link_was_made_for(http, gql, tokens, clock):
    manager, user = await tokens("manager@acme.test"), await tokens("user@acme.test")
    agent, globex = await tokens("agent@support.test"), await tokens("admin@globex.test")
    invoice = next(i for i in await all_invoices(gql, manager) if i["status"] == "PARTIALLY_PAID")
    response = await download(http, invoice["pdfUrl"], manager)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "private, no-store"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in (invoice["number"], invoice["issueDate"], invoice["dueDate"], "PARTIALLY_PAID"):
        assert expected in text
    assert invoice["total"]["amount"] in text and invoice["balanceDue"]["amount"] in text
    assert "Platform subscription" in text

    assert (await download(http, invoice["pdfUrl"], None)).status_code == 401
    other_user = await download(http, invoice["pdfUrl"], user)  # the same account, but not their link
    assert other_user.status_code == 403 and other_user.json()["reason"] == "DOWNLOAD_LINK_OTHER_USER"
    assert (await download(http, invoice["pdfUrl"], globex)).status_code == 403
    own = (await gql.ok(INVOICE, {"id": invoice["id"]}, user))["invoice"]["pdfUrl"]
    assert (await download(http, own, user)).status_code == 200
    staff = (await gql.ok(INVOICE, {"id": invoice["id"]}, agent))["invoice"]["pdfUrl"]
    assert (await download(http, staff, agent)).status_code == 200
    forged = re.sub(r"token=[^&]+", "token=" + "A" * 40 + ".x", invoice["pdfUrl"])
    assert (await download(http, forged, manager)).json()["reason"] == "INVALID_DOWNLOAD_LINK"
    swapped = invoice["pdfUrl"].replace(invoice["id"], "inv_000000000000000000000000")
    assert (await download(http, swapped, manager)).status_code == 403
    clock.advance(timedelta(minutes=16))
    expired = await download(http, invoice["pdfUrl"], manager)
    assert expired.status_code == 403 and expired.json()["reason"] == "DOWNLOAD_LINK_EXPIRED"


async def _record_tagged(gql, tokens, account: str, tag: str, count: int) -> None:
    """`count` records, ten per day going back from today: record n is on day n // 10."""
    root = await tokens("root@support.test")
    rows = [
        {
            "accountId": account,
            "externalId": f"{tag}-{n}",
            "description": f"Export run {tag} #{n:04d}",
            "date": (eastern_today() - timedelta(days=n // 10)).isoformat(),
            "quantity": f"{n}.25",
            "unit": "runs",
        }
        for n in range(count)
    ]
    for start in range(0, count, 600):
        assert (await gql.ok(RECORD, {"rows": rows[start : start + 600]}, root))["recordUsages"] == len(
            rows[start : start + 600]
        )


async def _ready_export(gql, token: str, partner, variables: dict) -> dict:
    started = (await gql.ok(EXPORT, variables, token))["exportUsages"]
    assert started["status"] == "PENDING" and started["downloadUrl"] is None and started["rowCount"] is None
    event = await partner.wait_for("usage_export.ready", lambda e: e["data"]["id"] == started["id"], timeout=30)
    assert event["data"]["rowCount"] == 1000 and event["data"]["format"] == variables["fmt"]
    state = (await gql.ok(EXPORT_STATE, {"id": started["id"]}, token))["usageExport"]
    assert state["status"] == "READY" and state["rowCount"] == 1000 and state["expiresAt"]
    return state


async def test_an_export_of_more_than_a_thousand_rows_gives_the_thousand_newest_as_csv_and_xlsx(
    http, gql, tokens, demo, mailbox, direct_amqp_url, clock
):
    account = await acme_id(demo)
    manager, user = await tokens("manager@acme.test"), await tokens("user@acme.test")
    tag = uuid.uuid4().hex[:8]
    await _record_tagged(gql, tokens, account, tag, 1200)
    newest = {f"Export run {tag} #{n:04d}" for n in range(1000)}
    async with tap(direct_amqp_url, ["usage_export.*"]) as partner:
        csv_export = await _ready_export(
            gql,
            manager,
            partner,
            {"f": {"search": tag}, "c": ["DESCRIPTION", "DATE", "QUANTITY", "INVOICED"], "fmt": "CSV"},
        )
        xlsx_export = await _ready_export(gql, manager, partner, {"f": {"search": tag}, "fmt": "XLSX"})

    response = await download(http, csv_export["downloadUrl"], manager)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["Description", "Date", "Quantity", "Invoiced"]
    assert len(rows) == 1001 and {r[0] for r in rows[1:]} == newest
    assert [r[1] for r in rows[1:]] == sorted((r[1] for r in rows[1:]), reverse=True)
    assert {r[3] for r in rows[1:]} == {"No"}

    response = await download(http, xlsx_export["downloadUrl"], manager)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == ["ID", "Description", "Date", "Quantity", "Unit", "Invoiced", "Invoice number"]
    assert len(table) == 1001 and {r[1] for r in table[1:]} == newest
    assert all(str(r[0]).startswith("usg_") and r[4] == "runs" for r in table[1:])

    mails = await mailbox.wait_for("manager@acme.test", "usage export is ready", count=2)
    links = {m.group(0) for mail in mails if (m := re.search(r"https://\S+", body_of(mail)))}
    assert {csv_export["downloadUrl"], xlsx_export["downloadUrl"]} <= links

    other = await download(http, xlsx_export["downloadUrl"], user)
    assert other.status_code == 403 and other.json()["reason"] == "DOWNLOAD_LINK_OTHER_USER"
    assert (await gql.ok(EXPORT_STATE, {"id": xlsx_export["id"]}, await tokens("admin@globex.test")))[
        "usageExport"
    ] is None
    clock.advance(timedelta(hours=24, minutes=1))
    expired = await download(http, xlsx_export["downloadUrl"], manager)
    assert expired.status_code == 403 and expired.json()["reason"] == "DOWNLOAD_LINK_EXPIRED"


async def test_every_portal_user_exports_and_staff_may_not(gql, tokens, demo):
    account = await acme_id(demo)
    for email in ("user@acme.test", "admin@acme.test"):
        started = (await gql.ok(EXPORT, {"f": {"unit": "GB"}, "fmt": "CSV"}, await tokens(email)))["exportUsages"]
        assert started["status"] == "PENDING"
    for staff in ("agent@support.test", "root@support.test"):
        refused = await gql.error(
            "mutation($a: ID) { exportUsages(accountId: $a, format: CSV) { id } }", {"a": account}, await tokens(staff)
        )
        assert code_of(refused) == "FORBIDDEN"
