"""The event catalog of contract/events.md as typed classes: one class per event type.

Producers build these (so what they publish is checked against the contract before it is stored);
consumers get them parsed and validated at the edge (a payload that does not fit is dead-lettered
with the reason, never retried). Field names are snake_case here and camelCase on the wire.
Unknown fields are kept: producers may add fields freely (contract/events.md).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)
    amount: str
    currency: str


class Event(BaseModel):
    """Data of one event type. `routing_key` is the type without version; `subject_template`
    names the aggregate (order is kept per subject)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="allow")
    routing_key: ClassVar[str]
    source: ClassVar[str]
    subject_template: ClassVar[str]

    @property
    def aggregate(self) -> str:
        """The envelope's `subject`: the aggregate this event is about, e.g. `user/usr_…`."""
        return self.subject_template.format(**self.__dict__)

    @property
    def tenant(self) -> str:
        """The `accountid` envelope attribute: the customer account the event belongs to, if any."""
        return str(getattr(self, "account_id", "") or "")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# --- identity ---------------------------------------------------------------------------------


class _AboutUser(Event):
    """What every user event carries: the user, their account (none for staff) and contact."""

    source = "identity"
    subject_template = "user/{user_id}"
    user_id: str
    account_id: str | None
    contact_id: str | None = None


class AccountUpdated(Event):
    routing_key = "account.updated"
    source = "identity"
    subject_template = "account/{account_id}"
    account_id: str
    number: str
    name: str
    portal_enabled: bool
    client_success_manager_id: str | None = None


class InvitationSent(_AboutUser):
    routing_key = "invitation.sent"
    email: str
    role: str
    invitation_id: str
    expires_at: str
    resend: bool


class InvitationAccepted(_AboutUser):
    routing_key = "invitation.accepted"
    invitation_id: str


class UserActivated(_AboutUser):
    routing_key = "user.activated"
    email: str
    role: str


class UserDeactivated(_AboutUser):
    routing_key = "user.deactivated"
    reason: str


class UserRoleChanged(_AboutUser):
    routing_key = "user.role_changed"
    old_role: str
    new_role: str


class AnnouncementPublished(Event):
    routing_key = "announcement.published"
    source = "identity"
    subject_template = "announcement/{id}"
    id: str
    kind: str
    title: str
    starts_at: str
    ends_at: str | None


# --- contacts ---------------------------------------------------------------------------------


class ContactSnapshot(Event):
    """contact.created / contact.updated carry the contact as it is after the change."""

    source = "contacts"
    subject_template = "contact/{contact_id}"
    contact_id: str
    account_id: str
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    title: str | None = None
    is_primary: bool = False
    portal_enabled: bool = False
    portal_access_status: str = "NONE"
    user_id: str | None = None
    external_id: str | None = None


class ContactCreated(ContactSnapshot):
    routing_key = "contact.created"


class ContactUpdated(ContactSnapshot):
    routing_key = "contact.updated"
    changed: list[str] = []


class ContactDeleted(Event):
    routing_key = "contact.deleted"
    source = "contacts"
    subject_template = "contact/{contact_id}"
    contact_id: str
    account_id: str
    user_id: str | None = None
    external_id: str | None = None


class ContactSynced(Event):
    routing_key = "contact.synced"
    source = "contacts"
    subject_template = "contact/{contact_id}"
    contact_id: str
    account_id: str
    operation: str  # created / updated / deleted
    contact: dict[str, Any]
    external_id: str | None = None
    version: int


class ContactPortalAccessChanged(Event):
    routing_key = "contact.portal_access_changed"
    source = "contacts"
    subject_template = "contact/{contact_id}"
    contact_id: str
    account_id: str
    email: str
    name: str
    enabled: bool
    role: str = "USER"
    user_id: str | None = None


# --- cases ------------------------------------------------------------------------------------


class _AboutCase(Event):
    """What every case event carries: the case, its number and its account (none until linked)."""

    source = "cases"
    subject_template = "case/{case_id}"
    case_id: str
    number: str
    account_id: str | None


class CaseCreated(_AboutCase):
    routing_key = "case.created"
    requester_id: str | None
    subject: str
    priority: str
    team: str
    channel: str
    related_case_id: str | None = None


class CaseUpdated(_AboutCase):
    routing_key = "case.updated"
    changed: list[str]


class CaseCommentAdded(_AboutCase):
    routing_key = "case.comment_added"
    comment_id: str
    author_id: str | None = None
    internal: bool
    channel: str


class CaseStatusChanged(_AboutCase):
    routing_key = "case.status_changed"
    old_status: str
    new_status: str


class CaseClosed(_AboutCase):
    routing_key = "case.closed"
    closed_at: str


# --- billing ----------------------------------------------------------------------------------


class InvoiceIssued(Event):
    routing_key = "invoice.issued"
    source = "billing"
    subject_template = "invoice/{invoice_id}"
    invoice_id: str
    number: str
    account_id: str
    total: Money
    due_date: str


class PaymentSucceeded(Event):
    routing_key = "payment.succeeded"
    source = "billing"
    subject_template = "payment/{payment_id}"
    payment_id: str
    number: str
    account_id: str
    amount: Money
    invoice_ids: list[str]
    method_description: str
    autopay: bool


class PaymentFailed(Event):
    routing_key = "payment.failed"
    source = "billing"
    subject_template = "payment/{payment_id}"
    payment_id: str
    account_id: str
    amount: Money
    invoice_ids: list[str]
    failure_reason: str
    autopay: bool


class PaymentMethodAdded(Event):
    routing_key = "payment_method.added"
    source = "billing"
    subject_template = "payment_method/{id}"
    id: str
    account_id: str
    type: str
    brand: str | None = None
    last4: str


class PaymentMethodRemoved(Event):
    routing_key = "payment_method.removed"
    source = "billing"
    subject_template = "payment_method/{id}"
    id: str
    account_id: str


class AutopayChanged(Event):
    routing_key = "autopay.changed"
    source = "billing"
    subject_template = "account/{account_id}"
    account_id: str
    enabled: bool
    payment_method_id: str | None = None


class UsageExportReady(Event):
    routing_key = "usage_export.ready"
    source = "billing"
    subject_template = "usage_export/{id}"
    id: str
    account_id: str
    row_count: int
    format: str


def _concrete(kind: type[Event]) -> list[type[Event]]:
    found = [kind] if "routing_key" in kind.__dict__ else []
    for sub in kind.__subclasses__():
        found.extend(_concrete(sub))
    return found


# routing key -> class: what a consumer uses to parse an incoming envelope
CATALOG: dict[str, type[Event]] = {kind.routing_key: kind for kind in _concrete(Event)}
