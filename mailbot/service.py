"""The use cases: poll, import, send, check, status, alert. Adapters come in through factories, so tests and the
demo swap servers and clocks without touching this code. The per-message pipeline (archive -> one transaction ->
move, exactly once) is ``intake``'s; this module connects, schedules nothing and keeps the roster fresh.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbot.config import CalendarSettings, Config, ImapSettings, SmtpSettings
from mailbot.pollreport import PollReport
from mailbot.values import Values
from mailbot.weeks import Week

# The rest is imported where it is used: a poll that finds no mail needs none of it, and the database layer,
# the workbook readers and the templates cost several times the IMAP login at start (issue 11).
if TYPE_CHECKING:
    from email.message import EmailMessage

    from sqlmodel import Session

    from mailbot import outbox
    from mailbot.compliance import ReportFact, WeeklyReport
    from mailbot.compose import Composer
    from mailbot.intake import Intake, MailboxLike
    from mailbot.ladder import Notification
    from mailbot.mailbox import Mailbox
    from mailbot.roster import Roster
    from mailbot.store import Ledger, Store
    from mailbot.summary import QuarantineItem

log = logging.getLogger(__name__)

HEARTBEAT = "last_successful_poll"  # when the last complete pass *ended*: `health`'s "is the daemon polling"
# When the last complete, successful pass over the mailbox *started*: every email that arrived before this moment
# has been read. Steps that say "missing" wait for it to be recent (ladder.held_because). A database from before
# this key has only HEARTBEAT, which is not a safe stand-in (a pass that ended after a deadline may have started
# before it); the daemon polls before its first check, so an upgrade holds nothing.
MAILBOX_READ = "mailbox_read_at"
MAILBOX_PROBLEM = "mailbox_problem"  # why the last pass failed ("" once one succeeds)
SMTP_PROBLEM = "smtp_refused"  # why the SMTP server refused mailbot's login or sender ("" once a send works)
HELD = "held_steps"  # JSON {at, count, reason}: what the last real check held back; "" when it held nothing
FIRST_WEEK = "first_week"  # stored by the first real `check`: DSPs are held to account from this week on
ROSTER_SEEN = "roster_seen"  # the roster file's stamp (_stamp) when it was last loaded and copied into the database
LADDER_KINDS = ("reminder", "overdue", "escalation", "action_alert", "dsp_warning", "summary")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _open_mailbox(settings: ImapSettings) -> Mailbox:
    from mailbot.mailbox import Mailbox  # noqa: PLC0415 - see the imports

    box = Mailbox(settings)
    box.open()
    return box


def _smtp_transport(settings: SmtpSettings) -> outbox.Transport:
    from mailbot.smtp import SmtpTransport  # noqa: PLC0415 - see the imports

    return SmtpTransport(settings)


@dataclass(frozen=True)
class HeldStep:
    """A step that says "missing" and waits for a fresh read of the mailbox."""

    kind: str
    week: Week
    recipient: str
    key: str
    reason: str


@dataclass
class CheckReport:
    queued: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    held: list[HeldStep] = field(default_factory=list)

    @property
    def hold_reason(self) -> str:
        return self.held[0].reason if self.held else ""


class Mailbot:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utc_now,
        mailbox_factory: Callable[[ImapSettings], MailboxLike] = _open_mailbox,
        transport_factory: Callable[[SmtpSettings], outbox.Transport] = _smtp_transport,
        one_shot: bool = False,
    ) -> None:
        """``one_shot``: this process runs one command and ends (the CLI), so it has no earlier roster to fall back
        on when a new save is broken, and a poll need not read an unchanged roster until mail needs it. The daemon
        reads it at its first poll and keeps the last good one (``roster``)."""
        self.config = config
        self.one_shot = one_shot
        self.clock = clock
        self.mailbox_factory = mailbox_factory
        self.transport_factory = transport_factory
        self.stop = threading.Event()
        # The kv facts without SQLAlchemy; the database is created or migrated here if this version has not yet.
        self.values = Values(config.database, prepare=lambda: self.store)
        self.values.ensure()
        self._roster: Roster | None = None
        self._roster_stamp = ""

    # The adapters and the pipeline, built when first used (see the imports).

    @cached_property
    def store(self) -> Store:
        from mailbot.store import Store  # noqa: PLC0415

        return Store(self.config.database)

    @cached_property
    def composer(self) -> Composer:
        from mailbot.compose import Composer  # noqa: PLC0415

        return Composer(self.config.templates_dir, self.config.smtp.from_address, self.config.smtp.from_name)

    @cached_property
    def intake(self) -> Intake:
        from mailbot.archive import Archive  # noqa: PLC0415
        from mailbot.intake import Intake  # noqa: PLC0415

        return Intake(self.config, self.store, Archive(self.config.archive_dir), self.composer, self.clock, self.stop)

    # --- roster --------------------------------------------------------------------------------------------

    def roster(self) -> Roster:
        """The roster, reloaded when CEG saves a new version of the file (RosterError if it is now broken)."""
        from mailbot.districts import by_code  # noqa: PLC0415 - see the imports
        from mailbot.roster import RosterError, load_roster  # noqa: PLC0415

        stamp = _stamp(self.config.roster)
        if self._roster is None or stamp != self._roster_stamp:
            try:
                roster = load_roster(self.config.roster)
            except RosterError as exc:
                if self._roster is None:
                    raise  # nothing to fall back on: stop loudly
                # A half-edited save must not stop the daemon: keep the last good roster and say so.
                log.error("roster %s not reloaded, still using the previous version: %s", self.config.roster, exc)
                self.alert_operator(
                    "roster",
                    f"The roster file could not be read; mailbot keeps using the "
                    f"previous version until it is fixed.\n\n{exc}",
                )
                self._roster_stamp = stamp
                return self._roster
            self._sync_roster(roster)
            self.values.set(ROSTER_SEEN, stamp)
            self._roster, self._roster_stamp = roster, stamp
            log.info(
                "roster loaded from %s: %d DSPs, %d assignments",
                self.config.roster,
                len(roster.dsps),
                len(roster.assignments),
            )
            for address, dsp in roster.degs_addresses_of_dsps():
                log.warning(
                    "roster %s: %s is a DEGS address and is also given for DSP %s: email from it never "
                    "counts as that DSP's report",
                    self.config.roster,
                    address,
                    dsp,
                )
            if without := roster.districts_without_degs():
                log.warning(
                    "roster %s: no DEGS address for %s: their escalations and alerts go to CEG only",
                    self.config.roster,
                    ", ".join(f"{by_code(c).name_en} ({c})" for c in without),
                )
        return self._roster

    def _roster_seen(self) -> bool:
        """Whether the roster file is the one the last successful load checked and copied into the database, so a
        pass that finds no mail need not read it (a changed or broken one is read, and stops the pass, as ever)."""
        return self.one_shot and self._roster is None and self.values.get(ROSTER_SEEN) == _stamp(self.config.roster)

    def _sync_roster(self, roster: Roster) -> None:
        from sqlmodel import select  # noqa: PLC0415 - see the imports

        from mailbot.districts import all_districts  # noqa: PLC0415
        from mailbot.store import District, Dsp  # noqa: PLC0415

        with self.store.session() as session:
            if session.exec(select(District)).first() is None:
                for d in all_districts():
                    session.add(
                        District(lgd_code=d.lgd_code, name_en=d.name_en, name_hi=d.name_hi, division=d.division)
                    )
            # One row per DSP, for the ids reports refer to; addresses and districts are read from the roster.
            known = set(session.exec(select(Dsp.name)))
            session.add_all(Dsp(name=dsp.name) for dsp in roster.dsps if dsp.name not in known)

    # --- poll ----------------------------------------------------------------------------------------------

    def poll(self, progress: Callable[[int, int], None] | None = None) -> PollReport:
        """One pass over the mailbox. Raises MailboxAuthError (after alerting the operator) or MailboxUnavailable."""
        from mailbot.mailbox import MailboxAuthError  # noqa: PLC0415 - see the imports

        settings = self.config.imap
        if not self._roster_seen():
            self.roster()  # a broken roster stops the pass before the mailbox is touched
        report = PollReport()
        started = self.clock()  # mail that arrived before this moment is read by this pass, if it completes
        try:
            box = self.mailbox_factory(settings)
            try:
                box.ensure_folders(settings.processed_folder, settings.rejected_folder)
                uidvalidity = box.select(settings.folder)
                # An empty folder: nothing to file or read, so the pipeline is not even loaded.
                if box.uids():
                    self.intake.pass_over(box, uidvalidity, self.roster(), report, progress)
            finally:
                box.close()
        except MailboxAuthError as exc:
            log.error("%s", exc)  # names the account and the server
            self.values.set(MAILBOX_PROBLEM, f"the IMAP server refused the login: {exc}")
            self.alert_operator("imap-auth", f"The IMAP server refused mailbot's login: {exc}")
            raise
        except Exception as exc:
            self.values.set(MAILBOX_PROBLEM, f"the mailbox could not be read: {exc}")
            raise
        done = {HEARTBEAT: self.clock().isoformat()}
        if not self.stop.is_set():  # a pass stopped half-way has not read what it left
            done.update({MAILBOX_READ: started.isoformat(), MAILBOX_PROBLEM: ""})
        self.values.set_many(done)
        log.info("poll done: %s", report)
        return report

    def import_file(self, path: Path) -> Ledger:
        """The poll pipeline on one .eml (or archived .eml.gz) file; see ``Intake.import_file``."""
        return self.intake.import_file(path, self.roster())

    # --- send ----------------------------------------------------------------------------------------------

    def pending_mail(self, folder: Path) -> int:
        """``send --dry-run``: write every pending outbox message into ``folder``; nothing is marked sent."""
        from sqlmodel import select  # noqa: PLC0415 - see the imports

        from mailbot.store import Outbox  # noqa: PLC0415

        with self.store.session() as session:
            rows = session.exec(select(Outbox).where(Outbox.status == "pending")).all()
        for row in rows:
            write_eml(folder, row.key, row.raw)
        return len(rows)

    def send(self, *, retry_waiting: bool = False) -> outbox.SendReport:
        """Deliver every due outbox row (``retry_waiting``: also those backing off after a failed attempt).
        Raises SmtpError when the server is unreachable or refuses the login."""
        from mailbot import outbox  # noqa: PLC0415 - see the imports
        from mailbot.smtp import SmtpAuthError  # noqa: PLC0415

        transport = self.transport_factory(self.config.smtp)
        try:
            report = outbox.deliver(
                self.store,
                transport,
                self.clock(),
                self.config.smtp.max_attempts,
                should_stop=self.stop.is_set,
                retry_waiting=retry_waiting,
            )
        except SmtpAuthError as exc:
            # Every email waits until the operator acts (a password, a sending quota): say so, and keep it for
            # `health`. The alert itself waits in the outbox too; `health` is what a monitor sees at once.
            self.values.set(SMTP_PROBLEM, str(exc))
            self.alert_operator(
                "smtp-refused",
                f"The SMTP server refuses mailbot's mail: {exc}. Every email "
                "waits in the outbox (nothing is given up) until this is fixed.",
            )
            raise
        finally:
            transport.close()
        if report.attempted and self.values.get(SMTP_PROBLEM):
            self.values.set(SMTP_PROBLEM, "")
        if report.next_attempt_at is not None:  # said in the operator's time zone, like everything else
            report.next_attempt_at = report.next_attempt_at.astimezone(self.config.calendar.timezone)
        return report

    def sending_refused(self) -> str | None:
        """Why the SMTP server refused the last send pass (login or sender), if it did and none has worked since."""
        return self.values.get(SMTP_PROBLEM) or None

    # --- check ---------------------------------------------------------------------------------------------

    def facts(self) -> list[ReportFact]:
        """Stored reports as the compliance core sees them (see ``queries.report_facts``)."""
        from mailbot.queries import report_facts  # noqa: PLC0415 - see the imports

        roster = self.roster()
        with self.store.session() as session:
            return report_facts(session, roster, self.config.calendar.timezone)

    def calendar(self, now: datetime | None = None) -> CalendarSettings:
        """The calendar in force, with its ``first_week``: the config's, else the one stored by the first real
        ``check``, else what that check would store (``_default_first_week``)."""
        calendar = self.config.calendar
        if calendar.first_week:
            return calendar
        stored = self.values.get(FIRST_WEEK)
        return replace(calendar, first_week=Week.parse(stored) if stored else self._default_first_week(now))

    def _default_first_week(self, now: datetime | None) -> Week:
        """An install that chased DSPs before this setting existed keeps counting from the oldest week it
        chased. A new one starts with the oldest week whose deadline is still ahead: a DSP is held to a
        deadline that passed while mailbot ran, never to one from before it existed."""
        from sqlmodel import col, func, select  # noqa: PLC0415 - see the imports

        from mailbot.compliance import latest_closed_week  # noqa: PLC0415
        from mailbot.store import Outbox  # noqa: PLC0415

        with self.store.session() as session:
            chased = session.exec(
                select(func.min(Outbox.week)).where(col(Outbox.kind).in_(LADDER_KINDS), Outbox.week != "")
            ).one()
        if chased:
            return Week.parse(chased)
        # Counted from the clock, not from a --now in the future: mailbot runs from today, so `check --now
        # <next month> [--dry-run]` covers every week between (a later start would leave them all out).
        clock = self.clock()
        return latest_closed_week(self.config.calendar, min(now, clock) if now else clock) + 1

    def report(self, week: Week | None = None, now: datetime | None = None) -> WeeklyReport:
        """The compliance picture of ``week`` (default: the newest week past its deadline) as of ``now``."""
        from mailbot.compliance import evaluate  # noqa: PLC0415 - see the imports

        now = now or self.clock()
        return evaluate(self.roster(), self.facts(), self.calendar(now), now, week)

    def status(self, week: Week | None = None, now: datetime | None = None) -> dict[str, Any]:
        from mailbot.status import week_status  # noqa: PLC0415 - see the imports

        now = now or self.clock()
        report = self.report(week, now)
        with self.store.session() as session:
            return week_status(session, report, self.config.calendar.timezone, self.calendar(now).first_week)

    def summary_workbook(self, week: Week | None = None, now: datetime | None = None) -> tuple[Week, bytes]:
        from mailbot.queries import district_replies_in  # noqa: PLC0415 - see the imports
        from mailbot.summary import build_workbook  # noqa: PLC0415

        report = self.report(week, now)
        with self.store.session() as session:
            replies = district_replies_in(session, report.week, self.config.calendar.timezone)
        return report.week, build_workbook(
            report, self.quarantine_items(report.week), self.config.calendar.lag_threshold, replies
        )

    def check(self, now: datetime | None = None, dry_run: Path | None = None) -> CheckReport:
        """Queue every notification due up to ``now`` that was never queued before. With ``dry_run``, write
        each as an .eml file into that folder instead and queue nothing."""
        import email.policy  # noqa: PLC0415 - see the imports

        from mailbot import outbox  # noqa: PLC0415
        from mailbot.compliance import due_notifications  # noqa: PLC0415
        from mailbot.ladder import held_because, merge_moment  # noqa: PLC0415
        from mailbot.queries import queued_keys  # noqa: PLC0415

        now = now or self.clock()
        roster = self.roster()
        calendar = self.calendar(now)
        if dry_run is None:
            self._keep_first_week(calendar)
        due = due_notifications(roster, self.facts(), calendar, now, self.config.ceg_addresses)
        report = CheckReport()
        read_at, problem = self.mailbox_read_at(), self.values.get(MAILBOX_PROBLEM) or ""
        max_age = self.config.schedule.mailbox_max_age
        with self.store.session() as session:
            # One email per recipient per moment: what is due together to one address goes as one email.
            queued = queued_keys(session, [n.key for n in due])
            for n in merge_moment([n for n in due if n.key not in queued]):
                reason = held_because(n, read_at, now, max_age)
                if reason is not None:
                    if problem:
                        reason += f" ({problem})"
                    report.held.append(HeldStep(n.kind, n.week, n.recipient, n.key, reason))
                    log.info("held %s for week %s to %s (%s): %s", n.kind, n.week, n.recipient, n.key, reason)
                    continue
                message = self._compose(session, n, now)
                if dry_run is not None:
                    write_eml(dry_run, n.key, message.as_bytes(policy=email.policy.SMTP))
                else:
                    outbox.queue(
                        session,
                        key=n.key,
                        kind=n.kind,
                        message=message,
                        now=now,
                        week=str(n.week),
                        dsp=n.dsp or "",
                        lgd_code=n.lgd_codes[0] if len(n.lgd_codes) == 1 else None,
                        recipients=(n.recipient,),
                    )
                    for carried in n.carries:
                        outbox.mark_carried(session, carried, by=n.key)
                report.queued += 1
                report.kinds[n.kind] = report.kinds.get(n.kind, 0) + 1
                log.info(
                    "%s %s for week %s to %s (%s)",
                    "would queue" if dry_run else "queued",
                    n.kind,
                    n.week,
                    n.recipient,
                    n.key,
                )
        if report.held:  # one line at WARNING; each step above at INFO
            log.warning(
                "%s %d email(s) saying reports are missing: %s",
                "would hold" if dry_run else "held",
                len(report.held),
                report.hold_reason,
            )
        if dry_run is None:
            stale = read_at is None or now - read_at > max_age
            self._record_held(report, now, stale=stale)
        return report

    def _compose(self, session: Session, n: Notification, now: datetime) -> EmailMessage:
        """One notification as an email, with what its kind needs from the store."""
        from mailbot.ladder import SummaryContext  # noqa: PLC0415
        from mailbot.queries import (  # noqa: PLC0415 - see the imports
            district_replies_in,
            last_targets,
            rejection_reasons,
            replies_withheld,
            summary_window,
        )
        from mailbot.summary import build_workbook  # noqa: PLC0415

        message_id = self.composer.new_message_id()
        tz = self.config.calendar.timezone
        if isinstance(n.context, SummaryContext):
            items = self.quarantine_items(n.week)
            replies = district_replies_in(session, n.week, tz)
            return self.composer.notification(
                n,
                now=now,
                message_id=message_id,
                summary_xlsx=build_workbook(n.context.report, items, self.config.calendar.lag_threshold, replies),
                unanswered=items,
                rejections=rejection_reasons(session, n.week, tz),
                district_replies=replies,
                withheld=replies_withheld(session, *summary_window(n.week, tz)),
            )
        if n.kind == "reminder" and n.dsp is not None:  # its template carries the last targets
            return self.composer.notification(
                n, now=now, message_id=message_id, targets=last_targets(session, n.dsp, n.week)
            )
        if n.kind == "overdue" and n.dsp is not None:  # says why a refused report was refused
            return self.composer.notification(
                n,
                now=now,
                message_id=message_id,
                rejections=rejection_reasons(session, n.week, tz),
                targets=last_targets(session, n.dsp, n.week),
            )
        return self.composer.notification(n, now=now, message_id=message_id)

    def _record_held(self, report: CheckReport, now: datetime, *, stale: bool) -> None:
        """Keep what this check held for `health` and the daemon, and tell the operator (once a day) why nothing
        went. A hold with a recent read (a check just after a deadline, before the next poll) is routine: the
        next poll ends it, so it is neither alerted nor red."""
        if not report.held:
            if self.values.get(HELD):
                log.info("no step is held any more: the mailbox has been read since")
                self.values.set(HELD, "")
            return
        count = len(report.held)
        self.values.set(
            HELD, json.dumps({"at": now.isoformat(), "count": count, "reason": report.hold_reason, "stale": stale})
        )
        if not stale:
            return
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(Counter(h.kind for h in report.held).items()))
        self.alert_operator(
            "mailbox-stale",
            (
                f"mailbot is holding {count} email(s) that would tell DSPs, DEGS or CEG that reports are missing "
                f"({kinds}), because {report.hold_reason}. A report may be waiting unread in the mailbox. They go "
                "out, only for districts still missing, at the first check after a successful poll; nothing is lost."
            ),
        )

    def mailbox_read_at(self) -> datetime | None:
        """When the last complete, successful pass over the mailbox started (None: never, by this version)."""
        value = self.values.get(MAILBOX_READ)
        return datetime.fromisoformat(value) if value else None

    def holding(self) -> bool:
        """Whether the last real check held steps back (the daemon checks again after a good poll)."""
        return bool(self.values.get(HELD))

    def held_steps(self) -> tuple[datetime, int, str] | None:
        """What the last real check held back, unless the mailbox has been read completely since:
        (the check's time, how many emails, why)."""
        value = self.values.get(HELD)
        if not value:
            return None
        held = json.loads(value)
        at = datetime.fromisoformat(held["at"])
        read_at = self.mailbox_read_at()
        if not held.get("stale", True) or (read_at is not None and read_at > at):
            return None  # routine, or read since: the next check sends what is still due
        return at, int(held["count"]), str(held["reason"])

    def _keep_first_week(self, calendar: CalendarSettings) -> None:
        """Store the week of the first real check, so later checks keep counting from it."""
        if self.config.calendar.first_week or calendar.first_week is None or self.values.get(FIRST_WEEK):
            return
        self.values.set(FIRST_WEEK, str(calendar.first_week))
        log.info(
            "reporting through mailbot starts with week %s (calendar.first_week in the config overrides it)",
            calendar.first_week,
        )

    def quarantine_items(self, week: Week) -> list[QuarantineItem]:
        from mailbot.queries import quarantined_in  # noqa: PLC0415 - see the imports

        with self.store.session() as session:
            return quarantined_in(session, week, self.config.calendar.timezone)

    # --- operator ------------------------------------------------------------------------------------------

    def alert_operator(self, problem: str, detail: str) -> bool:
        """Mail the operator about ``problem`` at most once per calendar day (reporting time zone)."""
        from mailbot import outbox  # noqa: PLC0415 - see the imports

        now = self.clock()
        day = now.astimezone(self.config.calendar.timezone).date().isoformat()
        key = f"operator/{problem}/{day}"
        with self.store.session() as session:
            if outbox.is_queued(session, key):
                return False
            to, message_id = (self.config.operator_address,), self.composer.new_message_id()
            if problem == "imap-auth":
                message = self.composer.auth_failure(to, detail, now=now, message_id=message_id)
            else:
                message = self.composer.operator_alert(
                    to, _ALERT_TITLES.get(problem, problem), detail, now=now, message_id=message_id
                )
            outbox.queue(session, key=key, kind="operator_alert", message=message, now=now)
        log.error("operator alerted (%s): %s", problem, detail)
        return True

    def oldest_unsent(self) -> tuple[int, datetime | None]:
        """How many emails wait in the outbox, and since when the oldest has."""
        from sqlmodel import select  # noqa: PLC0415 - see the imports

        from mailbot.store import Outbox  # noqa: PLC0415

        with self.store.session() as session:
            rows = session.exec(select(Outbox.created_at).where(Outbox.status == "pending")).all()
        return len(rows), min((r for r in rows if r is not None), default=None)

    def last_successful_poll(self) -> datetime | None:
        value = self.values.get(HEARTBEAT)
        return datetime.fromisoformat(value) if value else None

    def close(self) -> None:
        if "store" in self.__dict__:  # built (cached_property) by something this run did
            self.store.close()


_ALERT_TITLES = {
    "roster": "the roster file cannot be read",
    "imap-unavailable": "the mailbox has been unreachable for a long time",
    "smtp-refused": "the SMTP server refuses mailbot's mail: every email waits",
    "mailbox-stale": "emails about missing reports are held: the mailbox has not been read",
}


def _stamp(path: Path) -> str:
    """Changes when the roster file (or a file in the roster folder) is saved or replaced; "" when unreadable."""
    try:
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        stats = [(f.name, f.stat()) for f in files]
    except OSError:
        return ""
    return " ".join(f"{name}:{s.st_ino}:{s.st_size}:{s.st_mtime_ns}" for name, s in stats)


def write_eml(folder: Path, key: str, raw: bytes) -> Path:
    """One message as a file named after its outbox key (for --dry-run)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9@._-]+", "_", key) + ".eml")
    path.write_bytes(raw)
    return path
