"""Questions about an environment's history, each answered in one place.

A :class:`History` is the records in hand (newest first, without gaps) plus older records kept pinned in
reach. Every rule that reads the ledger asks it: what the environment runs, the last healthy deploy, the
rollback stack, whether a digest was ever promoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hoist.digest import Digest
from hoist.manifest import Descriptor
from hoist.promotion.record import (
    STACK_DEPTH,
    DeployOutcome,
    Entry,
    Kind,
    MemberState,
    Provenance,
    Record,
    StackItem,
)


@dataclass(frozen=True)
class History:
    entries: tuple[Entry, ...]
    """The newest records, newest first, each the one before the previous (no gaps)."""
    pinned: tuple[Entry, ...] = ()
    """Older records kept in reach (the current digest's record, the last deploys)."""

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> History:
        return cls(tuple(entries))

    # -- the head ------------------------------------------------------------------------------------

    @property
    def head(self) -> Entry | None:
        return self.entries[0] if self.entries else None

    @property
    def next_seq(self) -> int:
        return self.entries[0].record.seq + 1 if self.entries else 1

    @property
    def current(self) -> Digest | None:
        """The environment's digest as the ledger says (promoted, rolled back to, or first deployed)."""
        return self.entries[0].record.current if self.entries else None

    @property
    def current_seq(self) -> int | None:
        return self.entries[0].record.current_seq if self.entries else None

    @property
    def known(self) -> tuple[Entry, ...]:
        """Every record in hand that may be used for a decision, newest first, without repeats (with a
        ``trust`` set, untrusted records are left out)."""
        seen = {e.manifest for e in self.entries}
        found = self.entries + tuple(e for e in self.pinned if e.manifest not in seen)
        return tuple(e for e in found if self.problem(e) is None)

    def problem(self, entry: Entry) -> str | None:
        """Why ``entry`` may not be used for a decision (None: it may; a ledger :class:`View` read with a
        ``trust`` policy says otherwise for records no trusted writer signed)."""
        return None

    @property
    def head_problem(self) -> str | None:
        return self.problem(self.entries[0]) if self.entries else None

    def untrusted(self) -> list[tuple[Entry, str]]:
        """The records in hand no trusted writer signed, and why."""
        found = []
        for entry in self.entries + self.pinned:
            problem = self.problem(entry)
            if problem is not None:
                found.append((entry, problem))
        return found

    def record_at(self, seq: int) -> Entry | None:
        return next((e for e in self.known if e.record.seq == seq), None)

    @property
    def current_entry(self) -> Entry | None:
        """The record that set the current digest."""
        return self.record_at(self.current_seq) if self.current_seq is not None else None

    @property
    def current_members(self) -> dict[str, MemberState] | None:
        """For an environment of several images: each member's current state (None before the first
        promotion, and for a single image)."""
        current = self.current_entry
        if current is None or current.record.members is None:
            return None
        return dict(current.record.members)

    @property
    def has_promotions(self) -> bool:
        """The environment's digest was set by a promotion or rollback (not only deployed from its tag)."""
        current = self.current_entry
        if current is not None:
            return current.record.kind.moves_tags
        return any(e.record.kind.moves_tags for e in self.entries)

    # -- deploys -------------------------------------------------------------------------------------

    def last_deploy(self) -> Entry | None:
        return next((e for e in self.known if e.record.kind is Kind.DEPLOY), None)

    def last_healthy_deploy(self, *, exclude: Digest | None = None) -> Entry | None:
        """The newest deploy that left a healthy service (optionally not of ``exclude``)."""
        return next((e for e in self.known if e.record.healthy_deploy and e.record.digest != exclude), None)

    def deploys_of(self, digest: Digest, member: str | None = None) -> list[Entry]:
        """Deploy records of ``digest`` (as ``member``'s digest, in an environment of several images)."""
        return [e for e in self.known if e.record.kind is Kind.DEPLOY and e.record.names(digest, member)]

    def newest(self, match: Callable[[Record], bool]) -> Entry | None:
        """The newest record in hand that ``match`` accepts (pinned records are older, but not in order)."""
        return max((e for e in self.known if match(e.record)), key=lambda e: e.record.seq, default=None)

    def last_deploy_of(self, member: str | None = None) -> Entry | None:
        """The newest deploy that put an image into service (of ``member``, in an environment of several
        images); a change only offered for review does not count."""

        def deployed(record: Record) -> bool:
            if record.kind is not Kind.DEPLOY or record.outcome is DeployOutcome.PROPOSED:
                return False
            return member is None or (record.members is not None and member in record.members)

        return self.newest(deployed)

    def last_rollback(self) -> Entry | None:
        return self.newest(lambda record: record.kind is Kind.ROLLBACK)

    def last_freeze(self) -> Entry | None:
        """The newest freeze or unfreeze record: the one that says whether a freeze is in force."""
        return self.newest(lambda record: record.kind in (Kind.FREEZE, Kind.UNFREEZE))

    # -- promotions and rollbacks --------------------------------------------------------------------

    def promoted(self, digest: Digest) -> Entry | None:
        """The newest promotion or rollback that set ``digest``."""
        return next((e for e in self.known if e.record.kind.moves_tags and e.record.digest == digest), None)

    def promoted_at(self, seq: int) -> Entry | None:
        entry = self.record_at(seq)
        return entry if entry is not None and entry.record.kind.moves_tags else None

    @property
    def stack(self) -> tuple[StackItem, ...]:
        """The digests the environment can roll back through, oldest first ("undo" semantics: after A, B,
        C and a rollback to B, the next rollback goes to A)."""
        head = self.head
        if head is not None and head.record.stack is not None:
            return head.record.stack
        stack: tuple[StackItem, ...] = ()
        for entry in reversed(self.entries):  # records that predate the stack field: replay what is here
            stack = next_stack(stack, entry.record)
        return stack

    @property
    def rollback_target(self) -> StackItem | None:
        stack = self.stack
        return stack[-2] if len(stack) >= 2 else None

    # -- what a new head keeps -----------------------------------------------------------------------

    def pins_for(self, record: Record, window: int) -> tuple[Entry, ...]:
        """The older records a head holding ``record`` must keep in reach beyond its ``window``."""
        in_window = {e.manifest for e in self.entries[:window]}
        wanted: list[Entry | None] = []
        if not record.kind.moves_tags:
            wanted.append(self.current_entry)
        if record.kind is not Kind.DEPLOY:
            wanted.append(self.last_deploy())
        if not record.healthy_deploy:
            wanted.append(self.last_healthy_deploy())
        wanted += self._timing_pins(record)
        pins: list[Entry] = []
        for entry in wanted:
            if entry is not None and entry.manifest not in in_window and entry not in pins:
                pins.append(entry)
        return tuple(pins)

    def _timing_pins(self, record: Record) -> list[Entry | None]:
        """What freezes and soak time read: the freeze in force, the last rollback, and the last deploy of
        each image (the soak clock of what serves starts in it)."""
        wanted: list[Entry | None] = []
        freeze = self.last_freeze()
        if record.kind not in (Kind.FREEZE, Kind.UNFREEZE) and freeze is not None and freeze.record.kind is Kind.FREEZE:
            wanted.append(freeze)
        if record.kind is not Kind.ROLLBACK:
            wanted.append(self.last_rollback())
        serving = record.kind is Kind.DEPLOY and record.outcome is not DeployOutcome.PROPOSED
        names = {name for e in self.known for name in e.record.members or {}} | set(record.members or {})
        members: list[str | None] = [*sorted(names)] or [None]
        for name in members:
            if not (serving and (name is None or name in (record.members or {}))):
                wanted.append(self.last_deploy_of(name))
        return wanted


def next_stack(stack: tuple[StackItem, ...], record: Record) -> tuple[StackItem, ...]:
    """The rollback stack after ``record``."""
    if not record.kind.moves_tags:
        return stack
    members = {name: state.digest for name, state in record.members.items()} if record.members is not None else None
    item = StackItem(digest=record.digest, seq=record.seq, history_tag=record.history_tag, members=members)
    if record.kind is Kind.ROLLBACK:
        states = [existing.state for existing in stack]
        if item.state in states:
            return stack[: states.index(item.state) + 1]
    return (*stack, item)[-STACK_DEPTH:]


def new_record(
    history: History,
    *,
    kind: Kind,
    environment: str,
    subject: Descriptor,
    provenance: Provenance,
    **fields: Any,
) -> Record:
    """The next record on top of ``history``: the one constructor every writer uses.

    Promotions and rollbacks set the environment's current digest; other kinds keep it (the first
    record of an environment that is only ever deployed sets it to what it deployed). The chain link,
    sequence number and rollback stack follow from ``history``; ``fields`` fill in the rest.
    """
    head = history.head
    seq = history.next_seq
    moves = kind.moves_tags
    current = subject.digest if moves or history.current is None else history.current
    current_seq = seq if moves or history.current_seq is None else history.current_seq
    fields.setdefault("previous_digest", history.current)
    record = Record(
        seq=seq,
        environment=environment,
        kind=kind,
        digest=subject.digest,
        media_type=subject.media_type,
        size=subject.size,
        current=current,
        current_seq=current_seq,
        previous_record=head.manifest if head is not None else None,
        actor=provenance.actor,
        time=provenance.time,
        git=provenance.git,
        ci=provenance.ci,
        **fields,
    )
    return record.evolve(stack=next_stack(history.stack, record))
