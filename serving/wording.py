"""Readable English for actions that carry no display phrase in the spec.

A spec may name how an action reads (`label: "uploaded a file"`, `absent_reason: "Has
not uploaded a file yet"`). Without them the words come from the action's name: a known
verb is put in the past ("upload_file" -> "uploaded a file"), anything else is quoted
('used "thumbs up"'), so a generated sentence is always grammatical, never code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pql.features.definitions import window_phrase

#: verb -> (past tense, past participle); regular verbs are built by `_regular`.
IRREGULAR = {
    "build": ("built", "built"),
    "buy": ("bought", "bought"),
    "do": ("did", "done"),
    "find": ("found", "found"),
    "get": ("got", "got"),
    "give": ("gave", "given"),
    "hit": ("hit", "hit"),
    "make": ("made", "made"),
    "pay": ("paid", "paid"),
    "put": ("put", "put"),
    "read": ("read", "read"),
    "run": ("ran", "run"),
    "see": ("saw", "seen"),
    "send": ("sent", "sent"),
    "set": ("set", "set"),
    "share": ("shared", "shared"),
    "take": ("took", "taken"),
    "write": ("wrote", "written"),
}
REGULAR = frozenset(
    [
        "accept",
        "activate",
        "add",
        "approve",
        "archive",
        "assign",
        "book",
        "browse",
        "click",
        "close",
        "comment",
        "complete",
        "configure",
        "connect",
        "copy",
        "create",
        "customize",
        "delete",
        "deploy",
        "download",
        "duplicate",
        "edit",
        "enable",
        "export",
        "follow",
        "import",
        "install",
        "integrate",
        "invite",
        "join",
        "launch",
        "like",
        "load",
        "log",
        "open",
        "order",
        "play",
        "post",
        "preview",
        "publish",
        "purchase",
        "query",
        "rate",
        "register",
        "remove",
        "rename",
        "reply",
        "request",
        "save",
        "schedule",
        "search",
        "sign",
        "start",
        "submit",
        "subscribe",
        "sync",
        "tag",
        "track",
        "try",
        "update",
        "upgrade",
        "upload",
        "use",
        "verify",
        "view",
        "visit",
        "watch",
    ]
)
#: nouns that take "a"/"an" in the singular ("uploaded a file"); others go bare
#: ("viewed pricing", "connected integrations").
COUNTABLE = frozenset(
    [
        "account",
        "app",
        "board",
        "campaign",
        "card",
        "channel",
        "chart",
        "comment",
        "contact",
        "dashboard",
        "deal",
        "document",
        "doc",
        "domain",
        "file",
        "folder",
        "form",
        "friend",
        "image",
        "integration",
        "invoice",
        "item",
        "key",
        "lead",
        "limit",
        "link",
        "meeting",
        "member",
        "message",
        "model",
        "note",
        "notebook",
        "order",
        "page",
        "photo",
        "playlist",
        "project",
        "query",
        "report",
        "repo",
        "repository",
        "seat",
        "site",
        "song",
        "survey",
        "table",
        "task",
        "teammate",
        "template",
        "ticket",
        "token",
        "user",
        "video",
        "webhook",
        "workspace",
    ]
)


def _regular(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    if verb in {"log", "plan", "tag", "stop", "ship"}:
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _object(words: list[str]) -> str:
    phrase = " ".join(words)
    if words and words[-1] in COUNTABLE:
        # "an update", "an integration" but "a usage limit", "a user": by sound
        vowel = phrase[0] in "aeio" or phrase.startswith(("up", "un", "um"))
        article = "an" if vowel else "a"
        return f"{article} {phrase}"
    return phrase


@dataclass(frozen=True)
class ActionWords:
    """How one action reads: "uploaded a file" (done) and "uploaded a file" (participle)."""

    past: str  # "uploaded a file", 'used "thumbs up"'
    participle: str  # "uploaded a file", 'used "thumbs up"'
    verb: str | None = None  # "uploaded": the past tense alone, when the words have one

    def times(self, count: float) -> str:
        """ "Uploaded a file 3 times" / "Uploaded a file once"."""
        n = round(count)
        return capitalize(f"{self.past} {'once' if n == 1 else f'{n:,} times'}")

    def on_days(self, days: float) -> str:
        """ "Created a project on 3 different days" (active days: calendar days with it)."""
        n = round(days)
        return capitalize(f"{self.past} on {'1 day' if n == 1 else f'{n:,} different days'}")

    def times_this_week(self, count: float) -> str:
        return self.times_in(count, 7)

    def not_this_week(self) -> str:
        return self.not_in(7)

    def times_in(self, count: float, days: int) -> str:
        """ "Viewed pricing 3 times in the last 28 days" (the last `days` x 24 hours)."""
        n = round(count)
        return capitalize(
            f"{self.past} {'once' if n == 1 else f'{n:,} times'} {window_phrase(days)}"
        )

    def not_in(self, days: int) -> str:
        return f"Has not {self.participle} {window_phrase(days)}"

    def distinct(self, count: float, prop: str) -> str:
        """ "Viewed 12 distinct items" when the property names what the action acts on
        (view_item, item_id), else 'Viewed dashboards (4 distinct projects)'."""
        n = round(count)
        noun = property_noun(prop)
        things = f"{n:,} distinct {noun if n == 1 else plural(noun)}"
        if self.verb and re.search(rf"\b({re.escape(noun)}|{re.escape(plural(noun))})$", self.past):
            return capitalize(f"{self.verb} {things}")
        return capitalize(f"{self.past} ({things})")

    def not_yet(self) -> str:
        return f"Has not {self.participle} yet"


def action_words(name: str, label: str | None = None) -> ActionWords:
    """Words for an action from its spec label (past tense) or its name."""
    if label:
        text = label.strip()
        verb, _, rest = text.partition(" ")
        participle = next((p for v, (past, p) in IRREGULAR.items() if past == verb.lower()), verb)
        return ActionWords(
            past=text, participle=f"{participle} {rest}".strip(), verb=_past_verb(verb)
        )
    words = [w for w in name.lower().replace("-", "_").split("_") if w]
    verb = words[0] if words else name
    if verb in IRREGULAR:
        past, participle = IRREGULAR[verb]
    elif verb in REGULAR:
        past = participle = _regular(verb)
    else:
        quoted = f'used "{" ".join(words) or name}"'
        return ActionWords(past=quoted, participle=quoted)
    rest = _object(words[1:])
    return ActionWords(
        past=f"{past} {rest}".strip(), participle=f"{participle} {rest}".strip(), verb=past
    )


def _past_verb(word: str) -> str | None:
    """A label's first word when it reads as a past tense verb ("uploaded", "sent")."""
    lower = word.lower()
    pasts = {past for past, _ in IRREGULAR.values()} | {_regular(v) for v in REGULAR}
    return word if lower in pasts or re.fullmatch(r"[a-z]+ed", lower) else None


def property_noun(prop: str) -> str:
    """What a property's values are, in words: item_id -> "item", documentId ->
    "document", $collaborator -> "collaborator"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", prop)
    words = [w for w in re.split(r"[^0-9A-Za-z]+", spaced.lower()) if w]
    if len(words) > 1 and words[-1] in ("id", "ids", "key", "uuid", "name"):
        words = words[:-1]
    return " ".join(words) or "value"


def plural(noun: str) -> str:
    """English plural of the last word, for the common cases ("items", "classes")."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
