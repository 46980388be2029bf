"""Demo knowledge articles (design.md 9; seed 000: "Knowledge articles that are based on specific
troubleshooting scenarios"): slug, product, title, tags, body."""

from __future__ import annotations

DEMO_ARTICLES: list[tuple[str, str, str, list[str], str]] = [
    (
        "password-reset-email-not-received",
        "Portal",
        "Password reset email not received",
        ["login", "password"],
        "If you asked for a password reset and no email arrived, check your spam or junk folder first and wait a "
        "few minutes. Only registered, active portal users get a reset email: if you are not a registered user, "
        "ask a Service Portal administrator of your company to grant you access. Reset links are valid for one "
        "hour and can be used once.",
    ),
    (
        "account-locked-after-failed-logins",
        "Portal",
        "Account locked after too many failed logins",
        ["login", "lockout", "security"],
        "After several failed login attempts the portal slows down further attempts for your address. Wait fifteen "
        "minutes and try again, or reset your password. Saved passwords in the browser are a common cause of "
        "repeated failures after a password change.",
    ),
    (
        "invitation-link-expired",
        "Portal",
        "Invitation link expired",
        ["invitation", "access", "login"],
        "Invitation links are valid for 72 hours. When a link has expired, ask your administrator to resend the "
        "invitation: a new link is issued and the old one stops working.",
    ),
    (
        "add-portal-users",
        "Portal",
        "Adding users to the Service Portal",
        ["users", "admin", "roles"],
        "Administrators add users from My Profile: choose User, Manager or Admin for each person, click Add another "
        "to add more, then Submit. A User sees the cases they created; a Manager sees all cases of the account; an "
        "Admin also manages portal users.",
    ),
    (
        "deactivate-portal-user",
        "Portal",
        "Deactivating and reactivating a portal user",
        ["users", "admin", "deactivate"],
        "Administrators deactivate a user in Manage Users under the Active tab. A deactivated user cannot log in "
        "and their sessions end at once; their cases stay visible to the account's managers. Reactivate them from "
        "the Inactive tab.",
    ),
    (
        "email-notification-preferences",
        "Portal",
        "Choosing maintenance and incident notifications",
        ["notifications", "email", "preferences"],
        "Open My Profile, then Email Preferences, and select the notifications you want. We recommend maintenance "
        "and incident notifications so that you hear about planned work and outages first.",
    ),
    (
        "card-declined-error-05",
        "Payments",
        "Card declined with error 05 (Do not honor)",
        ["decline", "card", "error-codes"],
        "Error 05 means the issuing bank declined the authorization without giving a reason. Ask the cardholder to "
        "contact their bank, or try another card. Repeated declines for many cardholders at once can point to a "
        "velocity rule: open a case with example account numbers and the exact time the declines began.",
    ),
    (
        "card-declined-insufficient-funds",
        "Payments",
        "Card declined for insufficient funds (error 51)",
        ["decline", "card", "error-codes"],
        "Error 51 is returned when the card has no available balance for the amount. The payment can be retried "
        "once the cardholder has funds, or paid with another payment method.",
    ),
    (
        "payment-page-timeout",
        "Payments",
        "Hosted payment page times out",
        ["checkout", "timeout", "payment-page"],
        "A hosted payment page session expires after 15 minutes without activity. Customers who leave the page open "
        "see a timeout message when they submit. Create a new session for each checkout; check that your server "
        "clock is correct, since a skewed clock shortens the session.",
    ),
    (
        "3d-secure-authentication-failed",
        "Payments",
        "3-D Secure authentication fails at checkout",
        ["3ds", "authentication", "checkout"],
        "When the cardholder's bank challenge does not complete, the payment is declined with an authentication "
        "failure. Pop-up blockers and embedded browsers in mobile apps often stop the challenge window. Test with "
        "the sandbox cards for frictionless and challenge flows before going live.",
    ),
    (
        "refund-not-showing",
        "Payments",
        "Refund issued but not showing on the customer's statement",
        ["refund", "settlement"],
        "Refunds are sent with the next settlement batch and usually appear on the cardholder's statement within "
        "five to ten business days, depending on the issuing bank. The refund reference in the portal helps the "
        "bank trace it.",
    ),
    (
        "duplicate-charge",
        "Payments",
        "Customer charged twice for one payment",
        ["duplicate", "idempotency", "charge"],
        "Send an idempotency key with every payment request: a retried request with the same key returns the "
        "original payment instead of charging again. A pending authorization can also look like a second charge; "
        "it drops off when it expires.",
    ),
    (
        "settlement-file-missing",
        "Payments",
        "Daily settlement file missing",
        ["settlement", "sftp", "files"],
        "Settlement files are delivered by SFTP every day after the cut-off. If a file is missing, check the SFTP "
        "credentials and the folder permissions, then open a case with the date of the missing file.",
    ),
    (
        "tokenization-invalid-token",
        "Payments",
        "Invalid token error when charging a saved card",
        ["tokens", "saved-card", "error-codes"],
        "A token belongs to the merchant account that created it. Charging it from another merchant account, or "
        "after the card was removed, returns an invalid token error. Save the card again to get a new token.",
    ),
    (
        "invoice-pdf-download",
        "Billing",
        "Downloading an invoice PDF",
        ["invoice", "pdf", "download"],
        "Open Invoices, select the invoice and click Download PDF. If the download does not start, allow pop-ups "
        "for the portal. Every user of the account can view and download invoices.",
    ),
    (
        "pay-several-invoices",
        "Billing",
        "Paying several invoices at once",
        ["invoice", "payment", "make-payment"],
        "Choose Make Payment, select the invoices to pay and the payment method, then review the total before you "
        "confirm. Partial payments leave the invoice partially paid until the rest arrives.",
    ),
    (
        "autopay-setup",
        "Billing",
        "Setting up autopay",
        ["autopay", "payment-method"],
        "Autopay needs a payment method: add a card or bank account first, then turn autopay on and pick the method. "
        "Each invoice is paid on its due date, US Eastern time. A failed autopay payment is emailed to you.",
    ),
    (
        "autopay-payment-failed",
        "Billing",
        "Autopay payment failed",
        ["autopay", "decline", "payment-method"],
        "When an autopay charge is declined the invoice stays open and you get an email with the reason. Update the "
        "card or choose another default payment method, then pay the invoice from Make Payment.",
    ),
    (
        "overdue-invoice",
        "Billing",
        "Why is my invoice marked overdue?",
        ["invoice", "overdue", "due-date"],
        "An invoice becomes overdue the day after its due date in US Eastern time when it is not fully paid. "
        "Payments take a moment to post; refresh the invoice list after paying.",
    ),
    (
        "usage-export-email",
        "Billing",
        "Usage export never arrived by email",
        ["usage", "export", "email"],
        "Usage exports are built in the background and emailed as a time-limited download link. Exports hold the "
        "most recent 1,000 rows of your filter: narrow the date range for older usage. Check spam for the email.",
    ),
    (
        "credit-applied",
        "Billing",
        "How credits are applied to invoices",
        ["credits", "invoice"],
        "Credits issued to your account are listed under Credits with their remaining amount. They are applied to "
        "open invoices when you pay, oldest invoice first.",
    ),
    (
        "report-totals-mismatch",
        "Reporting",
        "Report totals do not match the settlement",
        ["reports", "settlement", "totals"],
        "Reports use the transaction date while settlement uses the batch date, so totals differ around midnight "
        "and on weekends. Compare by batch date to reconcile; refunds and chargebacks are listed separately.",
    ),
    (
        "scheduled-report-not-delivered",
        "Reporting",
        "Scheduled report not delivered",
        ["reports", "schedule", "email"],
        "Scheduled reports are emailed to the addresses on the schedule. Large reports are sent as a download link "
        "instead of an attachment. Check that the recipients are still active portal users.",
    ),
    (
        "report-timezone",
        "Reporting",
        "Which time zone do reports use?",
        ["reports", "timezone", "dates"],
        "All dates in reports are in US Eastern time, like the rest of the portal. Exported timestamps include "
        "the offset so that you can convert them.",
    ),
    (
        "api-401-unauthorized",
        "API",
        "API returns 401 Unauthorized",
        ["api", "authentication", "keys"],
        "A 401 response means the API key is missing, revoked or sent to the wrong environment. UAT keys do not "
        "work in production. Send the key in the Authorization header and rotate it if it was exposed.",
    ),
    (
        "api-rate-limit-429",
        "API",
        "API rate limit exceeded (429 Too Many Requests)",
        ["api", "rate-limit", "retries"],
        "Each API key has a request budget per second. A 429 response carries a Retry-After header: wait that long "
        "before retrying, and back off exponentially instead of retrying in a tight loop.",
    ),
    (
        "webhook-retries",
        "API",
        "Webhook deliveries retried many times",
        ["webhooks", "retries", "api"],
        "A webhook delivery is retried with exponential back-off until your endpoint answers with a 2xx status. "
        "Answer quickly and do the work afterwards; deduplicate deliveries by their event id.",
    ),
    (
        "webhook-signature-invalid",
        "API",
        "Webhook signature verification fails",
        ["webhooks", "signature", "security"],
        "Verify the signature over the raw request body, before any JSON parsing changes whitespace, with the "
        "signing secret of the right environment. A clock far off also fails the timestamp check.",
    ),
    (
        "uat-vs-production",
        "API",
        "Testing in UAT before production",
        ["uat", "sandbox", "environments"],
        "The UAT environment mirrors production with sandbox processors: test cards succeed or decline by their "
        "number. Say whether an issue occurs in production or UAT when you open a case.",
    ),
    (
        "good-case-report",
        "Support",
        "What to include when you open a case",
        ["cases", "support", "tips"],
        "Include screenshots, example account numbers, the exact error message, the time and date the issue began, "
        "and whether it occurs in production or UAT. Keep the ref tag in the subject when you reply by email.",
    ),
    (
        "reply-to-closed-case",
        "Support",
        "Replying to a closed case",
        ["cases", "email", "ref-tag"],
        "A closed case is no longer monitored. If the issue comes back, start a new email and mention the previous "
        "case number in the body: the new case is linked to the old one.",
    ),
    (
        "case-by-email",
        "Support",
        "Opening and updating cases by email",
        ["cases", "email", "ref-tag"],
        "Email the support address to open a case; the autoreply gives you the case number and a ref tag. Reply to "
        "that mail and keep the ref tag in the subject so that your reply reaches the person working on your case.",
    ),
]
