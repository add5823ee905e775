"""The policy in force for one `.loki/`: loaded from disk, reloaded on change, last good kept.

This is the I/O edge of the engine. Evaluation reads one immutable snapshot (swapped whole
under a lock), so a reload never shows a half-loaded policy. Fail closed: when a policy file
exists but no valid policy was ever loaded from it, every check is denied and says why; an
invalid edit of a file that did load keeps the last good policy in force and reports the error:
to every listener (the gate records it as a ``policy.load_failed`` event) and in `lokilog doctor`.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from eventlog.errors import SettingsFileError
from eventlog.settings_files import check_unique

from .engine import evaluate, unavailable
from .loader import POLICY_FILES, PolicyLoadError, load_policy_file
from .model import PolicySet, Verdict

_EMPTY = PolicySet(points={}, source="<none>")


@dataclass(frozen=True)
class PolicyState:
    """What is in force: the policy (None if none loaded), why the last load failed, and whether a file exists."""

    policy: PolicySet | None
    error: str | None
    configured: bool
    generation: int


class PolicyStore:
    """Holds the policy of a `.loki/` directory; ``reload`` re-reads it only if its files changed."""

    def __init__(self, loki_dir: str | os.PathLike[str]) -> None:
        self.loki_dir = Path(loki_dir)
        self._mutex = threading.Lock()
        self._changed = threading.Condition(self._mutex)
        self._signature: tuple | None = None
        self._state = PolicyState(None, None, False, 0)
        self._listeners: list[Callable[[PolicyState], None]] = []
        self.reload()

    @property
    def state(self) -> PolicyState:
        return self._state

    def evaluate(self, point: str, context: Mapping[str, Any]) -> Verdict:
        """Decide with the policy in force (pure: no I/O happens here)."""
        state = self._state
        if state.policy is not None:
            return evaluate(state.policy, point, context)
        if state.configured:
            return unavailable(point, state.error or "the policy file could not be loaded")
        return evaluate(_EMPTY, point, context)

    def add_listener(self, listener: Callable[[PolicyState], None]) -> None:
        """Call ``listener`` with the new state whenever a reload fails with a new error."""
        self._listeners.append(listener)

    def reload(self) -> bool:
        """Re-read the policy file if it changed; return whether the state changed."""
        with self._mutex:
            signature = self._file_signature()
            if signature == self._signature:
                return False
            self._signature = signature
            previous = self._state
            self._state = self._next_state(signature)
            self._changed.notify_all()
            state = self._state
        if state.error and state.error != previous.error:
            self._tell(state)
        return True

    def fail(self, error: str) -> None:
        """Record a reload that failed outside the loader (the last good policy stays in force)."""
        with self._mutex:
            last = self._state
            self._state = PolicyState(last.policy, error, True, last.generation + 1)
            self._changed.notify_all()
            state = self._state
        self._tell(state)

    def _tell(self, state: PolicyState) -> None:
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:  # noqa: BLE001 - recording the error must not break the policy in force
                pass

    def wait_for(self, predicate: Callable[[PolicyState], bool], timeout: float) -> bool:
        """Wait (bounded) until the state satisfies ``predicate``; return whether it did."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._state), timeout)

    def _file_signature(self) -> tuple:
        out = []
        for name in POLICY_FILES:
            try:
                st = os.stat(self.loki_dir / name)
            except FileNotFoundError:
                out.append(None)
            except OSError as exc:  # unreadable: a distinct signature, so the error is reported
                out.append(("error", exc.errno))
            else:
                out.append((st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns))
        return tuple(out)

    def _next_state(self, signature: tuple) -> PolicyState:
        last = self._state
        present = [self.loki_dir / n for n, s in zip(POLICY_FILES, signature) if s is not None]
        generation = last.generation + 1
        if not present:
            if last.policy is None:
                return PolicyState(None, None, False, generation)
            why = "the policy file was removed; the last good policy stays in force"
            return PolicyState(last.policy, why, True, generation)
        try:
            check_unique(present)
        except SettingsFileError as exc:
            return PolicyState(last.policy, str(exc), True, generation)
        try:
            return PolicyState(load_policy_file(present[0]), None, True, generation)
        except PolicyLoadError as exc:
            suffix = "; the last good policy stays in force" if last.policy is not None else ""
            return PolicyState(last.policy, f"{exc}{suffix}", True, generation)


class PolicyWatcher:
    """Reloads a PolicyStore when its files change: watchdog notifications, polling as a fallback.

    A notification only wakes the reload thread (watchdog's dispatcher must not do the work);
    the thread also wakes every ``interval`` seconds, so a missed or unsupported notification
    costs at most one interval. ``stop()`` ends both threads and joins them.
    """

    def __init__(self, store: PolicyStore, interval: float = 1.0, settle: float = 0.05) -> None:
        self.store = store
        self.interval = interval
        self.settle = settle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None

    def start(self) -> "PolicyWatcher":
        self._observer = self._start_observer()
        self._thread = threading.Thread(target=self._run, name="lokilog-policy-reload", daemon=True)
        self._thread.start()
        return self

    def _start_observer(self):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        wake = self._wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                wake.set()

        if not self.store.loki_dir.is_dir():
            return None  # nothing to watch yet: polling notices the directory and file later
        observer = Observer()
        try:
            observer.schedule(_Wake(), str(self.store.loki_dir), recursive=False)
            observer.start()
        except OSError:
            return None  # e.g. out of inotify watches: polling still works
        return observer

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            if self._stop.is_set():
                return
            # Editors write in several steps: let a burst settle, then reload once.
            self._stop.wait(self.settle)
            self._wake.clear()
            try:
                self.store.reload()
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any surprise
                self.store.fail(f"reloading the policy failed: {type(exc).__name__}: {exc}")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
            self._observer = None
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "PolicyWatcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
