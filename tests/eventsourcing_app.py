"""An example `eventsourcing` application on lokilog, run as a real process by the tests.

    python tests/eventsourcing_app.py save TITLE           -> prints the new task's id
    python tests/eventsourcing_app.py read ID              -> prints the task as JSON
    python tests/eventsourcing_app.py race ID GO           -> renames ID's task once GO exists; prints ok or conflict
    python tests/eventsourcing_app.py follow [DELAY]       -> the Tally process application processes every
                                                               Tasks notification, then exits
The `.loki/` is the environment's LOKI_DIR; PERSISTENCE_MODULE is set here, as an application would.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from eventsourcing.system import ProcessApplication
from eventsourcing.dispatch import singledispatchmethod


class Task(Aggregate):
    @event("Created")
    def __init__(self, title: str) -> None:
        self.title = title
        self.status = "open"
        self.notes: list[str] = []

    @event("Renamed")
    def rename(self, title: str) -> None:
        self.title = title

    @event("Started")
    def start(self) -> None:
        self.status = "started"

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes.append(text)

    @event("Finished")
    def finish(self) -> None:
        self.status = "done"


class Tasks(Application[UUID]):
    def create(self, title: str) -> UUID:
        task = Task(title)
        self.save(task)
        return task.id

    def work(self, task_id: UUID, notes: list[str]) -> None:
        task = self.repository.get(task_id)
        task.start()
        for text in notes:
            task.note(text)
        task.finish()
        self.save(task)


class Seen(Aggregate):
    """One per processed upstream event: what Tally saw, so a second processing would show."""

    @event("Seen")
    def __init__(self, task_id: UUID, task_version: int, topic: str) -> None:
        self.task_id = task_id
        self.task_version = task_version
        self.topic = topic


class Tally(ProcessApplication[UUID]):
    delay = 0.0

    @singledispatchmethod
    def policy(self, domain_event, processing_event) -> None:
        if self.delay:
            time.sleep(self.delay)
        processing_event.collect_events(Seen(domain_event.originator_id, domain_event.originator_version,
                                             type(domain_event).__qualname__))


def main(argv: list[str]) -> int:
    os.environ.setdefault("PERSISTENCE_MODULE", "eventlog.integrations.eventsourcing")
    command = argv[0]
    if command == "save":
        tasks = Tasks()
        task_id = tasks.create(argv[1])
        tasks.work(task_id, ["plan", "build"])
        print(task_id)
    elif command == "read":
        task = Tasks().repository.get(UUID(argv[1]))
        print(json.dumps({"title": task.title, "status": task.status, "notes": task.notes, "version": task.version}))
    elif command == "race":
        tasks = Tasks()
        task = tasks.repository.get(UUID(argv[1]))
        task.rename(f"renamed by {os.getpid()}")
        go = Path(argv[2])
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            tasks.save(task)
        except IntegrityError:
            print("conflict")
        else:
            print("ok")
    elif command == "follow":
        Tally.delay = float(argv[1]) if len(argv) > 1 else 0.0
        tasks, tally = Tasks(), Tally()
        tally.follow(tasks.name, tasks.notification_log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tally.pull_and_process(tasks.name)
            if tally.recorder.max_tracking_id(tasks.name) == tasks.recorder.max_notification_id():
                print("caught up", flush=True)
                return 0
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
