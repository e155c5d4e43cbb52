"""Text messages to applicants through a provider interface. The platform ships two backends for the demo and
for development: `console` writes each message to the log and `file` appends it as a JSON line to
VAR_DIR/sms/outbox.jsonl. A real provider (a carrier's SMS gateway) is a class with the same `send`, named by
its dotted path in ZHENGTONG_SMS_BACKEND."""

from __future__ import annotations

import json
from pathlib import Path

import structlog
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from zhengtong.core.masking import mask_phone

log = structlog.get_logger("zhengtong.services.sms")

# One SMS holds 70 Chinese characters; longer texts are split by the carrier and cost more. The provider adds
# the platform's registered signature (短信签名) itself, so the text carries none.
MAX_CHARS = 70


class SmsFailed(Exception):
    """The provider did not take the message."""


class SmsBackend:
    """A provider: `send` returns once the provider has taken the message, or raises SmsFailed."""

    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


class ConsoleBackend(SmsBackend):
    """Logs the message (phone masked, as everything in the log); nothing is delivered."""

    def send(self, phone: str, text: str) -> None:
        log.info("sms", phone=mask_phone(phone), text=text)


class FileBackend(SmsBackend):
    """Appends {"sent_at", "phone", "text"} to VAR_DIR/sms/outbox.jsonl: the demo's phone."""

    def path(self) -> Path:
        return Path(settings.VAR_DIR) / "sms" / "outbox.jsonl"

    def send(self, phone: str, text: str) -> None:
        line = json.dumps({"sent_at": timezone.now().isoformat(), "phone": phone, "text": text},
                          ensure_ascii=False)
        try:
            path = self.path()
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as outbox:
                outbox.write(line + "\n")
        except OSError as error:
            raise SmsFailed(str(error)) from error


BACKENDS: dict[str, type[SmsBackend]] = {"console": ConsoleBackend, "file": FileBackend}


def backend(name: str = "") -> SmsBackend:
    """The provider `name`, by default the configured one (settings.SMS_BACKEND: "console", "file" or a
    class's dotted path)."""
    name = name or getattr(settings, "SMS_BACKEND", "") or "console"
    chosen = BACKENDS.get(name) or import_string(name)
    return chosen()


def shorten(text: str, link: str = "") -> str:
    """`text` cut so that it and the link fit in one message (the link is never cut: it is what to follow)."""
    room = MAX_CHARS - (len(link) + 1 if link else 0)
    if len(text) > room:
        text = text[: max(room - 1, 0)] + "…"
    return f"{text} {link}" if link else text
