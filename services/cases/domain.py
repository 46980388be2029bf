"""Cases operations, callable without a server (no gRPC, no Mongo here: see store.py).

A case is one aggregate: a change, the comment that caused it, its events and its mails are one
single-document write (store.change_case), guarded by the case's version; a write that lost a race
is computed again from the fresh case.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from portalkit.access import is_support_admin
from portalkit.auth import Caller
from portalkit.batch import MAX_BATCH, batch_get
from portalkit.catalog import AccountUpdated, Event, UserActivated, UserDeactivated, UserRoleChanged
from portalkit.clock import Clock
from portalkit.consumers import Received
from portalkit.errors import Conflict, FailedPrecondition, Forbidden, InvalidInput, NotFound, Unavailable
from portalkit.ids import new_id
from portalkit.pagination import Page, page_size
from services.cases import events, mailin, rules
from services.cases.events import Mails
from services.cases.knowledge import Hit, KnowledgeIndex
from services.cases.store import ORDERINGS, CasesStore

log = logging.getLogger(__name__)
Doc = dict[str, Any]
SAVE_ATTEMPTS = 8
INDEX_BATCH = 1000
INDEX_OVERLAP = timedelta(seconds=30)  # a write stamped a little before the newest seen is still found
DEFAULT_TEAM_ADDRESSES = {team: f"{team.lower().replace('_', '-')}@support.test" for team in rules.TEAMS}
DEFAULT_MAILS = Mails("Customer Portal <no-reply@portal.test>", "http://127.0.0.1:8000", DEFAULT_TEAM_ADDRESSES)


@dataclass(frozen=True)
class Person:
    """A user as identity shows them to the caller; `case_updates` is None when not readable."""

    id: str
    email: str
    name: str
    role: str
    active: bool
    team: str = ""
    account_id: str = ""
    case_updates: bool | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in {"AGENT", "SUPPORT_ADMIN"}


class Directory(Protocol):
    """Fresh reads of identity's users, as the caller whose token is given (see directory.py)."""

    async def people(self, user_ids: list[str], token: str) -> dict[str, Person]: ...


class NoDirectory:
    async def people(self, user_ids: list[str], token: str) -> dict[str, Person]:
        return {}


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class MailOutcome:
    """What an inbound mail became: a new case, a comment, or nothing (ignored, duplicate)."""

    kind: str
    case_number: str = ""
    comment_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class CommentPage:
    case_id: str
    comments: list[Doc]
    cursors: list[str]
    next_token: str
    total: int


@dataclass
class Change:
    """What one attempt at a change computed from the case it read."""

    changes: Doc = field(default_factory=dict)
    outgoing: list[Event | EmailMessage] = field(default_factory=list)
    comment: Doc | None = None
    attachments: list[Doc] = field(default_factory=list)


class Cases:
    def __init__(
        self,
        store: CasesStore,
        clock: Clock | None = None,
        directory: Directory | None = None,
        mails: Mails | None = None,
        secret: str = "",
        index: KnowledgeIndex | None = None,
    ) -> None:
        self.index = index or KnowledgeIndex()
        self._index_since: datetime | None = None  # the newest `changed_at` the index has seen
        self.store = store
        self.clock = clock or Clock()
        self.directory = directory or NoDirectory()
        self.mails = mails or DEFAULT_MAILS
        self.secret = secret or secrets.token_hex(32)

    # --- reads -------------------------------------------------------------------------------
    async def get_cases(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_cases, lambda doc: rules.can_read(caller, doc))

    async def case_by_number(self, caller: Caller, number: str) -> Doc:
        case = await self.store.find_by_number(number.strip())
        if case is None or not rules.can_read(caller, case):
            raise NotFound(f"no case {number} that you can see")
        return case

    async def list_cases(self, caller: Caller, filters: Doc, order: str, size: int, token: str) -> Page:
        order = order or "UPDATED_DESC"
        if order not in ORDERINGS:
            raise InvalidInput(f"unknown order {order}")
        return await self.store.list_cases(
            rules.scope_of(caller), rules.list_filters(caller, filters), order, size, token
        )

    async def comment_pages(self, caller: Caller, case_ids: list[str], size: int, token: str) -> list[CommentPage]:
        """The same page of comments for each readable case (internal notes for staff only)."""
        case_ids = list(dict.fromkeys(case_ids))
        if len(case_ids) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} cases per call", reason="BATCH_TOO_LARGE")
        size = page_size(size)
        after = _decode_comment_cursor(token) if token else ""
        found = {c["_id"]: c for c in await self.store.get_comment_threads(case_ids) if rules.can_read(caller, c)}
        pages = []
        for case_id in case_ids:
            if case_id not in found:
                continue
            visible = [c for c in found[case_id].get("comments", []) if caller.is_staff or not c["internal"]]
            rest = [c for c in visible if c["_id"] > after] if after else visible
            chunk = rest[:size]
            cursors = [_comment_cursor(c["_id"]) for c in chunk]
            next_token = cursors[-1] if len(rest) > size else ""
            pages.append(CommentPage(case_id, chunk, cursors, next_token, len(visible)))
        return pages

    def visible_attachments(self, caller: Caller, case: Doc) -> list[Doc]:
        return [a for a in case.get("attachments", []) if caller.is_staff or not a.get("internal")]

    def ticket(self, caller: Caller, attachment_id: str) -> str:
        return rules.download_ticket(self.secret, attachment_id, caller.user_id, self.clock.now())

    async def download(self, caller: Caller, attachment_id: str, ticket: str) -> Doc:
        """The attachment with its content, for a caller who may see its case and holds a ticket
        issued to them that has not expired."""
        attachment = await self.store.get_attachment(attachment_id)
        case = await self.store.get_case(attachment["case_id"]) if attachment else None
        if attachment is None or case is None or not rules.can_read(caller, case):
            raise NotFound("no such attachment")
        if attachment.get("internal") and not caller.is_staff:
            raise NotFound("no such attachment")
        rules.check_download_ticket(self.secret, ticket, attachment_id, caller, self.clock.now())
        return attachment

    # --- opening a case (design.md 5.5) -------------------------------------------------------
    async def create_case(
        self,
        caller: Caller,
        values: Doc,
        related_number: str = "",
        uploads: list[Upload] | None = None,
        channel: str = "WEB",
        token: str = "",
    ) -> Doc:
        rules.require_customer(caller)
        fields = rules.case_fields(values, partial=False)
        files = rules.check_attachments([(u.filename, u.content_type, u.content) for u in uploads or []])
        channel = channel if channel in rules.CHANNELS else "WEB"
        related = await self.case_by_number(caller, related_number) if related_number.strip() else None
        requester = (await self.directory.people([caller.user_id], token)).get(caller.user_id)
        if requester is None:
            raise Unavailable("your user could not be read from the directory; try again shortly")
        return await self._open_case(
            account_id=caller.account_id,
            requester_id=caller.user_id,
            requester_email=requester.email,
            requester_name=requester.name,
            fields=fields,
            channel=channel,
            related=related,
            files=files,
            autoreply=lambda case: self.mails.autoreply(case, related["number"] if related else ""),
        )

    async def _open_case(
        self,
        *,
        account_id: str,
        requester_id: str,
        requester_email: str,
        requester_name: str,
        fields: Doc,
        channel: str,
        related: Doc | None,
        files: list[tuple[str, str, bytes]],
        autoreply: Callable[[Doc], EmailMessage],
    ) -> Doc:
        """The one way a case begins (web or mail): the next number from the atomic counter, its ref
        tag, its attachments, and case.created with the autoreply in the same write."""
        number = rules.case_number(await self.store.next_case_sequence())
        case_id = new_id("cas")
        now = self.clock.now()
        stored = [self._attachment(case_id, "", False, name, kind, content) for name, kind, content in files]
        case = {
            "_id": case_id,
            "number": number,
            "number_seq": int(number),
            "ref_tag": rules.ref_tag(self.secret, case_id, number),
            "account_id": account_id,
            "requester_id": requester_id,
            "requester_email": requester_email,
            "requester_name": requester_name,
            **fields,
            "status": "NEW",
            "team": rules.FIRST_TEAM,
            "assignee_id": "",
            "assignee_email": "",
            "channel": channel,
            "related_case_id": related["_id"] if related else "",
            "attachments": [_meta(a) for a in stored],
            "comments": [],
            "comment_count": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        await self.store.insert_attachments(stored)
        await self.store.insert_case(case, [events.created(case), autoreply(case)])
        return case

    def _attachment(self, case_id: str, comment_id: str, internal: bool, name: str, kind: str, content: bytes) -> Doc:
        return {
            "_id": new_id("att"),
            "case_id": case_id,
            "comment_id": comment_id,
            "internal": internal,
            "filename": name,
            "content_type": kind,
            "size": len(content),
            "content": content,
            "created_at": self.clock.now(),
        }

    # --- changes ----------------------------------------------------------------------------------
    async def _readable(self, caller: Caller, case_id: str) -> Doc:
        case = await self.store.get_case(case_id)
        if case is None or not rules.can_read(caller, case):
            raise NotFound("no such case")
        return case

    async def _apply(
        self, caller: Caller | None, case_id: str, compute: Callable[[Doc], Awaitable[Change | None]]
    ) -> Doc:
        """Read the case, compute the change, write it if the case did not move meanwhile (else
        compute again). Returns the case after the write (or as it is, when nothing changes).
        `caller` None: the service itself (a mailed-in reply, whose right was checked by ref tag)."""
        for _ in range(SAVE_ATTEMPTS):
            case = await self._readable(caller, case_id) if caller else await self.store.get_case(case_id)
            if case is None:
                raise NotFound("no such case")
            change = await compute(case)
            if change is None:
                return case
            change.changes.setdefault("updated_at", self.clock.now())
            saved = await self.store.change_case(
                case_id,
                case["version"],
                change.changes,
                change.outgoing,
                comment=change.comment,
                attachments=[_meta(a) for a in change.attachments],
            )
            if saved is not None:
                return saved
        raise Conflict("the case is changing right now; try again")

    async def update_case(self, caller: Caller, case_id: str, values: Doc) -> Doc:
        fields = rules.case_fields(values, partial=True)

        async def compute(case: Doc) -> Change | None:
            rules.require_not_closed(case)
            changed = rules.changed_fields(case, fields)
            if not changed:
                return None
            return Change(dict(fields), [events.updated({**case, **fields}, changed)])

        return await self._apply(caller, case_id, compute)

    async def close_case(self, caller: Caller, case_id: str, token: str = "") -> Doc:
        return await self._move(caller, case_id, "CLOSED", token)

    async def set_status(self, caller: Caller, case_id: str, status: str, token: str = "") -> Doc:
        rules.require_staff(caller, "set a case's status")
        return await self._move(caller, case_id, rules.check_status(status), token)

    async def _move(self, caller: Caller, case_id: str, status: str, token: str) -> Doc:
        async def compute(case: Doc) -> Change | None:
            rules.require_not_closed(case)
            if case["status"] == status:
                return None
            change = Change({"status": status})
            after = {**case, "status": status}
            change.outgoing.append(events.status_changed(after, case["status"], status))
            if status == "CLOSED":
                change.changes["closed_at"] = after["closed_at"] = self.clock.now()
                change.outgoing.append(events.closed(after))
            change.outgoing += await self._status_notice(caller, after, case["status"], status, token)
            return change

        return await self._apply(caller, case_id, compute)

    async def _status_notice(self, caller: Caller, case: Doc, old: str, new: str, token: str) -> list[EmailMessage]:
        """Mailed to the requester when their `caseUpdates` preference is on; never for their own
        move, never when the preference cannot be read (identity down, or not readable by the
        one who made the move: a MANAGER is not shown a colleague's preferences)."""
        requester_id = case.get("requester_id") or ""
        if not requester_id or requester_id == caller.user_id or not await self.store.user_active(requester_id):
            return []
        try:
            person = (await self.directory.people([requester_id], token)).get(requester_id)
        except Unavailable:
            log.warning("case-update preference unreadable: no status mail", extra={"case": case["_id"]})
            return []
        if person is None or person.case_updates is not True or not person.active:
            return []
        return [self.mails.status_notice(case, old, new)]

    async def assign(self, caller: Caller, case_id: str, team: str, assignee_id: str, token: str = "") -> Doc:
        """Staff: route to a team and/or an agent. A team without an agent goes to the team's queue;
        CLIENT_SUCCESS without an agent goes to the account's Client Success Manager."""
        rules.require_staff(caller, "assign cases")
        team = rules.check_team(team) if team else ""
        if not team and not assignee_id:
            raise InvalidInput("give a team, an assignee, or both")
        agent = await self._staff_member(assignee_id, token) if assignee_id else None

        async def compute(case: Doc) -> Change | None:
            rules.require_not_closed(case)
            new_team = team or case["team"]
            person = agent
            if person is None and new_team == rules.ROUTED_TO_MANAGER and case.get("account_id"):
                manager_id = await self.store.client_success_manager(case["account_id"])
                person = await self._staff_member(manager_id, token) if manager_id else None
            values = {
                "team": new_team,
                "assignee_id": person.id if person else "",
                "assignee_email": person.email if person else "",
            }
            changed = sorted(
                {"team": "team", "assignee_id": "assignee"}[k] for k in ("team", "assignee_id") if case[k] != values[k]
            )
            if not changed:
                return None
            return Change(values, [events.updated({**case, **values}, changed)])

        return await self._apply(caller, case_id, compute)

    async def _staff_member(self, user_id: str, token: str) -> Person:
        person = (await self.directory.people([user_id], token)).get(user_id)
        if person is None or not person.is_staff or not person.active:
            raise InvalidInput("the assignee must be an active support staff user", reason="ASSIGNEE_NOT_STAFF")
        return person

    async def add_comment(
        self,
        caller: Caller,
        case_id: str,
        body: str,
        internal: bool = False,
        uploads: list[Upload] | None = None,
        channel: str = "WEB",
        token: str = "",
    ) -> tuple[Doc, Doc]:
        """A comment (staff: or an internal note). Returns (comment, case after)."""
        if internal and not caller.is_staff:
            raise Forbidden("only support staff add internal notes")
        text = rules.comment_body(body)
        files = rules.check_attachments([(u.filename, u.content_type, u.content) for u in uploads or []])
        channel = channel if channel in rules.CHANNELS else "WEB"
        comment_id = new_id("cmt")
        # the author's address for authorEmail, and their name for the answer mail
        me = (await self.directory.people([caller.user_id], token)).get(caller.user_id)
        stored = [self._attachment(case_id, comment_id, internal, n, k, c) for n, k, c in files]
        written: Doc = {}

        async def compute(case: Doc) -> Change | None:
            rules.require_not_closed(case)
            if case.get("comment_count", 0) >= rules.MAX_COMMENTS_PER_CASE:
                raise FailedPrecondition("this case has too many comments; open a new case", reason="CASE_FULL")
            comment = {
                "_id": comment_id,
                "author_id": caller.user_id,
                "author_email": me.email if me else "",
                "body": text,
                "internal": internal,
                "channel": channel,
                "attachments": [_meta(a) for a in stored],
                "created_at": self.clock.now(),
            }
            by_customer = not caller.is_staff
            status = rules.status_after_comment(case, by_customer, internal)
            after = {**case, "status": status}
            change = Change({}, [events.comment_added(after, comment)], comment, stored)
            if status != case["status"]:
                change.changes["status"] = status
                change.outgoing.append(events.status_changed(after, case["status"], status))
                change.outgoing += await self._status_notice(caller, after, case["status"], status, token)
            if caller.is_staff and not internal and await self._requester_reachable(case):
                change.outgoing.append(self.mails.answer(after, comment, me.name if me else ""))
            if by_customer:
                change.outgoing.append(self.mails.customer_comment_alert(after, comment))
            written.clear()
            written.update(comment)
            return change

        await self._readable(caller, case_id)  # nothing is stored for a case the caller cannot see
        await self.store.insert_attachments(stored)
        case = await self._apply(caller, case_id, compute)
        return written, case

    async def _requester_reachable(self, case: Doc) -> bool:
        requester_id = case.get("requester_id") or ""
        return bool(case.get("requester_email")) and (not requester_id or await self.store.user_active(requester_id))

    # --- email-to-case (design.md 5.5, 5.6) ---------------------------------------------------
    async def receive_mail(self, raw: bytes, envelope_sender: str = "?") -> MailOutcome:
        """One inbound mail: a comment on the case its valid ref tag names (when the sender may see
        that case and it is not closed), else a new case (EMAIL; a closed case or one named in the
        body as its related case). Auto-submitted mail and bounces open nothing and get no reply
        (RFC 3834); the same Message-ID twice is taken in once."""
        mail = mailin.parse(raw, envelope_sender)
        if mail.automatic:
            log.info("inbound mail ignored", extra={"why": mail.automatic})
            return MailOutcome("ignored", reason=mail.automatic)
        if not mail.sender or "@" not in mail.sender:
            return MailOutcome("ignored", reason="no sender address")
        if not await self.store.claim_inbound(mail.message_id[:500], self.clock.now()):
            return MailOutcome("duplicate")
        try:
            return await self._take_in(mail)
        except BaseException:
            await self.store.release_inbound(mail.message_id[:500])
            raise

    async def _take_in(self, mail: mailin.InboundMail) -> MailOutcome:
        sender = await self._mail_sender(mail.sender)
        files, refused = _mail_files(mail.files)
        closed: Doc | None = None
        for number, mac in mail.ref_tags():
            case = await self.store.find_by_number(number)
            tag = f"ref:{number}:{mac}"
            if case is None or not rules.ref_tag_valid(self.secret, tag, case["_id"], number):
                log.warning("inbound mail: invalid ref tag ignored", extra={"number": number})
                continue
            if not rules.may_mail_into(sender, mail.sender, case):
                log.warning("inbound mail: ref tag of a case the sender may not see", extra={"number": number})
                continue
            if case["status"] == "CLOSED":
                closed = closed or case
                continue
            comment = await self._mail_comment(case["_id"], sender, mail, files, refused)
            return MailOutcome("comment", case["number"], comment["_id"])
        related = closed
        if related is None:
            for number in mail.case_numbers():
                candidate = await self.store.find_by_number(number)
                if candidate is not None and rules.may_mail_into(sender, mail.sender, candidate):
                    related = candidate
                    break
        case = await self._mail_case(sender, mail, files, refused, related, related is closed and closed is not None)
        return MailOutcome("case", case["number"])

    async def _mail_sender(self, address: str) -> Caller | None:
        """The sender as a customer user (an active portal user with an account), else None."""
        user = await self.store.active_user_by_email(address)
        if user is None or not user.get("account_id") or user.get("role") in {"AGENT", "SUPPORT_ADMIN"}:
            return None
        return Caller(user["_id"], str(user.get("role") or "USER"), user["account_id"], "email")

    async def _mail_case(
        self,
        sender: Caller | None,
        mail: mailin.InboundMail,
        files: list[tuple[str, str, bytes]],
        refused: list[str],
        related: Doc | None,
        related_closed: bool,
    ) -> Doc:
        return await self._open_case(
            account_id=sender.account_id if sender else "",
            requester_id=sender.user_id if sender else "",
            requester_email=mail.sender,
            requester_name=mail.sender_name,
            fields=rules.mail_case_fields(mail.subject, rules.mail_text(mail.text, refused)),
            channel="EMAIL",
            related=related,
            files=files,
            autoreply=lambda case: self.mails.autoreply(
                case,
                related["number"] if related else "",
                related_closed=related_closed,
                unknown_sender=sender is None,
            ),
        )

    async def _mail_comment(
        self,
        case_id: str,
        sender: Caller | None,
        mail: mailin.InboundMail,
        files: list[tuple[str, str, bytes]],
        refused: list[str],
    ) -> Doc:
        comment_id = new_id("cmt")
        stored = [self._attachment(case_id, comment_id, False, n, k, c) for n, k, c in files]
        body = rules.mail_comment_body(rules.mail_text(mail.text, refused), mail.subject)
        written: Doc = {}

        async def compute(case: Doc) -> Change | None:
            if case["status"] == "CLOSED":  # closed meanwhile: the mail is taken in as a new case
                raise FailedPrecondition("closed", reason="CASE_CLOSED")
            if case.get("comment_count", 0) >= rules.MAX_COMMENTS_PER_CASE:
                raise FailedPrecondition("this case has too many comments", reason="CASE_FULL")
            comment = {
                "_id": comment_id,
                "author_id": sender.user_id if sender else "",
                "author_email": mail.sender,
                "body": body,
                "internal": False,
                "channel": "EMAIL",
                "attachments": [_meta(a) for a in stored],
                "created_at": self.clock.now(),
            }
            status = rules.status_after_comment(case, True, False)
            after = {**case, "status": status}
            change = Change({}, [events.comment_added(after, comment)], comment, stored)
            if status != case["status"]:
                change.changes["status"] = status
                change.outgoing.append(events.status_changed(after, case["status"], status))
            change.outgoing.append(self.mails.customer_comment_alert(after, comment))
            written.clear()
            written.update(comment)
            return change

        await self.store.insert_attachments(stored)
        await self._apply(None, case_id, compute)
        return written

    async def link_case(self, caller: Caller, case_id: str, account_id: str, requester_id: str, token: str = "") -> Doc:
        """Staff: attach a case mailed in by an unknown sender to an account; its requester becomes
        the given user of that account, else the account's active user with the sender's address."""
        rules.require_staff(caller, "link cases to accounts")
        if not account_id or await self.store.account_known(account_id) is False:
            raise NotFound("no such account")
        requester: Person | None = None
        if requester_id:
            requester = (await self.directory.people([requester_id], token)).get(requester_id)
            if requester is None or requester.account_id != account_id or requester.is_staff or not requester.active:
                raise InvalidInput("the requester must be a user of that account", reason="REQUESTER_NOT_IN_ACCOUNT")
        for _ in range(SAVE_ATTEMPTS):
            case = await self._readable(caller, case_id)
            if case.get("account_id"):
                raise FailedPrecondition(
                    f"case {case['number']} already belongs to an account", reason="CASE_ALREADY_LINKED"
                )
            changes: Doc = {"account_id": account_id, "updated_at": self.clock.now()}
            if requester is not None:
                changes |= {"requester_id": requester.id, "requester_email": requester.email}
            else:
                user = await self.store.active_user_by_email(case["requester_email"])
                if user is not None and user.get("account_id") == account_id:
                    changes["requester_id"] = user["_id"]
            after = {**case, **changes}
            changed = ["account"] + (["requester"] if changes.get("requester_id") else [])
            saved = await self.store.link_case(case_id, case["version"], changes, [events.updated(after, changed)])
            if saved is not None:
                return saved
        raise Conflict("the case is changing right now; try again")

    # --- knowledge base (design.md 3: knowledge articles and their ratings) -------------------
    async def publish_article(self, caller: Caller, values: Doc) -> Doc:
        """SUPPORT_ADMIN: a new article, or a new version of the one with that slug; searchable at once."""
        if not is_support_admin(caller):
            raise Forbidden("only a support administrator publishes articles")
        article = new_article(rules.article_fields(values), self.clock.now())
        saved = await self.store.publish_article(article)
        self._index([saved])
        return {k: v for k, v in saved.items() if k != "votes"}

    async def load_articles(self, articles: list[Doc]) -> None:
        """Bulk load (demo data, the bench): stored, then indexed in one commit."""
        await self.store.insert_articles(articles)
        self._index(articles)

    def _index(self, articles: list[Doc]) -> None:
        self.index.put(articles)  # re-indexes only those whose text changed; keeps every one's counts
        for article in articles:
            changed = article.get("changed_at") or article["updated_at"]
            if self._index_since is None or changed > self._index_since:
                self._index_since = changed

    async def refresh_index(self) -> int:
        """Index what was published since the last look (at start: everything). Each replica does
        this on its own, so one replica's publish reaches the others' indexes within a poll."""
        added = 0
        since = self._index_since - INDEX_OVERLAP if self._index_since is not None else None
        while True:
            batch = await self.store.articles_changed_since(since, INDEX_BATCH)
            self._index(batch)
            added += len(batch)
            if len(batch) < INDEX_BATCH:
                return added
            since = batch[-1].get("changed_at") or batch[-1]["updated_at"]

    async def get_articles(self, caller: Caller, ids: list[str]) -> list[Doc]:
        return await batch_get(ids, self.store.get_articles, lambda doc: True)

    async def article(self, caller: Caller, article_id: str, slug: str) -> Doc:
        if bool(article_id) == bool(slug):
            raise InvalidInput("give exactly one of id and slug")
        if article_id:
            found = await self.store.get_articles([article_id])
            article = found[0] if found else None
        else:
            article = await self.store.find_article_by_slug(slug.strip().lower())
        if article is None:
            raise NotFound("no such article")
        return article

    async def search_articles(self, caller: Caller, text: str, product: str, first: int) -> list[tuple[Doc, Hit]]:
        """Best match first; nothing found is an empty list. Served from the index's own copy of
        the articles (no database read per keystroke): this replica's publishes and votes are in it
        at once, other replicas' within a refresh."""
        hits = self.index.search(text[:500], product, rules.search_size(first))
        return [(article, hit) for hit in hits if (article := self.index.article(hit.article_id)) is not None]

    async def rate_article(self, caller: Caller, article_id: str, helpful: bool) -> Doc:
        """One vote per user per article; voting again changes it (counted once)."""
        for _ in range(SAVE_ATTEMPTS):
            article = await self.store.get_article(article_id)
            if article is None:
                raise NotFound("no such article")
            previous = article.get("votes", {}).get(caller.user_id)
            if previous is helpful:
                return {k: v for k, v in article.items() if k != "votes"}
            counts = rules.vote_counts(previous, helpful)
            saved = await self.store.set_vote(
                article_id, article["version"], caller.user_id, helpful, counts, self.clock.now()
            )
            if saved is not None:
                self._index([saved])  # the counts the search shows
                return {k: v for k, v in saved.items() if k != "votes"}
        raise Conflict("the article is being rated by many right now; try again")

    # --- reactions to events (the table is in consumers.py) -----------------------------------
    async def on_account_updated(self, event: Received[AccountUpdated]) -> None:
        data = event.data
        await self.store.remember_account(
            data.account_id, data.number, data.name, data.client_success_manager_id or "", event.time, event.id
        )

    async def on_user_activated(self, event: Received[UserActivated]) -> None:
        """user.activated: the user is active again, and who they are (a mail's sender is known by
        this copy: there is no token to read identity with for a mail)."""
        data = event.data
        await self.store.remember_user(data.user_id, data.email, data.account_id or "", data.role, event.time, event.id)

    async def on_role_changed(self, event: Received[UserRoleChanged]) -> None:
        await self.store.remember_role(event.data.user_id, event.data.new_role, event.time, event.id)

    async def on_user_state(self, event: Received[UserDeactivated | UserActivated]) -> None:
        """user.deactivated: the requester can no longer log in, so no more case mail goes to them
        (their account's MANAGER and ADMIN still see their cases); user.activated undoes it."""
        active = event.data.routing_key == UserActivated.routing_key
        await self.store.remember_user_state(event.data.user_id, active, event.time, event.id)


def _mail_files(files: list[mailin.MailFile]) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """The attachments a mail may bring, each checked like an upload; those refused are named (the
    mail is still taken in: a refused file is no reason to lose the request)."""
    accepted: list[tuple[str, str, bytes]] = []
    refused: list[str] = []
    for file in files:
        try:
            (checked,) = rules.check_attachments([(file.filename, file.content_type, file.content)])
            rules.check_attachments([*accepted, checked])
        except InvalidInput as error:
            refused.append(error.message)
            continue
        accepted.append(checked)
    return accepted, refused


def _meta(attachment: Doc) -> Doc:
    return {k: v for k, v in attachment.items() if k != "content"}


def _comment_cursor(comment_id: str) -> str:
    return base64.urlsafe_b64encode(comment_id.encode()).decode().rstrip("=")


def _decode_comment_cursor(token: str) -> str:
    try:
        value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("invalid page token; start again from the first page", reason="INVALID_CURSOR") from exc
    if not value.startswith("cmt_"):
        raise InvalidInput("invalid page token; start again from the first page", reason="INVALID_CURSOR")
    return value


def new_article(fields: Doc, now: datetime) -> Doc:
    """A published article (checked fields from rules.article_fields), with no votes yet."""
    return {
        "_id": new_id("art"),
        **fields,
        "helpful_count": 0,
        "not_helpful_count": 0,
        "votes": {},
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "changed_at": now,
    }
