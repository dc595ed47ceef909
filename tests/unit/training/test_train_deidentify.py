"""De-identification (training/prepare/deidentify.py): each kind of value planted in
code is replaced by its placeholder, what must stay (private addresses, versions,
C++ scopes, ordinary names) stays, and only counts come out."""

from __future__ import annotations

import pytest

from training.prepare.deidentify import Deidentifier

# Planted values, written by hand in the formats the detectors document (none is real).
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "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"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6\n"
    "-----END RSA PRIVATE KEY-----"
)

CASES = [
    (f'AWS = "{AWS_KEY}"\n', AWS_KEY, "<KEY>", "key"),
    (f'TOKEN = "{GITHUB_TOKEN}"\n', GITHUB_TOKEN, "<KEY>", "key"),
    (f'KEY = """{PRIVATE_KEY}"""\n', "MIIEpAIBAAKCAQEA", "<KEY>", "key"),
    ('db_password = "hunter2hunter2"\n', "hunter2hunter2", "<PASSWORD>", "password"),
    ('URL = "postgres://alice:s3cretpw@db.internal/x"\n', "s3cretpw", "<PASSWORD>", "password"),
    ("# mail ops-team@corp.example.com for access\n", "ops-team@corp.example.com", "<EMAIL>",
     "email"),
    ('value = "8.8.8.8"\n', "8.8.8.8", "", "ip_address"),
    ('V6 = "2606:4700:4700::1111"\n', "2606:4700:4700::1111", "fd00::1", "ip_address"),
    ("# Written by Grace Hopper in 2019\n", "Grace Hopper", "<NAME>", "name"),
    ("# contact: grace.h@home.example\n", "grace.h@home.example", "<EMAIL>", "email"),
]


@pytest.fixture(scope="module")
def scrubber():
    return Deidentifier(["Grace Hopper", "GitHub", "dependabot[bot]"], ["grace.h@home.example"])


@pytest.mark.parametrize(("text", "value", "placeholder", "kind"), CASES)
def test_each_kind_is_replaced_and_counted(scrubber, text, value, placeholder, kind):
    out, found = scrubber.scrub("settings.py", text)
    assert value not in out
    assert placeholder in out
    assert found[kind] >= 1


KEPT = [
    'LOCAL = "192.168.1.5"\n',
    'LOOPBACK = "127.0.0.1"\n',
    '__version__ = "1.2.3.4"\n',
    "std::vector<int> v;\n",
    "x = Dead::Beef::Cafe\n",
    "def add(a, b):\n    return a + b\n",
    "# GitHub Actions runs this\n",  # a tool in the history, not a person
]


@pytest.mark.parametrize("text", KEPT)
def test_what_is_not_personal_or_secret_stays(scrubber, text):
    out, found = scrubber.scrub("a.py", text)
    assert out == text
    assert sum(found.values()) == 0


def test_a_public_address_becomes_the_same_private_one_each_time(scrubber):
    first, _ = scrubber.scrub("a.py", 'A = "8.8.8.8"\nB = "8.8.8.8"\n')
    a, b = (line.split('"')[1] for line in first.splitlines())
    assert a == b
    assert a.startswith(("10.", "172.", "192.168."))
