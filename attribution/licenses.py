"""License detection for corpus files: SPDX headers, LICENSE files, package metadata.

Everything returns an SPDX expression, or "" when the license is unknown (the policy
decides what unknown means). Detection is deliberately conservative: a LICENSE text
is recognised by phrases that only its license uses.
"""

from __future__ import annotations

import re
from pathlib import Path

# The allowlist a fresh install uses (attribution.allowed_licenses): permissive
# licenses whose only condition is keeping the notice.
DEFAULT_ALLOWED_LICENSES: tuple[str, ...] = (
    "MIT",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Unlicense",
    "CC0-1.0",
    "0BSD",
    "Zlib",
    "PSF-2.0",
    "Python-2.0",
)

LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING", "COPYING.txt")
_SPDX_HEADER = re.compile(
    r"SPDX-License-Identifier:\s*([A-Za-z0-9.+\-() ]+?)\s*(?:\*/|-->|$)", re.M
)

# (SPDX id, phrases that must all appear, case-insensitive, whitespace-collapsed)
_TEXTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AGPL-3.0-only", ("gnu affero general public license", "version 3")),
    ("LGPL-3.0-only", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1-only", ("gnu lesser general public license", "version 2.1")),
    ("GPL-3.0-only", ("gnu general public license", "version 3")),
    ("GPL-2.0-only", ("gnu general public license", "version 2")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MIT", ("permission is hereby granted, free of charge", 'the software is provided "as is"')),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
)

_CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: BSD License": "BSD-3-Clause",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
}
_SHORT_NAMES = {
    "mit": "MIT",
    "mit license": "MIT",
    "apache 2.0": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "bsd": "BSD-3-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-2-clause": "BSD-2-Clause",
    "isc": "ISC",
    "mpl-2.0": "MPL-2.0",
    "psf": "PSF-2.0",
    "psf-2.0": "PSF-2.0",
    "gplv3": "GPL-3.0-only",
    "gpl-3.0": "GPL-3.0-only",
    "lgplv3": "LGPL-3.0-only",
}


def from_header(text: str) -> str:
    """The SPDX-License-Identifier in the first 4 KB of a file, if any."""
    m = _SPDX_HEADER.search(text[:4096])
    return m.group(1).strip() if m else ""


def from_text(text: str) -> str:
    """The license a LICENSE/COPYING text is, or ""."""
    flat = " ".join(text.lower().split())
    for spdx, phrases in _TEXTS:
        if all(p in flat for p in phrases):
            return spdx
    return ""


def from_directory(directory: Path) -> str:
    """The license of the LICENSE/COPYING file directly in ``directory``, or ""."""
    for name in LICENSE_FILES:
        path = directory / name
        if path.is_file():
            try:
                return from_text(path.read_text(encoding="utf-8", errors="replace")[:20000])
            except OSError:
                return ""
    return ""


def from_metadata(expression: str | None, license_field: str | None, classifiers: list[str]) -> str:
    """A Python distribution's license: License-Expression, else a short License field,
    else the License :: classifiers (joined with OR when several)."""
    if expression and expression.strip():
        return expression.strip()
    short = (license_field or "").strip()
    if short and "\n" not in short and len(short) < 40:
        known = _SHORT_NAMES.get(short.lower())
        if known:
            return known
        if _is_spdx(short):  # "GPL-3.0-or-later", "MIT OR Apache-2.0"
            return short
    found = [_CLASSIFIERS[c] for c in classifiers if c in _CLASSIFIERS]
    unique = list(dict.fromkeys(found))
    if unique:
        return " OR ".join(unique)
    return from_text(license_field or "")


def _is_spdx(expression: str) -> bool:
    """Whether ``expression`` is a valid SPDX license expression of known ids."""
    from license_expression import ExpressionError, get_spdx_licensing

    try:
        info = get_spdx_licensing().validate(expression)
    except ExpressionError:
        return False
    return not info.errors and not info.invalid_symbols
