"""De-identification: secrets and personal data replaced by placeholders.

What is found, in this order, each pass on the text the previous one left:
1. private-key blocks (``-----BEGIN ... PRIVATE KEY-----`` to its END line) -> <KEY>
2. credentials in URLs (``scheme://user:password@host``) -> <NAME>:<PASSWORD>
3. secrets found by detect-secrets (offline: no plugin ever verifies a secret over
   the network) with bigcode's plugin set plus the newer token formats -> <KEY>,
   or <PASSWORD> for a value assigned to a secret-sounding name
4. e-mail addresses, and the authors' addresses from the git history -> <EMAIL>
5. public IP addresses -> a private address (the same one for the same address)
6. the author and committer names of the git history -> <NAME>

Only counts leave this module (by kind, per file): never a value that was removed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable

from detect_secrets.plugins.base import BasePlugin
from detect_secrets.settings import get_settings

KEY, PASSWORD, EMAIL, NAME, IP = "key", "password", "email", "name", "ip_address"
KINDS = (KEY, PASSWORD, EMAIL, NAME, IP)
PLACEHOLDER = {KEY: "<KEY>", PASSWORD: "<PASSWORD>", EMAIL: "<EMAIL>", NAME: "<NAME>"}
PRIVATE_ADDRESSES = ("10.0.0.1", "10.1.1.1", "172.16.0.1", "172.31.255.254", "192.168.0.1",
                     "192.168.1.100")
PRIVATE_V6 = "fd00::1"
#: Names in git histories that are tools, not people (never replaced in code).
NOT_PEOPLE = frozenset({
    "github", "gitlab", "root", "admin", "administrator", "user", "unknown", "web-flow",
    "travis ci", "github actions", "dependabot", "renovate", "noreply", "none", "bot",
})
_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?"
    r"(-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
    re.DOTALL,
)
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s:/@'\"<>]+):(?P<pw>[^\s@/'\"<>]+)@"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){3,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_BEFORE = re.compile(r"(version|\bver)\w*\W*$", re.IGNORECASE)


def _detectors() -> list[BasePlugin]:
    from detect_secrets.plugins import (
        artifactory,
        aws,
        azure_storage_key,
        basic_auth,
        cloudant,
        discord,
        github_token,
        gitlab_token,
        high_entropy_strings,
        ibm_cloud_iam,
        ibm_cos_hmac,
        jwt,
        keyword,
        mailchimp,
        npm,
        openai,
        private_key,
        pypi_token,
        sendgrid,
        slack,
        softlayer,
        square_oauth,
        stripe,
        telegram_token,
        twilio,
    )

    # Verification would call the services' APIs: never (air-gapped, and code stays).
    get_settings().disable_filters(
        "detect_secrets.filters.common.is_ignored_due_to_verification_policies"
    )
    return [
        artifactory.ArtifactoryDetector(), aws.AWSKeyDetector(),
        azure_storage_key.AzureStorageKeyDetector(), basic_auth.BasicAuthDetector(),
        cloudant.CloudantDetector(), discord.DiscordBotTokenDetector(),
        github_token.GitHubTokenDetector(), gitlab_token.GitLabTokenDetector(),
        high_entropy_strings.Base64HighEntropyString(limit=4.5),
        high_entropy_strings.HexHighEntropyString(limit=3.0),
        ibm_cloud_iam.IbmCloudIamDetector(), ibm_cos_hmac.IbmCosHmacDetector(),
        jwt.JwtTokenDetector(), keyword.KeywordDetector(), mailchimp.MailchimpDetector(),
        npm.NpmDetector(), openai.OpenAIDetector(), private_key.PrivateKeyDetector(),
        pypi_token.PypiTokenDetector(), sendgrid.SendGridDetector(), slack.SlackDetector(),
        softlayer.SoftlayerDetector(), square_oauth.SquareOAuthDetector(),
        stripe.StripeDetector(), telegram_token.TelegramBotTokenDetector(),
        twilio.TwilioKeyDetector(),
    ]


class Deidentifier:
    """Scrubs texts of one dataset; knows the people of its sources' git histories."""

    def __init__(self, authors: Iterable[str] = (), emails: Iterable[str] = ()) -> None:
        self._detectors = _detectors()
        people = sorted(
            {a for a in authors if len(a) >= 3 and a.lower() not in NOT_PEOPLE
             and "[bot]" not in a}, key=lambda a: (-len(a), a),
        )
        self._names = (
            re.compile("|".join(rf"(?<!\w){re.escape(a)}(?!\w)" for a in people))
            if people else None
        )
        addresses = sorted({e for e in emails if "@" in e}, key=lambda e: (-len(e), e))
        self._emails = re.compile("|".join(map(re.escape, addresses))) if addresses else None

    def scrub(self, path: str, text: str) -> tuple[str, Counter[str]]:
        """The text with everything found replaced, and the counts by kind."""
        found: Counter[str] = Counter()
        text = _sub(_PRIVATE_KEY, lambda m: PLACEHOLDER[KEY], text, found, KEY)
        text = _sub(_URL_CREDENTIALS, _url_credentials, text, found, PASSWORD)
        text = self._secrets(path, text, found)
        if self._emails:
            text = _sub(self._emails, lambda m: PLACEHOLDER[EMAIL], text, found, EMAIL)
        text = _sub(_EMAIL, lambda m: PLACEHOLDER[EMAIL], text, found, EMAIL)
        text = _sub_ips(text, found)
        if self._names:
            text = _sub(self._names, lambda m: PLACEHOLDER[NAME], text, found, NAME)
        return text, found

    def _secrets(self, path: str, text: str, found: Counter[str]) -> str:
        lines = text.splitlines(keepends=True)
        for n, line in enumerate(lines):
            if len(line.strip()) < 8:
                continue
            for detector in self._detectors:
                for secret in detector.analyze_line(filename=path, line=line, line_number=n):
                    value = secret.secret_value or ""
                    if len(value) < 4 or value not in line or _is_placeholder(value):
                        continue
                    kind = PASSWORD if detector.secret_type == "Secret Keyword" else KEY
                    found[kind] += line.count(value)
                    line = line.replace(value, PLACEHOLDER[kind])
            lines[n] = line
        return "".join(lines)


def _is_placeholder(value: str) -> bool:
    return any(p in value for p in PLACEHOLDER.values())


def _sub(pattern: re.Pattern[str], repl, text: str, found: Counter[str], kind: str) -> str:
    text, n = pattern.subn(repl, text)
    found[kind] += n
    return text


def _url_credentials(m: re.Match[str]) -> str:
    return f"{m['scheme']}{PLACEHOLDER[NAME]}:{PLACEHOLDER[PASSWORD]}@"


def _sub_ips(text: str, found: Counter[str]) -> str:
    def replace(m: re.Match[str]) -> str:
        value = m.group(0)
        if "." in value and _VERSION_BEFORE.search(text[max(0, m.start() - 24) : m.start()]):
            return value  # a four-part version number, not an address
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return value
        if not address.is_global or (address.version == 6 and not re.search(r"\d", value)):
            return value
        found[IP] += 1
        if address.version == 6:
            return PRIVATE_V6
        digest = hashlib.sha256(value.encode()).digest()
        return PRIVATE_ADDRESSES[digest[0] % len(PRIVATE_ADDRESSES)]

    return _IPV6.sub(replace, _IPV4.sub(replace, text))
