"""The shared secret/PII detectors: golden vectors, generated secrets, ordinary text, ReDoS safety."""
from __future__ import annotations

import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.redaction.secrets import (
    DEFAULT_DETECTORS, PII, SECRET, UnsafePatternError, check_pattern, detector, luhn_valid, redact, redact_tree, scan,
)

GOLDEN = {
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\n-----END RSA PRIVATE KEY-----",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_key": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github_token": "ghp_" + "A1b2C3d4" * 4 + "e5F6",
    "anthropic_key": "sk-ant-api03-" + "x" * 40,
    "openai_key": "sk-proj-" + "Ab1" * 12,
    "slack_token": "xoxb-123456789012-abcdefABCDEF",
    "slack_webhook": "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "google_api_key": "AIzaSyD" + "a1B2c3D4e5" * 3 + "xy",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer_token": "Authorization: Bearer abcdefghijklmnop1234",
    "url_credentials": "postgres://admin:hunter2pass@db.internal:5432/app",
    "secret_assignment": "DB_PASSWORD=correct-horse-battery",
    "email": "write to jane.doe+lists@example.co.uk today",
    "ssn": "SSN 123-45-6789.",
    "card_number": "card 4111 1111 1111 1111 exp",
    "phone": "call (555) 234-5678 now",
    "google_oauth": "ya29." + "a0AfH6SMB" * 4,
    "huggingface_token": "hf_" + "AbCdEfGh12" * 4,
    "authorization": "Authorization: Basic dXNlcjpwYXNz",
    "stripe_key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "npm_token": "npm_" + "a1B2c3D4e5" * 4,
    "gitlab_token": "glpat-" + "xY9zW8vU7tS6rQ5pO4nM",
}


def test_every_builtin_detector_has_a_golden_vector():
    assert {d.name for d in DEFAULT_DETECTORS} == set(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_vector_is_found_and_redacted(name):
    text = GOLDEN[name]
    assert name in {f.detector for f in scan(text)}
    assert f"[REDACTED:{name}]" in redact(text)


def test_findings_carry_positions_not_the_secret():
    text = "key AKIAIOSFODNN7EXAMPLE end"
    (finding,) = scan(text)
    assert (finding.detector, finding.category, text[finding.start:finding.end]) == ("aws_access_key", SECRET,
                                                                                   "AKIAIOSFODNN7EXAMPLE")
    assert "AKIA" not in str(finding.to_dict())


def test_keeps_the_context_around_the_sensitive_part():
    assert redact("Authorization: Bearer abcdefghijklmnop1234") == "Authorization: Bearer [REDACTED:bearer_token]"
    assert redact("postgres://admin:hunter2pass@db/x") == "postgres://admin:[REDACTED:url_credentials]@db/x"
    assert redact("password: hunter22") == "password: [REDACTED:secret_assignment]"


def test_card_numbers_must_pass_luhn_and_ssns_must_be_plausible():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert scan("order 4111111111111112 shipped") == []
    assert scan("ids 9111111111111111 and 2019 2020 2021 2022") == []
    assert [f.detector for f in scan("amex 378282246310005")] == ["card_number"]
    assert scan("id 000-12-3456 and 666-12-3456 and 123-00-4567") == []


def test_near_misses_are_not_flagged():
    for text in ("risk-assessment-for-the-new-module-release", "task-sk-notakeyatall", "2024-01-15T10:30:00Z",
                 "version 1.2.3-rc.1", "seq 1234567890123", "the password is never logged", "see @property",
                 "token_type=bearer", "xAKIAIOSFODNN7EXAMPLE"):
        assert scan(text) == [], text


def test_redact_tree_walks_keys_and_values():
    tree = {"env": ["AKIAIOSFODNN7EXAMPLE", 3], "jane@example.com": {"ok": "fine"}}
    cleaned, count = redact_tree(tree)
    assert count == 2
    assert cleaned == {"env": ["[REDACTED:aws_access_key]", 3], "[REDACTED:email]": {"ok": "fine"}}


def test_the_set_is_easy_to_extend():
    ipv4 = detector("ipv4", PII, r"(?<![0-9.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9.])")
    assert redact("from 10.1.2.3 by AKIAIOSFODNN7EXAMPLE", DEFAULT_DETECTORS + (ipv4,)) == \
        "from [REDACTED:ipv4] by [REDACTED:aws_access_key]"


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa){1,20}b", r"\w+@", r"(?:ab){2,}", r"x*", r"(a{1,3}){1,3}"])
def test_patterns_that_can_backtrack_catastrophically_are_refused(pattern):
    with pytest.raises(UnsafePatternError):
        check_pattern(pattern)
    with pytest.raises(UnsafePatternError):
        detector("bad", SECRET, pattern)


ADVERSARIAL = [
    "a" * 60_000 + "!", "@" * 60_000, ("a" * 64 + "@" + "a1." * 80 + " ") * 200, "1-" * 30_000,
    "eyJ" * 20_000, "eyJaaaaa." * 6000, "AKIA" * 15_000, "-----BEGIN PRIVATE KEY-----" * 2000,
    "password=" * 6000, "://a:" * 12_000, "Bearer " * 8000, "(555) " * 10_000, "4111 " * 12_000, "+1 " * 20_000,
    "sk-" * 20_000, "aws_secret=" * 5000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:12]))
def test_adversarial_input_is_scanned_in_linear_time(text):
    # A generous bound: catastrophic backtracking on inputs this size takes minutes, not seconds.
    started = time.perf_counter()
    scan(text)
    assert time.perf_counter() - started < 3.0


# ----------------------------------------------------------------------------- properties

_alnum = string.ascii_letters + string.digits
_b64url = _alnum + "-_"


def _s(alphabet: str, low: int, high: int):
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def _card(digits: list[int], spaced: bool) -> str:
    body = "4" + "".join(map(str, digits))
    check = next(d for d in "0123456789" if luhn_valid(body + d))
    number = body + check
    return " ".join(number[i:i + 4] for i in range(0, 16, 4)) if spaced else number


SECRETS = {
    "aws_access_key": st.builds(lambda p, s: p + s, st.sampled_from(["AKIA", "ASIA"]), _s(string.ascii_uppercase + string.digits, 16, 16)),
    "github_token": st.builds(lambda p, s: p + s, st.sampled_from(["ghp_", "gho_", "ghs_"]), _s(_alnum, 36, 60)),
    "anthropic_key": st.builds(lambda s: "sk-ant-" + s, _s(_alnum, 20, 80)),
    "openai_key": st.builds(lambda p, s: p + s, st.sampled_from(["sk-", "sk-proj-"]), _s(_alnum, 20, 80)),
    "slack_token": st.builds(lambda c, s: f"xox{c}-{s}", st.sampled_from("bpas"), _s(_alnum + "-", 10, 50)),
    "google_api_key": st.builds(lambda s: "AIza" + s, _s(_b64url, 35, 35)),
    "jwt": st.builds(lambda a, b, c: f"eyJ{a}.eyJ{b}.{c}", _s(_b64url, 5, 60), _s(_b64url, 5, 60), _s(_b64url, 10, 60)),
    "private_key": st.builds(lambda k, b: f"-----BEGIN {k}PRIVATE KEY-----\n{b}\n-----END {k}PRIVATE KEY-----",
                             st.sampled_from(["", "RSA ", "EC ", "OPENSSH "]), _s(_alnum + "+/=\n", 1, 300)),
    "url_credentials": st.builds(lambda sc, u, p, h: f"{sc}://{u}:{p}@{h}", st.sampled_from(["https", "postgres", "redis"]),
                                 _s(_alnum, 1, 20), _s(_alnum + "!$%&*", 1, 30), _s(string.ascii_lowercase, 1, 20)),
    "secret_assignment": st.builds(lambda k, sep, v: f"{k}{sep}{v}",
                                   st.sampled_from(["password", "DB_PASSWORD", "api_key", "SECRET", "auth_token"]),
                                   st.sampled_from(["=", ": ", " = ", "="]), _s(_alnum + "!#$%&*+-./", 6, 40)),
    "email": st.builds(lambda u, d, t: f"{u}@{d}.{t}", _s(_alnum + "._+-", 1, 30).filter(lambda u: u[0] in _alnum),
                       _s(string.ascii_lowercase + string.digits, 1, 20), st.sampled_from(["com", "org", "io", "co.uk"])),
    "ssn": st.builds(lambda a, g, s: f"{a:03d}-{g:02d}-{s:04d}", st.integers(1, 665), st.integers(1, 99), st.integers(1, 9999)),
    "card_number": st.builds(_card, st.lists(st.integers(0, 9), min_size=14, max_size=14), st.booleans()),
    "phone": st.builds(lambda a, b, c, f: f.format(a, b, c), st.integers(200, 999), st.integers(200, 999),
                       st.integers(0, 9999).map(lambda n: f"{n:04d}"),
                       st.sampled_from(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "+1 {}-{}-{}"])),
}

WORDS = ("the agent wrote a new test for the parser and the build passed after two retries while the "
         "runner kept the queue moving so the report lists every task with its status and duration in "
         "seconds including module refactor review deploy checkpoint budget gate quality release notes "
         "main branch merge commit version risk assessment user interface design").split()
ordinary_word = st.one_of(
    st.sampled_from(WORDS),
    st.integers(0, 999).map(str),
    st.integers(1990, 2030).map(str),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 20), st.integers(0, 20), st.integers(0, 99)),
    st.builds(lambda y, m, d: f"{y}-{m:02d}-{d:02d}", st.integers(2000, 2030), st.integers(1, 12), st.integers(1, 28)),
    st.builds(lambda a, b: f"src/{a}/{b}.py", st.sampled_from(WORDS), st.sampled_from(WORDS)),
)
ordinary_text = st.lists(st.tuples(ordinary_word, st.sampled_from(["", "", "", ".", ","])), max_size=60).map(
    lambda items: " ".join(w + p for w, p in items))


@given(name=st.sampled_from(sorted(SECRETS)), data=st.data(), before=ordinary_text, after=ordinary_text)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_secrets_of_every_class_are_found(name, data, before, after):
    secret = data.draw(SECRETS[name], label=name)
    text = f"{before} {secret} {after}"
    start = len(before) + 1
    found = [f for f in scan(text) if f.start < start + len(secret) and f.end > start]
    assert found and found[0].detector == name, (name, secret, found)
    assert secret not in redact(text) or name in ("secret_assignment", "url_credentials", "bearer_token")


@given(ordinary_text)
@settings(max_examples=300, deadline=None)
def test_ordinary_text_is_not_flagged(text):
    assert scan(text) == []
    assert redact(text) == text


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_redaction_is_stable(text):
    once = redact(text)
    assert redact(once) == once


def test_case_folded_detectors_work_on_any_text():
    assert redact("PASSWORD: hunter22") == "PASSWORD: [REDACTED:secret_assignment]"
    # Non-ASCII text takes the IGNORECASE pattern (lower-casing could shift offsets there).
    assert redact("café İstanbul Bearer ABCDEFGHIJKLMNOP1234 ok") == "café İstanbul Bearer [REDACTED:bearer_token] ok"
    with pytest.raises(ValueError, match="lower case"):
        detector("loud", SECRET, r"TOKEN=[a-z]{1,9}", fold_case=True)


def test_a_fine_grained_github_token_is_found_without_gh_anywhere_in_it():
    from eventlog.redaction.secrets import scan

    text = "token github_pat_11ABCDEF0123456789xyzxyzxyzxyzxyz here"
    assert "gh" not in text
    assert [f.detector for f in scan(text)] == ["github_token"]
