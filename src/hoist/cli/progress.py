"""Progress bars for transfers (rich), shown only on a terminal."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hoist.cli.context import console
from hoist.manifest import Descriptor
from hoist.ops.copy import CopyObserver
from hoist.ops.plan import BlobAction, CopyPlan


class BarProgress(CopyObserver):
    """One bar for the whole copy and one per blob being streamed."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console(stderr=True),
            transient=True,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._total: TaskID | None = None

    def __enter__(self) -> CopyObserver:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def waiting(self, message: str) -> None:
        self._progress.console.print(f"hoist: {message}", highlight=False)

    def planned(self, plan: CopyPlan) -> None:
        total = plan.bytes_for(BlobAction.STREAM) + plan.bytes_for(BlobAction.MOUNT)
        if total:
            self._total = self._progress.add_task(f"{plan.mode} {plan.digest.short}", total=total)

    def blob_started(self, descriptor: Descriptor, action: BlobAction) -> None:
        if action is BlobAction.STREAM and descriptor.size > 1024 * 1024:
            with self._lock:
                self._tasks[str(descriptor.digest)] = self._progress.add_task(
                    f"  {descriptor.digest.short}", total=descriptor.size
                )

    def blob_progress(self, descriptor: Descriptor, count: int) -> None:
        task = self._tasks.get(str(descriptor.digest))
        if task is not None:
            self._progress.advance(task, count)
        if self._total is not None:
            self._progress.advance(self._total, count)

    def blob_done(self, descriptor: Descriptor, action: BlobAction) -> None:
        with self._lock:
            task = self._tasks.pop(str(descriptor.digest), None)
        if task is not None:
            self._progress.remove_task(task)
        if action is BlobAction.MOUNT and self._total is not None:
            self._progress.advance(self._total, descriptor.size)
