"""Files billing renders: the invoice PDF (fpdf2) and usage exports (CSV, XLSX with openpyxl).
Pure functions of the documents given; no I/O."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from fpdf import FPDF
from openpyxl import Workbook

from services.billing.rules import money_text

Doc = dict[str, Any]
PDF_TYPE = "application/pdf"
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMN_TITLES = {
    "ID": "ID",
    "DESCRIPTION": "Description",
    "DATE": "Date",
    "QUANTITY": "Quantity",
    "UNIT": "Unit",
    "INVOICED": "Invoiced",
    "INVOICE_NUMBER": "Invoice number",
}


def _latin(text: str) -> str:
    """The core PDF fonts are Latin-1: anything else is replaced, never an error."""
    return text.encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(invoice: Doc, status: str, account_name: str = "") -> bytes:
    currency = invoice["currency"]
    pdf = FPDF()
    pdf.set_title(f"Invoice {invoice['number']}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin(f"Invoice {invoice['number']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for label, value in (
        ("Account", account_name or invoice["account_id"]),
        ("Invoice date", invoice["issue_date"]),
        ("Due date", invoice["due_date"]),
        ("Status", status),
    ):
        pdf.cell(0, 7, _latin(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (90, 25, 35, 35)
    pdf.set_font("Helvetica", "B", 11)
    for width, title in zip(widths, ("Description", "Quantity", "Unit price", "Amount"), strict=True):
        pdf.cell(width, 8, title, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    for line in invoice.get("lines", []):
        cells = (
            line["description"][:60],
            line["quantity"],
            f"{money_text(line['unit_price_minor'])} {currency}",
            f"{money_text(line['amount_minor'])} {currency}",
        )
        for width, value in zip(widths, cells, strict=True):
            pdf.cell(width, 7, _latin(str(value)), border=1)
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    total, paid = int(invoice.get("total_minor", 0)), int(invoice.get("paid_minor", 0))
    balance = 0 if status == "VOID" else total - paid
    for label, minor in (("Total", total), ("Paid", paid), ("Balance due", balance)):
        pdf.cell(150, 7, label, align="R")
        pdf.cell(35, 7, f"{money_text(minor)} {currency}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.ln(6)
    pdf.cell(0, 6, "Dates are in US Eastern time.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _cell(usage: Doc, column: str, invoice_numbers: dict[str, str]) -> Any:
    getters: dict[str, Callable[[Doc], Any]] = {
        "ID": lambda u: u["_id"],
        "DESCRIPTION": lambda u: u["description"],
        "DATE": lambda u: u["date"],
        "QUANTITY": lambda u: u["quantity"],
        "UNIT": lambda u: u["unit"],
        "INVOICED": lambda u: "Yes" if u.get("invoiced") else "No",
        "INVOICE_NUMBER": lambda u: invoice_numbers.get(u.get("invoice_id") or "", ""),
    }
    return getters[column](usage)


def usage_rows(usages: list[Doc], columns: list[str], invoice_numbers: dict[str, str]) -> list[list[Any]]:
    return [[_cell(u, c, invoice_numbers) for c in columns] for u in usages]


def _safe_csv(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def usages_csv(columns: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([COLUMN_TITLES[c] for c in columns])
    for row in rows:
        writer.writerow([_safe_csv(v) for v in row])
    return out.getvalue().encode("utf-8")


def usages_xlsx(columns: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Usage")
    sheet.append([COLUMN_TITLES[c] for c in columns])
    for row in rows:
        sheet.append([_safe_csv(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
