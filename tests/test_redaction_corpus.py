"""One corpus of real token formats, run through both redactors: the policy's and the crash scrubber's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.redaction import scrub, secrets

BODY = ["MIIEowIBAAKCAQEA7bqL0vXkYw3Qf1n9ZtV2c8hP4rJmUoA6sD5eF3gH2iK1lM0n",
        "Oq9pR8sT7uV6wX5yZ4aB3cD2eF1gH0iJ9kL8mN7oP6qR5sT4uV3wX2yZ1aB0cD9e",
        "F8gH7iJ6kL5mN4oP3qR2sT1uV0wX9yZ8aB7cD6eF5gH4iJ3kL2mN1oP0qR9sT8u"]


def _pem(header: str = "RSA PRIVATE KEY", newline: str = "\n", end: bool = True) -> str:
    lines = [f"-----BEGIN {header}-----", *BODY] + ([f"-----END {header}-----"] if end else [])
    return newline.join(lines)


#: (name, text, the parts that must not survive)
CORPUS = [
    ("pem", _pem(), BODY),
    ("pem_crlf", _pem(newline="\r\n"), BODY),
    ("pem_lowercase_headers", _pem().replace("BEGIN RSA PRIVATE KEY", "begin rsa private key")
     .replace("END RSA PRIVATE KEY", "end rsa private key"), BODY),
    ("pem_without_end", "key follows\n" + _pem(end=False) + "\n", BODY),
    ("pem_split_in_json", json.dumps({"key": _pem(header="PRIVATE KEY")}), BODY),
    ("pem_openssh", _pem(header="OPENSSH PRIVATE KEY"), BODY),
    ("stripe_live", "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc now", ["4eC39HqLyjWDarjtT1zdp7dc"]),
    ("npm", "//registry.npmjs.org/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", ["a1B2c3D4e5F6g7H8i9J0"]),
    ("npm_bare", "token npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 used", ["a1B2c3D4e5F6g7H8i9J0"]),
    ("gitlab", "export GL=glpat-xY9zW8vU7tS6rQ5pO4nM", ["xY9zW8vU7tS6rQ5pO4nM"]),
    ("aws_secret_bare", "creds AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end",
     ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
    ("aws_secret_assigned", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
    ("url_credentials_https", "clone https://deploy:s3cr3t-Pa55@git.example.com/repo.git", ["s3cr3t-Pa55"]),
    ("url_credentials_postgres", "DATABASE_URL=postgres://admin:hunter2pass@db.internal:5432/app", ["hunter2pass"]),
    ("password_json", '{"password": "correct horse battery staple"}', ["correct", "horse", "battery", "staple"]),
    ("password_escaped_json", json.dumps(json.dumps({"password": "correct horse battery staple"})),
     ["correct", "horse", "battery", "staple"]),
    ("password_yaml", "db:\n  password: 'correct horse battery staple'\n", ["horse", "battery", "staple"]),
    ("github_classic", "GH_TOKEN=ghp_" + "A1b2C3d4" * 4 + "e5F6", ["A1b2C3d4A1b2C3d4"]),
    ("github_fine_grained", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF0123456789abcdefghij",
     ["abcdefghijklmnopqrstuvwxyzABCDEF"]),
    ("slack", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", ["AbCdEfGhIjKlMnOpQrStUvWx"]),
    ("anthropic", "ANTHROPIC_API_KEY=sk-ant-api03-" + "Zx9" * 14, ["Zx9Zx9Zx9Zx9"]),
    ("openai", "key sk-proj-" + "Ab1" * 12, ["Ab1Ab1Ab1Ab1"]),
    ("jwt", "Cookie: s=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     ["dozjgNryP4J3jVmNHl0w5N"]),
    ("authorization_basic", "Authorization: Basic dXNlcjpwYXNzd29yZA==", ["dXNlcjpwYXNzd29yZA"]),
    ("bearer_crlf", "GET / HTTP/1.1\r\nAuthorization: Bearer abcDEF123456ghiJKL\r\n\r\n", ["abcDEF123456ghiJKL"]),
    ("huggingface", "HF_TOKEN=hf_AbCdEfGh12AbCdEfGh12AbCdEfGh12AbCd", ["AbCdEfGh12AbCdEfGh12"]),
    ("google_oauth", "ya29.a0AfH6SMBa0AfH6SMBa0AfH6SMBa0AfH6SMB", ["a0AfH6SMBa0AfH6SMB"]),
]

REDACTORS = {
    "policy": secrets.redact,
    "crash": lambda text: scrub.scrub_text(text)[0],
}


@pytest.mark.parametrize("redactor", sorted(REDACTORS))
@pytest.mark.parametrize("name,text,parts", CORPUS, ids=[c[0] for c in CORPUS])
def test_no_part_of_a_secret_survives_either_redactor(redactor, name, text, parts):
    out = REDACTORS[redactor](text)
    for part in parts:
        assert part not in out, f"{redactor} left {part!r} of {name}: {out!r}"
    assert "[REDACTED:" in out


@pytest.mark.parametrize("name,text,parts", CORPUS, ids=[c[0] for c in CORPUS])
def test_the_policy_finds_what_the_redactor_removes(name, text, parts):
    assert any(f.category == secrets.SECRET for f in secrets.scan(text)), name


def test_a_secret_named_key_loses_its_whole_value_in_a_tree():
    cleaned, count = secrets.redact_tree({"password": "correct horse battery staple", "n": {"apiKey": 12345}})
    assert cleaned == {"password": "[REDACTED:secret_assignment]", "n": {"apiKey": "[REDACTED:secret_assignment]"}}
    assert count == 2


def test_one_engine_serves_both():
    # The crash scrubber is the shared engine with the shared secret rules, plus privacy rules.
    assert scrub.CRASH_DETECTORS[:len(secrets.DEFAULT_DETECTORS)] == secrets.DEFAULT_DETECTORS
    assert all(d.category == secrets.PII or d.name == "token" for d in scrub.CRASH_EXTRA_DETECTORS)
    text = "password: hunter22 at /home/jane/x"
    assert scrub.find_spans(text, secrets.DEFAULT_DETECTORS) == secrets.redaction_spans(text)


def test_the_pattern_check_does_not_use_private_re_modules():
    source = "".join((Path(secrets.__file__).parent / name).read_text() for name in ("secrets.py", "regex_shape.py"))
    for private in ("re._parser", "re._constants", "sre_parse", "sre_constants"):
        assert private not in source
