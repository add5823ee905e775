"""Finding and removing secrets: the detectors (`secrets`) and the crash-report scrubber (`scrub`).

Both the policy engine (which refuses or redacts events that carry secrets) and crash reporting
(which scrubs a traceback before it is recorded) use this package; `regex_shape` checks that a
detector's pattern cannot backtrack catastrophically; `remotes` derives a project's hashed identity
from its git remote.
"""
